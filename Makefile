# Quick start: `make train` (set up, then train the default experiment) and `make test`.
VENV ?= .venv
EXPERIMENT ?= configs/experiments/mqar-hybrid.yaml
WORKERS ?= 2

.PHONY: setup train test gpu-wheels gpu-check
setup:
	./install.sh

train: setup
	$(VENV)/bin/zoo train $(EXPERIMENT) $(ARGS)

test: setup
	$(VENV)/bin/python -m pytest -n $(WORKERS) --timeout 900 tests $(ARGS)

# The GPU check (README.md, Development): gpu-wheels prepares .whl/ here; gpu-check runs on the GPU machine.
gpu-wheels: setup
	$(VENV)/bin/python -m benchmarks.gpu.wheels

gpu-check:
	bash benchmarks/gpu/check.sh
