import pytest

# PyTorch and TensorFlow in one pytest process segfault when torch loads Triton (lazily, through
# torch._dynamo, on the first optimiser step) after TensorFlow was imported; importing torch._dynamo
# before anything imports TensorFlow avoids it (../shared/PARITY-NOTES.md §1, benchmark.parity audit).
try:
    import torch._dynamo  # noqa: F401
except ImportError:
    pass

from benchmark.data import DataError, load_mnist  # noqa: E402  (after the torch._dynamo import above)


@pytest.fixture(scope="module")
def mnist():
    try:
        return load_mnist("train"), load_mnist("test")
    except DataError as error:
        pytest.skip(f"MNIST unavailable: {error}")
