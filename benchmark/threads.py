"""One thread count for every framework: set in the environment of each child process before any framework
starts, set again through each framework's API in the trainers, and recorded with every run.

PyTorch's OpenMP threads spin-wait, so an unbounded or unequal thread count turns a speed comparison into a
contention measurement (../shared/PARITY-NOTES.md §9).
"""
from __future__ import annotations

import os
from typing import Mapping

# Read once at start-up by OpenMP / MKL / OpenBLAS (torch, numpy) and by TensorFlow's runtime.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TF_NUM_INTRAOP_THREADS",
                    "TF_NUM_INTEROP_THREADS")
# XLA on CPU (JAX) has no thread-count flag; one thread is reachable by turning Eigen's thread pool off.
XLA_SINGLE_THREAD = "--xla_cpu_multi_thread_eigen=false"


def default_threads(jobs: int = 1) -> int:
    """The cores each of ``jobs`` concurrent runs gets: cores // jobs, at least 1."""
    return max(1, (os.cpu_count() or 1) // max(jobs, 1))


def thread_env(threads: int, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables to add to a child's environment (``environ``: the current one, for ``XLA_FLAGS``)."""
    if threads < 1:
        raise ValueError(f"thread count must be at least 1, got {threads}")
    env = dict.fromkeys(THREAD_VARIABLES, str(threads))
    flags = [flag for flag in (environ or {}).get("XLA_FLAGS", "").split()
             if not flag.startswith("--xla_cpu_multi_thread_eigen")]
    if threads == 1:
        flags.append(XLA_SINGLE_THREAD)
    env["XLA_FLAGS"] = " ".join(flags)
    return env


def apply_thread_env(threads: int | None) -> None:
    """Set the variables in this process (before a framework is imported); None leaves everything as it is."""
    if threads is not None:
        os.environ.update(thread_env(threads, os.environ))
