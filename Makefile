# Two commands do all set-up: `make bench` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# The offline MNIST copy next to the checkout, when there is one; otherwise data.py's own default applies.
MNIST_DIR ?= $(wildcard $(abspath ../shared/datasets/mnist))
export MNIST_DIR
# 1 when `nvidia-smi -L` lists a GPU; GPU=0 or GPU=1 on the command line forces either.
GPU ?= $(shell nvidia-smi -L >/dev/null 2>&1 && echo 1 || echo 0)
PROFILE ?= $(if $(filter 1,$(GPU)),full,quick)
# On a GPU the Keras family trains in a venv of its own (requirements-gpu.txt: TensorFlow's and JAX's CUDA 12
# wheels would overwrite torch's CUDA 13 cuDNN and NCCL in .venv; README, "GPU install"); PyTorch, the harness
# and the tests keep .venv, whose torch wheels bring CUDA 13 already.
KERAS_VENV := .venv-keras
ifeq ($(GPU),1)
GPU_VENV := $(KERAS_VENV)/.installed
GPU_ENV := GANBENCH_KERAS_PYTHON=$(abspath $(KERAS_VENV))/bin/python
endif

.PHONY: bench test venv clean

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(KERAS_VENV)/.installed: requirements-gpu.txt
	test -x $(KERAS_VENV)/bin/python || $(PYTHON) -m venv $(KERAS_VENV)
	$(KERAS_VENV)/bin/python -m pip install --quiet -r requirements-gpu.txt
	touch $@

venv: $(VENV)/.installed $(GPU_VENV)

# Apart from the committed reports (results/<profile>/, measured on the machine each names): a bench run measures
# this machine, and continues only its own folder (a kept speed phase must also match this machine and code).
BENCH_OUT ?= results/local/$(PROFILE)

bench: venv
	$(GPU_ENV) $(PY) benchmark/run_all.py --profile $(PROFILE) --out $(BENCH_OUT) --resume

# Two pytest workers, one test file each at a time (module fixtures such as the parity workers are built once), the
# slowest files first (tests/conftest.py); every test process pins one thread, so two workers fill the two cores of CI.
test: venv
	$(GPU_ENV) $(PY) -m pytest -q -n 2 --dist loadfile --no-loadscope-reorder --durations=15 tests

clean:
	rm -rf $(VENV) $(KERAS_VENV) runs .pytest_cache
