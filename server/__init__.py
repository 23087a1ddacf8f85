"""voxserve server: the gRPC edge, the model repository and the ONNX Runtime engines."""
