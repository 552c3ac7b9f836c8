"""Files of Debian packages that carry data (Fashion-MNIST, the Austen novels), found or installed on request.

`debian_file(package, path)` returns the file `path` of `package`: the system's copy when the package is installed
(`apt-get install <package>`), else a copy unpacked without root into `<data dir>/debian/<package>/` by
`apt-get download` and `dpkg-deb -x`. Only `zoo data prepare` calls `fetch`; tasks call `debian_file(...,
fetch=False)` and, when the file is absent, raise a `DataError` that says which command installs it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from zoo.tasks.base import DataError, default_data_dir

from zoo.atomic import atomic_directory


def unpacked_root(package: str, data_dir: Path | None = None) -> Path:
    """The folder `apt-get download` + `dpkg-deb -x` unpack `package` into."""
    return (data_dir or default_data_dir()) / "debian" / package


def package_path(package: str, path: str, data_dir: Path | None = None) -> Path:
    """Where `path` (absolute, as `package` installs it) is read from: the system's copy when it exists, else its place
    in the copy `unpack` makes under the data dir (which may not exist yet)."""
    system = Path(path)
    return system if system.exists() else unpacked_root(package, data_dir) / system.relative_to("/")


def debian_file(package: str, path: str, *, fetch: bool, data_dir: Path | None = None, prepare: str = "") -> Path:
    """The file `path` (absolute, as the package installs it) of Debian `package`.

    Looks in the system and then in `unpacked_root(package)`; when neither has it, `fetch=True` unpacks the package
    there, `fetch=False` raises `DataError` naming `zoo data prepare <prepare>`.
    """
    system = Path(path)
    local = unpacked_root(package, data_dir) / system.relative_to("/")
    for candidate in (system, local):
        if candidate.is_file():
            return candidate
    if not fetch:
        raise DataError(f"{path} (Debian package {package}) is not on this machine; run `zoo data prepare {prepare}` "
                        f"to unpack it into {unpacked_root(package, data_dir)} (or `apt-get install {package}`)")
    unpack(package, unpacked_root(package, data_dir))
    if not local.is_file():
        raise DataError(f"Debian package {package} was unpacked into {unpacked_root(package, data_dir)} but holds no "
                        f"{path}; its layout differs from the one this version of seqzoo reads")
    return local


def _run(command: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)


def unpack(package: str, target: Path) -> None:
    """Download the `.deb` of `package` with `apt-get download` (no root needed) and unpack it into `target`
    atomically. When apt's package lists are empty, root runs `apt-get update` once; others are told to."""
    missing = [tool for tool in ("apt-get", "dpkg-deb") if shutil.which(tool) is None]
    if missing:
        raise DataError(f"unpacking the Debian package {package} needs {' and '.join(missing)}, which this system "
                        f"lacks; on another system, download {package}'s .deb from a Debian mirror and unpack it "
                        f"with `dpkg-deb -x <file>.deb {target}`")
    with tempfile.TemporaryDirectory(prefix=f"seqzoo-{package}-") as folder:
        work = Path(folder)
        result = _run(["apt-get", "download", package], work)
        if result.returncode != 0 and hasattr(os, "geteuid") and os.geteuid() == 0:
            _run(["apt-get", "update"], work)
            result = _run(["apt-get", "download", package], work)
        if result.returncode != 0:
            raise DataError(f"`apt-get download {package}` failed: {result.stderr.strip().splitlines()[-1:]}; "
                            "run `sudo apt-get update` (apt's package lists may be empty) and try again")
        (deb,) = work.glob(f"{package}_*.deb")
        with atomic_directory(target) as unpacked:
            result = _run(["dpkg-deb", "-x", str(deb), str(unpacked)], work)
            if result.returncode != 0:
                raise DataError(f"`dpkg-deb -x {deb.name}` failed: {result.stderr.strip()}")
