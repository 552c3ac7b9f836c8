"""`make sweep`: run the randomized numeric tests (those that use the `seed` fixture) over many fresh seeds and
report, for every tolerance-checked comparison, the worst error / tolerance ratio and the seed that gave it.

- `ratio.py`: the ratio that `torch.testing.assert_close` compares to 1, measured rather than asserted.
- `plugin.py`: the pytest plugin that tests/conftest.py registers under `--sweep PATH`: it keeps only the tests that
  use `seed`, measures every `assert_close` and every `bound(...)` check (the conftest fixture for errors compared by
  hand) without letting a failing comparison stop the test, and writes the report at the end of the session.
- `report.py`: the worst ratio per test and per test file, as a rich table and as JSON.
"""
