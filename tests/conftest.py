"""Shared fixtures. `import zoo` first: it makes torchvision (and so lightning) importable on CPU torch.

Without a GPU, Triton kernels (ours and the upstream oracles in tests/peers) run only under the Triton
interpreter, which `@triton.jit` picks when TRITON_INTERPRET=1 is in the environment at the time a kernel
is defined. Collection imports every test module into each worker before any test runs, so it is set here,
before anything can import a kernel module; an explicit TRITON_INTERPRET in the environment wins.
"""

import math
import os

import torch  # importing torch does not import triton

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

import zoo  # noqa: E402,F401
import lightning.pytorch  # noqa: E402,F401  (now: its log handler keeps this stderr, not a test's captured one)
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _single_thread_per_worker(monkeypatch):
    """Tests run in parallel workers on 2 cores; one intra-op thread each avoids oversubscription."""
    torch.set_num_threads(1)


@pytest.fixture
def seed() -> int:
    """Reseed torch from a fresh random seed (or `SEQZOO_SEED`, to replay a failure) and return it;
    tests name it in every failure message."""
    value = int(os.environ.get("SEQZOO_SEED", torch.seed()))
    torch.manual_seed(value)
    return value


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """A failing test that used `seed` gets a report section naming it, whatever its message says."""
    report = yield
    seed = getattr(item, "funcargs", {}).get("seed")
    if report.failed and seed is not None:
        report.sections.append(("seed", f"seed={seed}; SEQZOO_SEED={seed} replays it"))
    return report


@pytest.fixture
def bound(seed, request):
    """bound(error, tolerance, what): for errors compared by hand, assert error <= tolerance, naming the seed.
    Under `--sweep` it records error / tolerance (tests/sweep) instead, failing or not."""
    sweep = request.config.pluginmanager.get_plugin("seqzoo-sweep")

    def check(error, tolerance, what: str) -> None:
        error, tolerance = float(error), float(tolerance)
        if sweep is not None:
            sweep.record(math.inf if math.isnan(error) else error / tolerance)
            return
        assert error <= tolerance, (
            f"{what}: {error:.3g} exceeds {tolerance:.3g} (seed={seed}; SEQZOO_SEED={seed} replays it)"
        )

    return check


def pytest_addoption(parser):
    parser.addoption(
        "--sweep", metavar="PATH", default=None,
        help="sweep mode (`make sweep`, tests/sweep): run only the tests that use `seed` and write the worst "
        "error / tolerance of their comparisons to PATH (JSON) and PATH with .txt (table); repeat with --count N",
    )


def pytest_configure(config):
    if config.getoption("--sweep"):
        from sweep.plugin import register

        register(config, config.getoption("--sweep"))


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    """A private data cache for generated task data."""
    path = tmp_path / "data"
    monkeypatch.setenv("SEQZOO_DATA", str(path))
    return path
