# The two commands a new user needs: `make demo` (the main job) and `make test`.
# Both set everything up first (system packages, .venv, torch, the package); see scripts/setup.sh.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup demo test test-slow bench gpu-check clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml scripts/setup.sh
	VENV=$(VENV) bash scripts/setup.sh
	touch $@

demo: setup
	$(PY) run.py experiments/smoke.yaml

test: setup
	$(PY) -m pytest -q -m "not slow"

# Tests of a minute or more each (@pytest.mark.slow): among them a sweep over a two-node Ray
# cluster tracked by an MLflow server on PostgreSQL, and parity with the real tiny.en. CI runs both targets.
test-slow: setup
	$(PY) -m pytest -q -m slow

bench: setup
	$(PY) bench/train_step.py
	$(PY) bench/logmel.py

# The CUDA path for real, on a machine with a GPU (about 8 minutes); exits non-zero on any failure.
gpu-check: setup
	$(PY) bench/gpu_check.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
