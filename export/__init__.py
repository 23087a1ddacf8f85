"""voxserve export: PyTorch models to ONNX files with their manifests."""
