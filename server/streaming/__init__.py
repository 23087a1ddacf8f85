"""Live recognition: voice activity detection, endpointing and the per-stream session."""
