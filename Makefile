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

# The CPU demo model from scratch (data -> VAE -> cache -> stages I-III -> shipped weights); see docs/synthetic.md.
DEMO := runs/demo
train-demo-model: setup
	$(VENV)/bin/gloria synthetic dataset --characters 64 --videos 1 --seconds 40 --clip-frames 33 --seed 0 --out $(DEMO)/data
	$(VENV)/bin/gloria train-vae --config configs/demo/vae.yaml --no-progress
	$(PY) -m gloria.synthetic.demo_model audio-encoder $(DEMO)/audio_encoder
	$(PY) -m gloria.synthetic.demo_model subset --src $(DEMO)/data --dst $(DEMO)/data_small --videos 32 --clips-per-video 6
	$(VENV)/bin/gloria cache --config configs/demo/stage1.yaml --no-progress
	$(VENV)/bin/gloria train --config configs/demo/stage1.yaml
	$(VENV)/bin/gloria train --config configs/demo/stage2.yaml
	$(VENV)/bin/gloria train --config configs/demo/stage3.yaml
	$(PY) -m gloria.synthetic.demo_model pack --run $(DEMO)/full/stage3 --vae $(DEMO)/vae/vae \
	  --audio $(DEMO)/audio_encoder --out src/gloria/synthetic/demo_weights
	$(PY) -m gloria.synthetic.demo_model measure

bench: setup
	$(PY) bench/transformer.py

clean-venv:
	rm -rf $(VENV)
