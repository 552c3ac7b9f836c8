"""The GPU check's wheel set: the coverage check finds what a set of wheels leaves out, without a network."""

import zipfile

from benchmarks.gpu import coverage
from benchmarks.gpu.wheel_set import NOT_CARRIED, device_packages, normal, pins


def make_wheel(folder, name, version, requires=(), modules=()):
    """A minimal wheel: METADATA with `requires`, and one file per top-level module."""
    path = folder / f"{name.replace('-', '_')}-{version}-py3-none-any.whl"
    meta = "\n".join([f"Name: {name}", f"Version: {version}", *(f"Requires-Dist: {r}" for r in requires)])
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{name.replace('-', '_')}-{version}.dist-info/METADATA", meta + "\n")
        for module in modules:
            archive.writestr(f"{module}/__init__.py", "")
    return path


def test_an_incomplete_wheel_set_is_reported_by_name(tmp_path):
    make_wheel(tmp_path, "omegaconf", "2.4.0", ["PyYAML>=5.1.0"], ["omegaconf"])
    make_wheel(tmp_path, "xlstm", "2.0.6", ["torch>=2.0", 'mlstm_kernels; python_version >= "3.11"',
                                            'dacite; python_version < "3.9"', 'sphinx; extra == "docs"'], ["xlstm"])
    make_wheel(tmp_path, "xlstm", "2.0.5", [], ["xlstm"])
    found = coverage.problems(tmp_path)
    assert "xlstm: 2 wheels (2.0.5, 2.0.6); keep one" in found
    # a requirement for 3.12 that nothing meets; those for other Pythons or extras, and preinstalled ones, pass
    assert any(p.startswith('xlstm requires mlstm_kernels; python_version >= "3.11"') for p in found)
    assert not any("dacite" in p or "sphinx" in p or "PyYAML" in p or "torch" in p for p in found)
    # the peers the sources import, and which no wheel here provides
    missing = {p.split()[1] for p in found if p.startswith("module ")}
    assert {"fla", "mamba_ssm", "mlstm_kernels"} <= missing
    assert not missing & {"torch", "triton", "omegaconf", "xlstm", "yaml", "causal_conv1d"}


def test_the_carried_set_is_pinned_and_what_is_left_behind_says_why():
    assert set(pins()) == {"omegaconf", "flash-linear-attention", "fla-core", "mlstm-kernels", "xlstm", "mamba-ssm"}
    assert {"torch", "triton", "lightning", "timm", "torchmetrics", "pyyaml", "rich"} <= device_packages()
    assert "omegaconf" not in device_packages()
    assert all(reason for reason in NOT_CARRIED.values()) and normal("causal_conv1d") in NOT_CARRIED
