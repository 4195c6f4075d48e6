"""One file of a published npm package, read from an unpacked folder or from ``npm pack``."""

from __future__ import annotations

import pathlib
import subprocess
import tarfile
import tempfile


def package_file(package: str, version: str, path: str, folder: pathlib.Path | None) -> bytes:
    """``path`` inside ``package@version``: from ``folder`` when given, else from npm."""
    if folder is not None:
        return (folder / path).read_bytes()
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["npm", "pack", f"{package}@{version}"], cwd=tmp, check=True)
        [tarball] = pathlib.Path(tmp).glob("*.tgz")
        with tarfile.open(tarball) as archive:
            member = archive.extractfile(f"package/{path}")
            assert member is not None
            return member.read()
