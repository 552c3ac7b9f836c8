"""The installed package: layout, console script, and the torchvision compat shim."""

import subprocess
import sys
import tomllib
from pathlib import Path

import zoo


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


def test_kernels_and_tasks_keep_their_dependency_direction(request):
    """kernels import nothing of ours; tasks import neither models nor kernels; no file imports the CLI."""
    root = request.config.rootpath
    for folder, forbidden in (("kernels", ("zoo.models", "zoo.tasks", "zoo.cli")), ("tasks", ("zoo.models", "zoo.kernels", "zoo.cli"))):
        for path in (root / folder).rglob("*.py"):
            text = path.read_text()
            for name in forbidden:
                assert f"import {name}" not in text and f"from {name}" not in text, f"{path} imports {name}"
    for path in [*root.glob("zoo/*.py"), *root.glob("models/*.py")]:
        if path.name != "cli.py":
            assert "zoo.cli" not in path.read_text(), f"{path} imports the CLI"


def test_torchvision_lightning_and_timm_import_after_zoo():
    code = "import zoo, torchvision, lightning, timm, torchmetrics; timm.create_model('resnet18'); print('ok')"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


def test_shim_does_nothing_when_torchvision_is_already_imported():
    import torchvision  # noqa: F401

    assert zoo.compat_torchvision.ensure_torchvision_importable() is False
