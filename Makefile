# The two commands a new user needs: `make demo` (the main job) and `make test`.
# Both set everything up first (system packages, .venv, torch, the package); see scripts/setup.sh.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup demo test bench gpu-check clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml scripts/setup.sh
	VENV=$(VENV) bash scripts/setup.sh
	touch $@

demo: setup
	$(PY) run.py experiments/smoke.yaml

test: setup
	$(PY) -m pytest -q

bench: setup
	$(PY) bench/train_step.py
	$(PY) bench/logmel.py

# The CUDA path for real, on a machine with a GPU (about 8 minutes); exits non-zero on any failure.
gpu-check: setup
	$(PY) bench/gpu_check.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
