"""The machine a suite or the speed phase runs on: what it is (CPU, GPUs, package versions) and how busy its CPU
is, read without importing any framework."""
from __future__ import annotations

import hashlib
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


REPO_ROOT = Path(__file__).resolve().parent.parent
CODE_FOLDERS = ("benchmark", "pytorch_impl", "tensorflow_impl")  # what a timing depends on, with the versions


def code_fingerprint(root: Path = REPO_ROOT) -> str:
    """SHA-256 of the Python sources of the harness and both implementations (paths and contents): a timing taken
    with other code is not this code's."""
    digest = hashlib.sha256()
    for path in sorted(p for folder in CODE_FOLDERS for p in (root / folder).rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip() or None
    except OSError:
        return None


def _cpu_id() -> str | None:
    """The CPU's family, model and stepping (``/proc/cpuinfo``): two CPUs sold under one name can differ."""
    fields = {}
    for line in (_read("/proc/cpuinfo") or "").splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("cpu family", "model", "stepping") and key.strip() not in fields:
            fields[key.strip()] = value.strip()
    return " ".join(f"{k} {v}" for k, v in fields.items()) or None


def fingerprint() -> dict:
    """What a measurement of speed belongs to: this machine (CPU model, cores, memory, host name), the installed
    versions and the code."""
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") if hasattr(os, "sysconf") else None
    versions = environment()["versions"]
    return {"machine": {"cpu": runs.cpu_model(), "cpu_id": _cpu_id(), "cpu_count": os.cpu_count(),
                        "hostname": platform.node(), "machine_id": _read("/etc/machine-id"),
                        "memory_gib": round(memory / 2 ** 30) if memory else None},
            "versions": versions, "code": code_fingerprint()}


def fingerprint_mismatch(recorded: dict | None, current: dict) -> str | None:
    """Why a measurement with fingerprint ``recorded`` is not one of ``current``'s (None: it is)."""
    if not isinstance(recorded, dict):
        return "it carries no machine and code fingerprint"
    if recorded.get("machine") != current["machine"]:
        then, now = recorded.get("machine") or {}, current["machine"]
        return (f"it was measured on another machine ({then.get('cpu')}, {then.get('cpu_count')} cores, host "
                f"{then.get('hostname')}; this one: {now['cpu']}, {now['cpu_count']} cores, host {now['hostname']})")
    if recorded.get("versions") != current["versions"]:
        before = recorded.get("versions") or {}
        changed = sorted(k for k in current["versions"] if before.get(k) != current["versions"][k])
        return f"it was measured with other package versions ({', '.join(changed)})"
    if recorded.get("code") != current["code"]:
        return "it was measured with other code (the sources' SHA-256 differs)"
    return None


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
