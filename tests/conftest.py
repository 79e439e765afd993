import os

# One thread per process, set before any framework is imported and inherited by every child process the
# tests start (training runs, Keras workers): the tests run several processes at once on a 2-core machine,
# where PyTorch's spin-waiting OpenMP threads slow down 7-27x when another process holds a core
# (PARITY-NOTES §9). Nothing asserted depends on the thread count.
for _variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
    os.environ[_variable] = "1"
os.environ["XLA_FLAGS"] = " ".join(filter(None, [os.environ.get("XLA_FLAGS"), "--xla_cpu_multi_thread_eigen=false"]))

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


# The longest test files first (measured from a clean clone, idle 2-core AMD EPYC, 2026-11-30: the parity fixture's
# Keras workers 234 s, the smoke suite 132 s, the interrupted suites 111 s, the Ray suites 150 s). ``make test``
# hands each file to one of two pytest workers as a unit (``--dist loadfile``) in collection order
# (``--no-loadscope-reorder``; xdist's own order, by number of tests, put the one-test smoke suite last, where it
# ran alone on one core).
LONGEST_FIRST = ("test_parity.py", "test_suite_smoke.py", "test_executors.py", "test_suite_interrupted.py",
                 "test_reliability.py", "test_pytorch_impl.py", "test_keras_impl.py", "test_modes.py",
                 "test_exports.py", "test_keras_conditional.py", "test_toy.py")


def pytest_configure(config):
    for line in KNOWN_WARNINGS:
        config.addinivalue_line("filterwarnings", line)


def pytest_collection_modifyitems(items):
    rank = {name: position for position, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # a stable sort: each file's own order stays


@pytest.fixture(scope="module")
def mnist():
    try:
        return load_mnist("train"), load_mnist("test")
    except DataError as error:
        pytest.skip(f"MNIST unavailable: {error}")
