"""The shipped checkpoints travel in the wheel: built from this checkout and unpacked away from it, the package
loads a pretrained model by preset and by hub id, offline, from its own files."""

import os
import subprocess
import sys
import zipfile

import pytest

from zoo.pretrained import shipped_checkpoints

PROBE = """
import sys, zoo, zoo.pretrained
checkpoint = zoo.pretrained.shipped_checkpoints()[0]
model = zoo.create_model(checkpoint.preset, pretrained=checkpoint.tag)
same = zoo.from_pretrained(checkpoint.hub_id)
print(zoo.__file__, zoo.pretrained.checkpoints_root(), len(zoo.pretrained.shipped_checkpoints()), model.provenance.hub_id)
"""


@pytest.mark.slow
def test_an_installed_wheel_loads_pretrained_models_offline(request, tmp_path):
    root = request.config.rootpath
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", str(root), "--no-deps", "--no-build-isolation",
                            "-q", "-w", str(tmp_path / "dist")], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("seqzoo-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(tmp_path / "site")
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site"), "HF_HUB_OFFLINE": "1",
           "HF_HUB_CACHE": str(tmp_path / "empty-cache")}
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, cwd=tmp_path,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    module, checkpoints, count, hub_id = done.stdout.split()
    assert module.startswith(str(tmp_path / "site")) and checkpoints.startswith(str(tmp_path / "site"))
    assert int(count) == len(shipped_checkpoints()) and hub_id.startswith("seqzoo/")
