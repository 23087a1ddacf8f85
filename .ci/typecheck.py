"""Runs mypy on the code as it is imported: voxserve.server, .client, .export, .v1, and bench.

setup.py maps the top-level folders onto the `voxserve` namespace, and the editable install does
it with an import hook that mypy cannot follow: run on the folders, every `voxserve.*` import would
be unresolved and every type crossing a module unchecked. This script lays out the same mapping
as symlinks inside mypy's own cache folder (.mypy_cache, git-ignored; a fixed place, because the
cache records the paths it checked), points MYPYPATH at it, checks the packages by name and writes
mypy's report with the repository's own paths. `make lint` and tests/test_lint.py run it; extra
arguments go to mypy.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LINKS = REPO / ".mypy_cache" / "voxserve-packages"
# Top-level packages checked beside voxserve's; they import voxserve.
OWN_PACKAGES = ["bench"]


def setup_folders() -> dict[str, str]:
    """setup.py's FOLDERS ({"voxserve.server": "server", ...}), read without running setup()."""
    for node in ast.parse((REPO / "setup.py").read_text()).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "FOLDERS" for target in node.targets
        ):
            folders = ast.literal_eval(node.value)
            assert isinstance(folders, dict), "setup.py's FOLDERS is not a dict literal"
            return {str(name): str(folder) for name, folder in folders.items()}
    raise SystemExit("setup.py defines no FOLDERS mapping")


def link_packages(root: Path, folders: dict[str, str]) -> dict[Path, str]:
    """Symlinks each package name's path under root to its folder; returns link -> folder.

    Each link is made under a name of its own and renamed over the old one, so two runs at once
    (make lint beside the test) never see a missing or half-made link.
    """
    links = {}
    for name, folder in folders.items():
        link = root.joinpath(*name.split("."))
        link.parent.mkdir(parents=True, exist_ok=True)
        fresh = link.with_name(f"{link.name}.{os.getpid()}")
        fresh.symlink_to(os.path.relpath(REPO / folder, link.parent), target_is_directory=True)
        os.replace(fresh, link)
        links[link] = folder
    return links


def main(mypy_args: list[str]) -> int:
    folders = setup_folders()
    packages = [*folders, *OWN_PACKAGES]
    links = link_packages(LINKS, folders)
    env = {**os.environ, "MYPYPATH": str(LINKS)}
    command = [sys.executable, "-m", "mypy", *(f"--package={p}" for p in packages), *mypy_args]
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    report = result.stdout
    for link, folder in links.items():
        report = report.replace(f"{link.relative_to(REPO)}{os.sep}", f"{folder}{os.sep}")
    sys.stdout.write(report)
    sys.stderr.write(result.stderr)
    return result.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
