"""gRPC servicers: translate voxserve.v1 messages to engine calls and back, nothing more."""
