"""Optimisers from the spec. PyTorch's own Adam and RMSprop already place epsilon as the spec states
(outside the square root, after bias correction), so every hyper-parameter is simply passed through."""
from __future__ import annotations

from typing import Iterable

import torch

from benchmark.spec import Optimizer

OPTIMIZERS = {
    "adam": lambda params, o, fused: torch.optim.Adam(params, lr=o.lr, betas=(o.beta1, o.beta2), eps=o.eps,
                                                      weight_decay=o.weight_decay, fused=fused or None),
    "rmsprop": lambda params, o, fused: torch.optim.RMSprop(params, lr=o.lr, alpha=o.rho, eps=o.eps,
                                                            momentum=o.momentum, centered=o.centered,
                                                            weight_decay=o.weight_decay),
}


def build_optimizer(parameters: Iterable[torch.nn.Parameter], spec: Optimizer,
                    fused: bool = False) -> torch.optim.Optimizer:
    """``fused``: one fused CUDA kernel for Adam's update of all parameters (asked for on CUDA only; RMSprop has
    no fused implementation to ask for)."""
    return OPTIMIZERS[spec.name](parameters, spec, fused)
