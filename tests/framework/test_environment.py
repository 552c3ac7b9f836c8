"""The installed package: layout, console script, and the torchvision compat shim."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib


def test_every_package_folder_is_listed_in_pyproject(request):
    root = request.config.rootpath
    pyproject = tomllib.loads((root / "pyproject.toml").read_text())
    listed = set(pyproject["tool"]["setuptools"]["packages"])
    mapping = pyproject["tool"]["setuptools"]["package-dir"]
    found = set()
    for package, folder in mapping.items():
        for init in (root / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(root / folder)
            found.add(".".join([package, *relative.parts]))
    assert found == listed, f"pyproject packages out of date: missing {found - listed}, extra {listed - found}"


def test_subpackages_map_to_top_level_folders(request):
    import zoo.kernels
    import zoo.models
    import zoo.tasks

    root = request.config.rootpath.resolve()
    assert Path(zoo.kernels.__file__).resolve().parent == root / "kernels"
    assert Path(zoo.models.__file__).resolve().parent == root / "models"
    assert Path(zoo.tasks.__file__).resolve().parent == root / "tasks"


IMPORT = re.compile(r"^\s*(?:from|import)\s+([\w.]+)", re.MULTILINE)


def _imports(path: Path) -> set[str]:
    return set(IMPORT.findall(path.read_text()))


@pytest.mark.parametrize(
    "folder, allowed, forbidden",
    [
        ("kernels", ("zoo.kernels",), ("zoo", "benchmarks")),  # kernels import nothing of ours
        ("models", ("zoo.models", "zoo.kernels"), ("zoo", "benchmarks")),  # models: kernels only, never tasks
        # tasks: neither models nor kernels; zoo.atomic (atomic writes, standard library only) is the one shared leaf
        ("tasks", ("zoo.tasks", "zoo.atomic"), ("zoo", "benchmarks")),
        ("zoo", ("zoo",), ("benchmarks",)),  # the library never imports the benchmarks
    ],
)
def test_dependencies_point_one_way(request, folder, allowed, forbidden):
    root = request.config.rootpath
    for path in (root / folder).rglob("*.py"):
        for name in _imports(path):
            if name.startswith(allowed) or not name.startswith(forbidden):
                continue
            pytest.fail(f"{path.relative_to(root)} imports {name}")


def test_no_file_imports_the_cli(request):
    root = request.config.rootpath
    for folder in ("zoo", "models", "kernels", "tasks"):
        for path in (root / folder).rglob("*.py"):
            if path.name != "cli.py":
                assert "zoo.cli" not in _imports(path), f"{path} imports the CLI"


def test_import_zoo_loads_and_patches_nothing():
    """`import zoo` imports neither torch nor lightning (so it patches nothing: patching needs torch): the names it
    offers load on first use, and the torchvision fix is the environment's (install.sh), not the library's."""
    code = ("import sys, zoo; assert 'torch' not in sys.modules and 'lightning' not in sys.modules, sorted(sys.modules);"
            " zoo.create_model; assert 'zoo.models' in sys.modules; print('ok')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


def test_torchvision_lightning_and_timm_import_in_the_environment():
    """The environment install.sh makes imports them without anything of ours being imported first."""
    code = "import torchvision, lightning, timm, torchmetrics; timm.create_model('resnet18'); print('ok')"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


def test_shim_does_nothing_when_torchvision_is_already_imported():
    import torchvision  # noqa: F401

    import zoo.compat_torchvision

    assert zoo.compat_torchvision.ensure_torchvision_importable() is False
