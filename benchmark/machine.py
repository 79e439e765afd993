"""The machine a suite or the speed phase runs on: what it is (CPU, GPUs, package versions) and how busy its CPU
is, read without importing any framework."""
from __future__ import annotations

import importlib.metadata
import os
import platform
import resource
import shutil
import subprocess
from pathlib import Path

from benchmark import runs

PACKAGES = ("torch", "tensorflow", "keras", "jax", "jaxlib", "torch-fidelity", "numpy", "scipy", "pandas",
            "matplotlib")


def gpu_names() -> list[str] | None:
    """The GPUs ``nvidia-smi -L`` lists (None when there is none or no nvidia-smi), without importing a framework."""
    if not shutil.which("nvidia-smi"):
        return None
    try:
        listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    return [line for line in listing.stdout.splitlines() if line.strip()] or None


def gpu_driver() -> str | None:
    """The NVIDIA driver version (``nvidia-smi``), None without one."""
    if not shutil.which("nvidia-smi"):
        return None
    try:
        query = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                               capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    versions = sorted({line.strip() for line in query.stdout.splitlines() if line.strip()})
    return ", ".join(versions) or None


def environment() -> dict:
    """The machine and the installed versions, read without importing any framework."""
    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    return {"cpu": runs.cpu_model(), "cpu_count": os.cpu_count(), "gpus": gpu_names(), "gpu_driver": gpu_driver(),
            "platform": platform.platform(),
            "python": platform.python_version(), "versions": versions, "git_commit": runs.git_commit()}


def cpu_busy_seconds() -> float | None:
    """CPU seconds the whole machine has spent busy since boot (Linux ``/proc/stat``), else None."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    except (OSError, ValueError):
        return None
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values) - idle) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def other_cpu_share(busy_before: float | None, own_before: float, wall: float) -> float | None:
    """The share of the machine's CPU time that processes other than the run used while it trained: a timing
    taken while this is high measured the contention, not the framework."""
    busy_after = cpu_busy_seconds()
    if busy_before is None or busy_after is None or wall <= 0:
        return None
    other = (busy_after - busy_before) - (children_cpu_seconds() - own_before)
    return round(min(max(other / (wall * (os.cpu_count() or 1)), 0.0), 1.0), 3)
