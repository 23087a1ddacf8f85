"""The gRPC edge: servicers that translate voxserve.v1 messages to engine calls and back, and the
edge's interceptors and helpers (status mapping, API keys, TLS, request logs)."""
