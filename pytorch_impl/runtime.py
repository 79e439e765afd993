"""How PyTorch executes a run: thread counts, the execution mode (eager, fused optimisers, torch.compile of the
forward passes or of whole updates, CUDA graphs) and the check that a ``--device cuda`` run really computes on
the GPU."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from benchmark import threads
from benchmark.frameworks import PYTORCH, FrameworkError, find
from benchmark.training import RunError

FORWARD, STEP = "forward passes", "whole updates"  # what a mode compiles: the models' forward, or every update


@dataclass(frozen=True)
class Execution:
    """What an execution mode compiles and which optimiser implementation it uses."""

    compile: str | None = None  # torch.compile's ``mode``; None: nothing is compiled
    scope: str | None = None  # FORWARD or STEP
    fused: bool = False  # fused optimisers (foreach where none exists) on every device; else on CUDA only


EXECUTIONS = {
    "eager": Execution(),
    "fused": Execution(fused=True),
    "compile": Execution("default", FORWARD),
    "reduce-overhead": Execution("reduce-overhead", FORWARD),
    "compile-step": Execution("default", STEP, fused=True),
}


def set_threads() -> None:
    """The process's pinned thread count (``benchmark.threads.pin``) for intra-op threads now, inter-op threads too
    unless PyTorch already started that pool (it refuses then); nothing when the process was not pinned."""
    pinning = threads.pinned()
    if pinning is None:
        return
    torch.set_num_threads(pinning.threads)
    try:
        torch.set_num_interop_threads(pinning.threads)
    except RuntimeError:  # "cannot set number of interop threads after parallel work has started"
        pass


def thread_state() -> dict:
    return {**threads.state(), "intra_op": torch.get_num_threads(), "inter_op": torch.get_num_interop_threads()}


def check_mode(mode: str | None, device: torch.device) -> str:
    """The registry's mode (default: eager); a GPU-only mode on another device is refused."""
    try:
        entry = find(PYTORCH, None, mode)
    except FrameworkError as error:
        raise RunError(str(error)) from None
    if entry.requires_gpu and device.type != "cuda":
        raise RunError(f"--mode {entry.mode} needs --device cuda ({entry.description})")
    return entry.mode


def compile_module(module: nn.Module, mode: str) -> None:
    """In a FORWARD mode, compile ``module``'s forward in place (its state_dict keys, hence checkpoints, stay the
    same)."""
    execution = EXECUTIONS[mode]
    if execution.scope == FORWARD:
        module.compile(mode=execution.compile)


def check_on_gpu(module: nn.Module, device: torch.device) -> None:
    """For ``--device cuda``: the parameters and a computed tensor must be CUDA tensors, else a RunError."""
    if device.type != "cuda":
        return
    placed = {p.device.type for p in module.parameters()}
    try:
        computed = (torch.ones(1, device=device) + 1).device.type
    except (RuntimeError, AssertionError) as error:  # no driver, or a CPU-only build
        computed = f"no CUDA device ({str(error).splitlines()[0]})"
    if placed != {"cuda"} or computed != "cuda":
        raise RunError(f"--device cuda asked for, but PyTorch computes on {computed} "
                       f"(parameters on {', '.join(sorted(placed))})")


def accelerator_stack(device: torch.device) -> dict | None:
    """On a GPU: the CUDA and cuDNN versions this PyTorch build runs with, for the report (None on a CPU)."""
    if device.type != "cuda":
        return None
    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    return {"cuda": torch.version.cuda, "cudnn": str(cudnn) if cudnn else None,
            "compute_capability": ".".join(map(str, torch.cuda.get_device_capability(device)))}
