# The two commands a new user needs: `make demo` (the main job) and `make test`.
# Both set everything up first (system packages, .venv, torch, the package); see scripts/setup.sh.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup demo test test-slow bench gpu-wheels gpu-check clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml scripts/setup.sh
	VENV=$(VENV) bash scripts/setup.sh
	touch $@

demo: setup
	$(PY) run.py experiments/upcycle.yaml

test: setup
	$(PY) -m pytest -q -m "not slow"

# Tests of a minute or more each (@pytest.mark.slow): among them a sweep over a two-node Ray
# cluster tracked by an MLflow server on PostgreSQL, and parity with the real tiny.en. CI runs both targets.
test-slow: setup
	$(PY) -m pytest -q -m slow

bench: setup
	$(PY) bench/train_step.py
	$(PY) bench/logmel.py

# The CUDA path for real, on a GPU node as it is (its python3 and torch, no network; about 5 minutes):
# gpu-wheels, on a machine with network, fetches what the check needs into gpu_bundle/ to copy along;
# gpu-check installs it into a scratch directory and runs the checks (results in $(GPU_CHECK_OUT)).
GPU_CHECK_OUT ?= gpu_check_out

gpu-wheels:
	bash scripts/gpu_wheels.sh

gpu-check:
	bash bench/gpu_check.sh $(GPU_CHECK_OUT)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
