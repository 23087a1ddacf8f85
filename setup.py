"""Maps the repository's top-level folders onto the `voxserve` namespace.

server/ -> voxserve.server, client/ -> voxserve.client, export/ -> voxserve.export and the
generated stubs in protos/voxserve/v1 -> voxserve.v1, so nothing generic (`server`, `client`)
lands in site-packages. Metadata lives in pyproject.toml.
"""

from setuptools import find_packages, setup

FOLDERS = {
    "voxserve.server": "server",
    "voxserve.client": "client",
    "voxserve.export": "export",
    "voxserve.v1": "protos/voxserve/v1",
}


def _packages() -> list[str]:
    packages = []
    for name, folder in FOLDERS.items():
        packages.append(name)
        packages.extend(f"{name}.{sub}" for sub in find_packages(folder))
    return packages


setup(packages=_packages(), package_dir=FOLDERS)
