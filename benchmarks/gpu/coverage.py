"""Whether a folder of wheels, with what the GPU machine has preinstalled, covers the GPU check.

    python -m benchmarks.gpu.coverage .whl

Each question is answered with the names it misses (and exit status 1 when there are any):
- one wheel per distribution (two versions of one stop the whole install there);
- every requirement of every carried wheel, for CPython 3.12 on x86-64 Linux with no extras, names a carried or a
  preinstalled distribution, or one that `wheel_set.NOT_CARRIED` gives a reason to go without;
- every third-party module that seqzoo, its benchmarks and the tests the check runs import (at any depth: imports
  inside functions count, and so do the module names given to the upstream loaders) comes from a carried wheel
  or a preinstalled distribution, or is NOT_CARRIED.
"""

from __future__ import annotations

import argparse
import ast
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

from packaging.requirements import Requirement

from benchmarks.gpu.wheel_set import NOT_CARRIED, ROOT, device_packages, normal

# Where the check's code lives: the library, the benchmarks and the tests it runs.
SOURCES = ("zoo", "models", "kernels", "tasks", "benchmarks", "tests/kernels", "tests/peers", "tests/conftest.py")
# The GPU machine's Python, for environment markers.
TARGET = {"python_version": "3.12", "python_full_version": "3.12.3", "sys_platform": "linux", "os_name": "posix",
          "platform_system": "Linux", "platform_machine": "x86_64", "implementation_name": "cpython",
          "platform_python_implementation": "CPython", "extra": ""}
# Calls that import the module their first argument names: benchmarks.upstream's loaders, tests/peers' oracle
# loader, importlib and pytest's.
LOADERS = {"load", "try_load", "require", "import_module", "importorskip"}
# Modules whose distribution is named otherwise (preinstalled ones the sources import).
DISTRIBUTION_OF = {"yaml": "pyyaml", "PIL": "pillow", "sklearn": "scikit-learn", "dateutil": "python-dateutil"}


def _metadata(wheel: Path) -> tuple[str, str, list[str], set[str]]:
    """(name, version, requirements, top-level modules) of a wheel."""
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        meta_path = next(n for n in names if n.count("/") == 1 and n.endswith(".dist-info/METADATA"))
        meta = Parser().parsestr(archive.read(meta_path).decode())
    tops = {n.split("/")[0] if "/" in n else n.split(".")[0] for n in names}  # a package folder, or a module file
    modules = {top for top in tops if not top.endswith((".dist-info", ".data"))}
    return meta["Name"], meta["Version"], meta.get_all("Requires-Dist") or [], modules


def _applies(requirement: Requirement) -> bool:
    return requirement.marker is None or requirement.marker.evaluate(TARGET)


def _called(call: ast.Call) -> str | None:
    return call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", None)


def _leading_text(node: ast.AST) -> str:
    """The text a string argument starts with: all of a literal, the literal head of an f-string."""
    if isinstance(node, ast.JoinedStr) and node.values:
        node = node.values[0]
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else ""


def _imported_modules() -> dict[str, set[str]]:
    """Third-party top-level module -> the source files that import it."""
    files = [p for s in SOURCES for p in ((ROOT / s).rglob("*.py") if (ROOT / s).is_dir() else [ROOT / s])]
    # ours: the packages, and the helper modules of the test folders (pytest puts those folders on sys.path)
    local = {"zoo", "benchmarks"} | {p.stem for p in files if p.parent.parent == ROOT / "tests"}
    found: dict[str, set[str]] = {}
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            elif isinstance(node, ast.Call) and _called(node) in LOADERS and node.args:
                names = [_leading_text(node.args[0])]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top and top not in sys.stdlib_module_names and top not in local:
                    found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


def problems(wheel_dir: Path) -> list[str]:
    """What the wheels in `wheel_dir` and the preinstalled packages leave uncovered (empty: all is covered)."""
    wheels = sorted(wheel_dir.glob("*.whl"))
    if not wheels:
        return [f"no wheels in {wheel_dir}: run `make gpu-wheels` first"]
    carried: dict[str, list[str]] = {}
    modules: set[str] = set()
    requirements: list[tuple[str, Requirement]] = []
    for wheel in wheels:
        name, version, requires, provides = _metadata(wheel)
        carried.setdefault(normal(name), []).append(version)
        modules |= provides
        requirements += [(name, Requirement(text)) for text in requires]
    found = [f"{name}: {len(versions)} wheels ({', '.join(versions)}); keep one"
             for name, versions in carried.items() if len(versions) > 1]
    met = set(carried) | device_packages() | set(NOT_CARRIED)
    found += [f"{owner} requires {req} (for CPython 3.12 on Linux): neither carried nor preinstalled"
              for owner, req in requirements if _applies(req) and normal(req.name) not in met]
    for module, users in sorted(_imported_modules().items()):
        distribution = normal(DISTRIBUTION_OF.get(module, module))
        if module not in modules and distribution not in met:
            found.append(f"module {module} (imported by {', '.join(sorted(users)[:3])}): no carried wheel or "
                         "preinstalled distribution provides it")
    return found


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu.coverage", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("wheel_dir", type=Path, nargs="?", default=ROOT / ".whl")
    found = problems(parser.parse_args(argv).wheel_dir)
    if found:
        raise SystemExit("the wheel set does not cover the GPU check:\n  " + "\n  ".join(found))
    print("the wheel set and the GPU machine's packages cover every requirement and import of the check")


if __name__ == "__main__":
    main()
