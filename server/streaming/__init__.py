"""Live recognition: voice activity detection, endpointing, the per-stream session and the live
pipeline that runs it (no gRPC here)."""
