# Hyperspace — the commands a newcomer can guess.
# `make run` and `make test` install everything they need first (a .venv in the repo root, system packages).

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: setup system-deps web graphs libp2p-venv run test test-fast bench lint format clean

setup: $(STAMP)

# System packages (Debian): only installed when missing; needs root or sudo.
system-deps:
	@./scripts/system-deps.sh

$(STAMP): pyproject.toml
	@$(MAKE) --no-print-directory system-deps
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,build]'  # build: torch (CPU) for the graph re-export test
	@touch $@

# The browser app: npm packages (Pyodide) and web/dist with our wheels and lock file.
web: setup node_modules/.package-lock.json
	$(PY) -m wasm_build

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund

run: web
	$(PY) -m pynode.cli demo

# py-libp2p, the gossip benchmark's comparison anchor, lives in its own venv (it pulls ~69 packages)
libp2p-venv: setup
	@$(PY) bench/libp2p_venv.py > /dev/null

test: web libp2p-venv
	$(PY) -m pytest -q $(PYTEST_ARGS)

# Everything but the slow real-network and browser tests.
test-fast: setup
	$(PY) -m pytest -q -m "not slow" $(PYTEST_ARGS)

# Re-export the training graphs from their PyTorch definitions (commit the .onnx files and manifest).
graphs: setup
	$(PY) -m wasm_build.export_graphs

bench: setup
	$(PY) -m pynode.cli bench gossip --json

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) .bench-venv-* .pytest_cache .ruff_cache .hypothesis data/demo
