# Two entry points: `make demo` (main job on the embedded default) and `make test` (lint, types, tests).
# Both create/refresh .venv themselves. Every pip install goes through constraints.txt so that pip keeps
# the local CPU torch wheel ($PIP_FIND_LINKS) instead of pulling the registry's CUDA build.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed
PIP_FLAGS := -q -c constraints.txt
ifneq ($(PIP_FIND_LINKS),)
PIP_FLAGS += --find-links $(PIP_FIND_LINKS)
endif

.PHONY: venv cuda demo test lint typecheck unit bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install $(PIP_FLAGS) -e ".[all,dev]"
	touch $(STAMP)

venv: $(STAMP)

# GPU machines: the same pinned torch/torchvision, but the registry's CUDA build (PyPI's Linux x86_64 wheels
# bundle CUDA) instead of the local CPU wheel: no find-links for this step. Check: `.venv/bin/python -c
# "import torch; print(torch.version.cuda, torch.cuda.is_available())"`.
cuda: $(STAMP)
	$(PIP) uninstall -q -y torch torchvision
	PIP_FIND_LINKS= $(PIP) install -q -c constraints.txt --no-cache-dir torch torchvision
	$(PY) -c "import torch; print('torch', torch.__version__, 'CUDA', torch.version.cuda, 'GPU', torch.cuda.is_available())"

demo: $(STAMP)
	$(VENV)/bin/worldclass demo --out demo-out

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

typecheck: $(STAMP)
	$(VENV)/bin/mypy src

unit: $(STAMP)
	$(PY) -m pytest -n 2 -q --durations=25

test: lint typecheck unit

bench: $(STAMP)
	$(PY) benchmarks/loading.py
	$(PY) benchmarks/encode.py
	$(PY) benchmarks/train_step.py
	$(PY) benchmarks/map_scene.py
	$(PY) benchmarks/polygonize.py
	$(PY) benchmarks/retrieval.py

clean:
	rm -rf $(VENV) demo-out .pytest_cache .mypy_cache .ruff_cache
