# Entry points, each installing what it needs into a local venv (.venv):
#   make demo   trains the demo VAE on offline data, writes runs/demo/
#   make test   lint + the test suite
#   make test-torch   installs PyTorch (TORCH below) and runs the parity tests against it
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_ARGS ?=
# The CPU build where a wheel of it lies on disk (as on CI); elsewhere name the CPU index, e.g.
# TORCH='torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu' (PyPI's Linux
# torch is a CUDA build of several GB).
TORCH ?= torch==2.13.0

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,tfds]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/jaxgen train vae --workdir runs/demo $(DEMO_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/python -m pytest -n 2 -q

install-torch: $(STAMP)
	$(BIN)/pip install -q $(TORCH)

test-torch: install-torch
	$(BIN)/python -m pytest -q tests/metrics/test_metrics_inception_pytorch.py

.PHONY: install demo lint test install-torch test-torch
