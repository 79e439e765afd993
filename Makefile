# Two commands do all set-up: `make bench` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# The offline MNIST copy next to the checkout, when there is one; otherwise data.py's own default applies.
MNIST_DIR ?= $(wildcard $(abspath ../shared/datasets/mnist))
export MNIST_DIR
PROFILE ?= $(shell $(PYTHON) -c "import shutil;print('full' if shutil.which('nvidia-smi') else 'quick')")

.PHONY: bench test venv clean

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

venv: $(VENV)/.installed

bench: venv
	$(PY) benchmark/run_all.py --profile $(PROFILE) --out results/$(PROFILE) --resume

# Two pytest workers, one test file each at a time (module fixtures such as the parity workers are built once);
# every test process pins one thread (tests/conftest.py), so two workers fill the two cores of CI.
test: venv
	$(PY) -m pytest -q -n 2 --dist loadfile --durations=15 tests

clean:
	rm -rf $(VENV) runs .pytest_cache
