"""Seed every RNG PyTorch uses and, on request, switch on deterministic kernels."""
from __future__ import annotations

import os
import random

import numpy as np
import torch


def seed_everything(seed: int, deterministic: bool = False) -> str:
    """Seed Python, numpy and torch (all devices); return the determinism level now in force. The initial
    weights are not drawn by torch: both frameworks load the same numpy draw (``benchmark.initial_weights``).

    ``"seeded"``: same initial weights; cuDNN autotunes its convolution algorithms (``cudnn.benchmark``, the
    fast choice for fixed shapes), so kernels may reorder floating-point sums on a GPU.
    ``"deterministic"``: additionally deterministic kernels (cuDNN autotuning off), slower on GPU.
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    else:
        torch.backends.cudnn.benchmark = True
    return "deterministic" if deterministic else "seeded"


def set_tf32(allowed: bool) -> None:
    """State TF32 explicitly: PyTorch leaves it off for matmul but on for cuDNN convolutions by default."""
    torch.backends.cuda.matmul.allow_tf32 = allowed
    torch.backends.cudnn.allow_tf32 = allowed
    torch.set_float32_matmul_precision("high" if allowed else "highest")
