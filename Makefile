# Quick start: `make train` (set up, then train the default experiment) and `make test`.
VENV ?= .venv
EXPERIMENT ?= configs/experiments/mqar-hybrid.yaml
WORKERS ?= 2

.PHONY: setup train test
setup:
	./install.sh

train: setup
	$(VENV)/bin/zoo train $(EXPERIMENT) $(ARGS)

test: setup
	$(VENV)/bin/python -m pytest -n $(WORKERS) --timeout 900 tests $(ARGS)
