import os

# One thread per process, set before any framework is imported and inherited by every child process the
# tests start (training runs, Keras workers): the tests run several processes at once on a 2-core machine,
# where PyTorch's spin-waiting OpenMP threads slow down 7-27x when another process holds a core
# (PARITY-NOTES §9). Nothing asserted depends on the thread count.
for _variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
    os.environ[_variable] = "1"
# XLA's CPU code generated without LLVM's optimisations: the tests' compiled Keras steps are small and run a few
# iterations, so compiling dominates (the parity workers: 195 -> 174 CPU seconds, 2-core AMD EPYC, 2026-12-01), and
# nothing asserted depends on the generated code's speed.
os.environ["XLA_FLAGS"] = " ".join(filter(None, [os.environ.get("XLA_FLAGS"), "--xla_cpu_multi_thread_eigen=false",
                                                 "--xla_backend_optimization_level=0"]))

import pytest  # noqa: E402

# PyTorch and TensorFlow in one pytest process segfault when torch loads Triton (lazily, through
# torch._dynamo, on the first optimiser step) after TensorFlow was imported; importing torch._dynamo
# before anything imports TensorFlow avoids it (../shared/PARITY-NOTES.md §1, benchmark.parity audit).
try:
    import torch._dynamo  # noqa: F401
except ImportError:
    pass

from benchmark.data import DataError, load_mnist  # noqa: E402  (after the torch._dynamo import above)


# Known third-party deprecations, each silenced by its message and module (not a blanket filter): others still show.
KNOWN_WARNINGS = (
    r"ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning:keras",  # Keras 3.15 on numpy 2
)


# The files whose tests take longest, first (the Makefile turns off xdist's own order, most tests first): a worker is
# handed its next file while the current one has at most two tests left, so one-test suites queued last ended the run
# on one core (the interrupted and smoke suites: 170 of 592 s, 2-core AMD EPYC, 2026-12-01).
SLOWEST_FIRST = ("test_parity.py", "test_suite_smoke.py", "test_suite_interrupted.py", "test_executors.py",
                 "test_reliability.py", "test_modes.py", "test_other_datasets.py", "test_keras_impl.py")


def pytest_collection_modifyitems(items):
    rank = {name: index for index, name in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: each file's own order stays


def pytest_configure(config):
    for line in KNOWN_WARNINGS:
        config.addinivalue_line("filterwarnings", line)


@pytest.fixture(scope="module")
def mnist():
    try:
        return load_mnist("train"), load_mnist("test")
    except DataError as error:
        pytest.skip(f"MNIST unavailable: {error}")
