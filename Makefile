# Quick start: `make train` (set up, then train the default experiment) and `make test`.
VENV ?= .venv
EXPERIMENT ?= configs/experiments/mqar-hybrid.yaml
WORKERS ?= 2
SEEDS ?= 50
SWEEP ?= .sweep/sweep.json

.PHONY: setup train test sweep gpu-wheels gpu-check configs results
setup:
	./install.sh

train: setup
	$(VENV)/bin/zoo train $(EXPERIMENT) $(ARGS)

test: setup
	$(VENV)/bin/python -m pytest -n $(WORKERS) --timeout 900 tests $(ARGS)

# Tolerance sweep (tests/sweep), not part of `make test`: every test that uses the `seed` fixture, SEEDS times
# each with fresh seeds, at low priority; ARGS selects (ARGS=tests/peers, ARGS="-k based"). It writes the worst
# error / tolerance per test and per test file to $(SWEEP) (JSON) and beside it as .txt, and prints the table.
sweep: setup
	nice -n 10 $(VENV)/bin/python -m pytest -q -n $(WORKERS) --timeout 900 --count $(SEEDS) --sweep $(SWEEP) $(ARGS)

# The GPU check (README.md, Development): gpu-wheels prepares .whl/ here; gpu-check runs on the GPU machine.
gpu-wheels: setup
	$(VENV)/bin/python -m benchmarks.gpu.wheels

gpu-check:
	bash benchmarks/gpu/check.sh

# The generated experiment configs (configs/generate.py: every task x family, recipe and -cpu) and the results
# docs (docs/results.md, docs/results.json from benchmarks/results/tasks/; python -m benchmarks.task_runs adds runs).
configs: setup
	$(VENV)/bin/python configs/generate.py

results: setup
	$(VENV)/bin/python -m benchmarks.results_doc
