"""One owner for a process's CPU threads: ``pin`` gives it N threads on N cores of its own, before any framework
starts, and every trainer, worker and config reads the result back (``state``).

Thread flags alone are not cores. PyTorch's OpenMP threads spin-wait, so an unbounded or unequal thread count turns
a speed comparison into a contention measurement, and XLA on CPU (jaxlib 0.10.2) ignores its one-thread flag: a
one-thread JAX worker ran at CPU time / wall time 1.75-1.9 until its affinity held one core
(../shared/PARITY-NOTES.md §9). So ``pin`` sets the CPU affinity of every thread of the process (XLA and OpenMP size
their pools from it when they start) as well as the frameworks' variables.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Mapping

# Read once at start-up by OpenMP / MKL / OpenBLAS (torch, numpy) and by TensorFlow's runtime.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TF_NUM_INTRAOP_THREADS",
                    "TF_NUM_INTEROP_THREADS")
# XLA on CPU (JAX) has no thread-count flag; this one is meant to turn Eigen's pool off, and is kept for platforms
# without CPU affinity, where it is all there is.
XLA_SINGLE_THREAD = "--xla_cpu_multi_thread_eigen=false"
# A process measured above its thread count by more than this share used more cores than it was given.
CPU_TOLERANCE = 0.10


@dataclass(frozen=True)
class Pinning:
    """What ``pin`` gave this process: the thread count and the cores (empty where affinity is unsupported)."""

    threads: int
    cpus: tuple[int, ...]


_pinned: Pinning | None = None


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


def allowed_cpus() -> tuple[int, ...]:
    """The cores this process may run on (empty where the platform has no CPU affinity)."""
    return tuple(sorted(os.sched_getaffinity(0))) if hasattr(os, "sched_getaffinity") else ()


class CoreClaims:
    """Which cores pinned processes hold: an advisory lock on one file per core in ``folder``, held while the file
    is open (the OS releases it when the process ends, killed or not). Two runs started side by side with
    ``--threads 1`` (by hand, or by two test workers) so take two cores instead of both the first one; an executor's
    slots, already disjoint, are unaffected."""

    def __init__(self, folder: Path):
        self.folder, self.held = folder, []

    def claim(self, cpu: int) -> bool:
        """Whether ``cpu`` was free, and is now held by this process (where no lock can be made: free)."""
        try:
            import fcntl

            self.folder.mkdir(parents=True, exist_ok=True)
            handle = open(self.folder / f"cpu{cpu}.lock", "a")
        except (ImportError, OSError):
            return True
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self.held.append(handle)
        return True

    def release(self) -> None:
        for handle in self.held:
            handle.close()
        self.held.clear()


def choose_cpus(threads: int, allowed: Iterable[int], claim: Callable[[int], bool] = lambda cpu: True,
                ) -> tuple[int, ...]:
    """The first ``threads`` of the ``allowed`` cores that ``claim`` takes (no other pinned process holds them),
    completed by the first others when fewer are free (shared then, as they would be without claims); all of them
    when there are fewer than ``threads`` (then the process gets fewer cores than threads, which its CPU/wall
    measurement shows)."""
    ordered, taken = sorted(allowed), []
    for cpu in ordered:
        if len(taken) < threads and claim(cpu):
            taken.append(cpu)
    others = [cpu for cpu in ordered if cpu not in taken]
    return tuple(sorted(taken + others[:threads - len(taken)]))


def _set_affinity(cpus: tuple[int, ...]) -> None:
    """Every thread of this process, the ones a framework already started included (a new thread inherits its
    creator's mask, an existing one keeps its own)."""
    tasks = os.listdir("/proc/self/task") if os.path.isdir("/proc/self/task") else ["0"]
    for task in tasks:
        try:
            os.sched_setaffinity(int(task), cpus)
        except ProcessLookupError:  # the thread ended meanwhile
            pass


# The cores this process's ``pin`` holds. Another user's lock files cannot be opened, so they count as free.
_claims = CoreClaims(Path(tempfile.gettempdir()) / "ganbench-cpus")


def pin(threads: int | None) -> Pinning | None:
    """Give this process ``threads`` threads on ``threads`` cores of its own: the frameworks' variables, and the CPU
    affinity of all its threads (the first ``threads`` cores it may use that no other pinned process holds,
    ``CoreClaims``; an executor that placed the process on a slot of cores has already narrowed them). None leaves
    everything as it is. Call it before any framework is imported; only a process's entry point calls it (it changes
    the whole process)."""
    global _pinned
    if threads is None:
        return None
    os.environ.update(thread_env(threads, os.environ))
    cpus = choose_cpus(threads, allowed_cpus(), _claims.claim)
    if cpus:
        _set_affinity(cpus)
    _pinned = Pinning(threads, cpus)
    return _pinned


def pinned() -> Pinning | None:
    """What ``pin`` set in this process, or None."""
    return _pinned


def state() -> dict:
    """The record of config.json and speed.json: the thread count asked for and the cores the process runs on."""
    return {"requested": _pinned.threads if _pinned else None, "cpus": list(allowed_cpus()),
            "pinned": _pinned is not None and bool(_pinned.cpus)}


def over_threads(cpu_per_wall: float, threads: int) -> bool:
    """A measurement in which the process used more cores than its ``threads`` (beyond ``CPU_TOLERANCE``)."""
    return cpu_per_wall > threads * (1.0 + CPU_TOLERANCE)
