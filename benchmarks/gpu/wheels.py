"""Prepare .whl/: the wheels benchmarks/gpu/check.sh installs on the GPU machine, which reaches no package index.

    make gpu-wheels        # = .venv/bin/python -m benchmarks.gpu.wheels

Downloads `wheel_set.DOWNLOADED` from PyPI as wheels for CPython 3.12 on x86-64 Linux, builds
`wheel_set.BUILT_WITHOUT_CUDA` here without its CUDA extension (a pure-Python wheel), all at the versions
constraints.txt pins; then checks with `benchmarks.gpu.coverage` that they and the machine's preinstalled packages
cover the check, and, where a Python 3.12 is at hand ($PYTHON312 or python3.12), that they install for it. The folder is replaced whole
(.gitignore keeps it out of git; the device call carries it).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.gpu.coverage import problems
from benchmarks.gpu.wheel_set import BUILT_WITHOUT_CUDA, DOWNLOADED, ROOT, normal, pins

PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64",
             "manylinux1_x86_64")


def _pip(*arguments: str, env: dict | None = None) -> None:
    subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", *arguments], check=True, env=env)


def download(into: Path) -> None:
    """The carried wheels, into the empty folder `into`."""
    pinned = pins()
    targets = [f"--platform={platform}" for platform in PLATFORMS]
    _pip("download", "--quiet", "--no-deps", "--only-binary=:all:", "--python-version=3.12", "--implementation=cp",
         *targets, f"--dest={into}", *(pinned[normal(name)] for name in DOWNLOADED))
    # No build isolation: the build imports the torch installed here; FORCE_BUILD stops its setup.py from looking
    # for a prebuilt CUDA wheel to download, SKIP_CUDA_BUILD leaves the extension out.
    env = {**os.environ, "MAMBA_FORCE_BUILD": "TRUE", "MAMBA_SKIP_CUDA_BUILD": "TRUE"}
    _pip("wheel", "--quiet", "--no-deps", "--no-build-isolation", f"--wheel-dir={into}",
         *(pinned[normal(name)] for name in BUILT_WITHOUT_CUDA), env=env)


def try_python312(folder: Path) -> str:
    """Install the wheels with a local Python 3.12 ($PYTHON312, else python3.12 on the PATH) as the check does
    there: no index, no dependencies (pip refuses a wheel whose tags or Requires-Python exclude 3.12)."""
    python = os.environ.get("PYTHON312") or shutil.which("python3.12")
    if python is None or subprocess.run([python, "-m", "pip", "--version"], capture_output=True).returncode:
        return "no Python 3.12 with pip here (set PYTHON312): the install for 3.12 was not tried"
    with tempfile.TemporaryDirectory() as target:
        subprocess.run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-index",
                        "--no-deps", "--no-compile", f"--target={target}", *map(str, sorted(folder.glob("*.whl")))],
                       check=True)
    return f"the wheels install for {python}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu.wheels", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, default=ROOT / ".whl", help="the folder to (re)make (default: .whl)")
    folder = parser.parse_args(argv).dir
    folder.parent.mkdir(parents=True, exist_ok=True)
    fresh = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.", suffix=".tmp"))
    try:
        download(fresh)
        found = problems(fresh)
        if found:
            raise SystemExit("the wheel set does not cover the GPU check:\n  " + "\n  ".join(found))
        note = try_python312(fresh)
    except BaseException:
        shutil.rmtree(fresh, ignore_errors=True)
        raise
    shutil.rmtree(folder, ignore_errors=True)
    fresh.rename(folder)
    wheels = sorted(folder.glob("*.whl"))
    size = sum(w.stat().st_size for w in wheels) / 2**20
    print("\n".join(w.name for w in wheels))
    print(f"{len(wheels)} wheels, {size:.1f} MiB in {folder}; they and the GPU machine's packages cover the check; "
          f"{note}")


if __name__ == "__main__":
    main()
