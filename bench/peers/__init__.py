"""Peer runners: scripts run by .bench-venv's Python, never imported by voxserve."""
