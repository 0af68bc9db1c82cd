# Two commands work on a fresh machine: `make demo` and `make test`.
# The venv lives at .venv. torch is installed (CPU build, 2.13.0) only when the interpreter that
# creates the venv has no torch; if it has one (e.g. your CUDA build), the venv sees it through
# --system-site-packages and nothing replaces it.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.gloria-installed

.PHONY: setup demo test bench train-demo-model clean-venv

setup: $(STAMP)

$(STAMP): pyproject.toml
	@if [ ! -x $(PY) ]; then \
	  if $(PYTHON) -c "import torch" 2>/dev/null; then \
	    echo "[setup] using the torch of $(PYTHON) ($$($(PYTHON) -c 'import torch;print(torch.__version__)'))"; \
	    $(PYTHON) -m venv --system-site-packages $(VENV); \
	  else \
	    $(PYTHON) -m venv $(VENV); \
	  fi; \
	fi
	@if ! $(PY) -c "import torch" 2>/dev/null; then \
	  echo "[setup] no torch found: installing the CPU build torch==2.13.0"; \
	  $(PY) -m pip install -q "torch==2.13.0"; \
	fi
	$(PY) -m pip install -q -e ".[dev,data]"
	@touch $(STAMP)

demo: setup
	$(VENV)/bin/gloria demo

test: setup
	$(PY) -m pytest -q

# The CPU demo model from scratch: data -> VAE -> cache -> stages I-III -> shipped weights + metrics + card,
# each step timed (docs/synthetic.md). Every step resumes, so an interrupted run continues.
train-demo-model: setup
	$(PY) -m gloria.synthetic.demo_model train-all --configs configs/demo --runs runs/demo

bench: setup
	$(PY) bench/transformer.py

clean-venv:
	rm -rf $(VENV)
