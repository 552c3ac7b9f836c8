"""The sweep's pytest plugin, registered by tests/conftest.py when pytest runs with `--sweep PATH`.

- Selection: only the tests that use the `seed` fixture (directly or through another fixture) run; pytest-repeat's
  `--count N` runs each N times, and each run draws a fresh seed.
- Measurement: during each test, `torch.testing.assert_close` is replaced by a version that measures the
  error / tolerance ratio (`ratio.worst_ratio`) of every comparison, passing or not, and `bound(...)` (the
  conftest fixture for errors compared by hand) reports error / tolerance here. A failing comparison is recorded
  (a ratio > 1; inf where assert_close fails on shape, dtype or device) and does not raise, so that the test goes
  on to its later comparisons and the sweep sees them all.
- Collection: each record (comparison site, ratio, seed) travels in the test's `user_properties`, which
  pytest-xdist sends from the workers to the controller; the controller (or the only process, without xdist)
  collects them from the teardown reports and writes the report (`report.py`) at the end of the session.
"""

from __future__ import annotations

import math
import re
import sys
from collections import defaultdict
from pathlib import Path

import pytest
import torch

from .ratio import worst_ratio
from .report import Record, render, write_json

NAME = "seqzoo-sweep"
PROPERTY = "sweep"
HERE = str(Path(__file__).parent)


class Sweep:
    """State of one process of a sweep: the running test (in the process that runs it) and the records
    collected from the reports (in the process that writes the report)."""

    def __init__(self, config: pytest.Config, path: Path):
        self.config = config
        self.path = path
        self.count = config.getoption("count", 1)
        self.item: pytest.Item | None = None
        self.records: list[Record] = []
        self.runs: dict[str, int] = defaultdict(int)
        self.failed: dict[str, int] = defaultdict(int)
        self.seconds: dict[str, float] = defaultdict(float)

    # -- selection -------------------------------------------------------------------------------------------

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        """Keep the tests that use `seed`; deselect the others."""
        keep = [item for item in items if "seed" in getattr(item, "fixturenames", ())]
        dropped = [item for item in items if "seed" not in getattr(item, "fixturenames", ())]
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            items[:] = keep

    # -- measurement (in the process that runs the test) ---------------------------------------------------

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem):
        """Measure every assert_close of `item` while it runs."""
        original = torch.testing.assert_close
        self.item = item

        def assert_close(actual, expected, *, rtol=None, atol=None, equal_nan=False, **options):
            ratio = worst_ratio(actual, expected, rtol, atol, equal_nan)
            try:
                original(actual, expected, rtol=rtol, atol=atol, equal_nan=equal_nan, **options)
            except AssertionError:
                ratio = ratio if ratio > 1 else math.inf  # failed on shape, dtype or device: no ratio to tell
            self.record(ratio)

        torch.testing.assert_close = assert_close
        try:
            return (yield)
        finally:
            torch.testing.assert_close = original
            self.item = None

    def record(self, ratio: float) -> None:
        """Record one comparison's error / tolerance for the running test, at its call site in the test file."""
        if self.item is None:
            return
        self.item.user_properties.append(
            (PROPERTY, {"site": self._site(), "ratio": ratio, "seed": self.item.funcargs.get("seed")})
        )

    def _site(self) -> str:
        """`file:line` of the call in the test's own file that led to this comparison (else the innermost caller
        outside this package and torch)."""
        frame, fallback = sys._getframe(2), None
        test_file = str(self.item.path)
        while frame is not None:
            filename = frame.f_code.co_filename
            if filename == test_file:
                return f"{Path(filename).name}:{frame.f_lineno}"
            if fallback is None and not filename.startswith(HERE) and "/torch/" not in filename:
                fallback = f"{Path(filename).name}:{frame.f_lineno}"
            frame = frame.f_back
        return fallback or "?"

    # -- collection (in the process that writes the report) ------------------------------------------------

    def test_name(self, nodeid: str) -> str:
        """The node id without pytest-repeat's `i-N` part."""
        if self.count <= 1:
            return nodeid
        return re.sub(rf"-?\b\d+-{self.count}\]$", "]", nodeid).replace("[]", "")

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        name = self.test_name(report.nodeid)
        self.seconds[name] += report.duration
        if report.failed:
            self.failed[name] += 1
        if report.when != "teardown":
            return
        self.runs[name] += 1
        for key, value in report.user_properties:
            if key == PROPERTY:
                self.records.append(Record(test=name, **value))

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if hasattr(self.config, "workerinput"):  # an xdist worker: the controller writes the report
            return
        write_json(self.path, self.records, self.runs, self.failed, self.seconds, self.count)
        if any(record.ratio > 1 for record in self.records) and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED  # a comparison failed, though the tests went on

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if hasattr(self.config, "workerinput"):
            return
        text = render(self.records, self.runs, self.failed, self.seconds, self.count)
        self.path.with_suffix(".txt").write_text(text)
        terminalreporter.write_sep("=", f"sweep over {self.count} seeds: {self.path}")
        terminalreporter.write(text)
        failing = sum(record.ratio > 1 for record in self.records)
        if failing:
            terminalreporter.write_line(f"{failing} comparisons failed (ratio > 1): the sweep exits with status 1",
                                        red=True)


def register(config: pytest.Config, path: str) -> None:
    """Register the sweep for this session, writing its JSON report to `path` (and the table beside it)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    config.pluginmanager.register(Sweep(config, target), NAME)


def recorder(config: pytest.Config) -> Sweep | None:
    """The registered sweep, or None when the session is not a sweep."""
    return config.pluginmanager.get_plugin(NAME)
