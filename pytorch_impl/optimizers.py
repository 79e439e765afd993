"""Optimisers from the spec. PyTorch's own Adam and RMSprop already place epsilon as the spec states
(outside the square root, after bias correction), so every hyper-parameter is simply passed through."""
from __future__ import annotations

from typing import Iterable

import torch

from benchmark.spec import Optimizer

# ``fused``: the fastest implementation PyTorch has for the optimiser. Adam: fused (one kernel updates every
# parameter, on CPU too). RMSprop has no fused implementation in torch 2.14, so foreach (one multi-tensor
# operation per update term). Otherwise PyTorch's default: a for-loop over the parameters on CPU, foreach on CUDA.
OPTIMIZERS = {
    "adam": lambda params, o, fused: torch.optim.Adam(params, lr=o.lr, betas=(o.beta1, o.beta2), eps=o.eps,
                                                      weight_decay=o.weight_decay, fused=fused or None),
    "rmsprop": lambda params, o, fused: torch.optim.RMSprop(params, lr=o.lr, alpha=o.rho, eps=o.eps,
                                                            momentum=o.momentum, centered=o.centered,
                                                            weight_decay=o.weight_decay, foreach=fused or None),
}
FLAGS = ("fused", "foreach")  # the param-group keys that choose the implementation


def build_optimizer(parameters: Iterable[torch.nn.Parameter], spec: Optimizer,
                    fused: bool = False) -> torch.optim.Optimizer:
    """``fused``: the optimiser's fused implementation, or foreach where it has none (``OPTIMIZERS``)."""
    return OPTIMIZERS[spec.name](parameters, spec, fused)


def apply_schedule(optimizer: torch.optim.Optimizer, spec: Optimizer) -> None:
    """Before an update: set the learning rate the spec's schedule gives it (``Optimizer.learning_rate``), from the
    updates the optimiser has made (its state's ``step``, so a resumed optimiser continues the schedule). Nothing
    without a schedule."""
    if spec.schedule is None:
        return
    done = int(next(iter(optimizer.state.values()))["step"]) if optimizer.state else 0
    for group in optimizer.param_groups:
        group["lr"] = spec.learning_rate(done)


def implementation(optimizer: torch.optim.Optimizer) -> str:
    """``adam fused``, ``rmsprop foreach`` or ``adam default`` (PyTorch chooses at the step: for-loop on CPU)."""
    group = optimizer.param_groups[0]
    kind = next((flag for flag in FLAGS if group.get(flag)), "default")
    return f"{type(optimizer).__name__.lower()} {kind}"


def load_state(optimizer: torch.optim.Optimizer, state: dict) -> None:
    """``optimizer.load_state_dict(state)``, keeping this optimiser's implementation: PyTorch takes the param
    groups' ``fused`` and ``foreach`` flags from the checkpoint, so a checkpoint of another execution mode
    would change them."""
    kept = [{flag: group[flag] for flag in FLAGS if flag in group} for group in optimizer.param_groups]
    optimizer.load_state_dict(state)
    for group, flags in zip(optimizer.param_groups, kept, strict=True):
        group.update(flags)
