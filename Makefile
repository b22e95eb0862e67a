# Set-up and checks. `make demo` and `make test` work on a fresh clone (see README.md).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
TORCH_PIN := torch==2.13.0

.PHONY: demo test lint typecheck unit clean bench-replay

$(BIN)/python:
	$(PY) -m venv $(VENV)

# torch is installed first with an exact pin so no range can pull a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q $(TORCH_PIN)
	$(BIN)/pip install -q -e '.[torch]'
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q $(TORCH_PIN)
	$(BIN)/pip install -q -e '.[dev]'
	touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/itero run examples/digits.yaml
	$(BIN)/itero report digits-mlp-demo -o itero-report.html

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check itero tests benchmarks
	$(BIN)/ruff format --check itero tests benchmarks

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy

unit: $(VENV)/.installed-dev
	$(BIN)/pytest -q -p no:cacheprovider

test: lint typecheck unit

# The replay benchmark (benchmarks/replay/README.md): record the tables if they are missing (about 40 minutes on
# two cores), run every method on them, and write benchmarks/results/replay/replay.md.
bench-replay: $(VENV)/.installed-dev
	$(BIN)/pip install -q 'matplotlib>=3.7'
	$(BIN)/python benchmarks/replay/record.py --all --jobs 2
	$(BIN)/python benchmarks/replay/run.py --seeds 50 --workers 4
	$(BIN)/python benchmarks/replay/run.py --seeds 10 --workers 1
	$(BIN)/python benchmarks/replay/run.py --seeds 10 --workers 16
	$(BIN)/python benchmarks/replay/report.py

clean:
	rm -rf $(VENV) itero.db itero.db-* itero-artifacts itero-report.html
