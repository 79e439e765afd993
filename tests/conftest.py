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


def pytest_configure(config):
    for line in KNOWN_WARNINGS:
        config.addinivalue_line("filterwarnings", line)


@pytest.fixture(scope="module")
def mnist():
    try:
        return load_mnist("train"), load_mnist("test")
    except DataError as error:
        pytest.skip(f"MNIST unavailable: {error}")
