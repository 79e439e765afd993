# PyTorch and TensorFlow in one pytest process segfault when torch loads Triton (lazily, through
# torch._dynamo, on the first optimiser step) after TensorFlow was imported; importing torch._dynamo
# before anything imports TensorFlow avoids it (../shared/PARITY-NOTES.md §1, benchmark.parity audit).
try:
    import torch._dynamo  # noqa: F401
except ImportError:
    pass
