"""voxserve client: a Python library and the `voxserve` command line."""
