"""Where the suite's child processes run: on this machine (``local``) or as Ray tasks (``ray``).

The suite (``benchmark.suite``) hands its executor one ``Job`` per worker thread at a time: a child command,
its environment, the log its output is appended to and the run folders it reads and writes. The executor
runs it to the end and returns a ``Finished``: the exit status and where it ran. Every job is a process of
its own whatever the executor, so two frameworks never share one (PARITY-NOTES §1).

* ``local`` (default): a subprocess of the suite. With ``--jobs N`` > 1 every concurrent *training* run holds
  a slot: one GPU of its own (``CUDA_VISIBLE_DEVICES``) on a GPU machine, else ``cores // N`` CPU cores of its
  own (CPU affinity, set before the child starts; the thread count is the suite's, equal for every run).
  Evaluation runs alone after training and takes the whole machine. Every child dies with the suite
  (``PR_SET_PDEATHSIG``): a suite killed outright leaves no run training in a folder that ``--resume`` needs.
* ``ray``: ``benchmark.ray_executor``, imported only when chosen, so the local path runs without Ray.
"""
from __future__ import annotations

import importlib.util
import os
import queue
import shutil
import signal
import socket
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from benchmark.jobs import REPO_ROOT, ExecutorError, Finished, Job, launch

EXECUTORS = ("local", "ray")
RAY_PIN = "ray==2.60.0"  # as in requirements.txt


class Executor(Protocol):
    slots: int  # jobs that run at once
    device: str  # every training child's --device: ``cuda`` where the runs get a GPU (``auto`` resolved), else as asked

    def run(self, job: Job) -> Finished:
        """Run ``job`` to its end (blocking; called from several threads at once)."""

    def interrupt(self, kill: bool = False) -> None:
        """Pass SIGINT on to every running child, so that each checkpoints and exits (status 4); with ``kill``
        (a second Ctrl-C), end them at once."""

    def close(self) -> None:
        """Release what the executor holds."""


def create(kind: str, *, jobs: int, device: str, stop: threading.Event, ray_address: str | None = None,
           out: Path | None = None) -> Executor:
    if kind == "local":
        return LocalExecutor(local_slots(jobs, device), stop, local_device(device))
    if kind == "ray":
        if importlib.util.find_spec("ray") is None:
            raise ExecutorError(f"--executor ray needs Ray: pip install '{RAY_PIN}' (requirements.txt)")
        from benchmark.ray_executor import RayExecutor
        return RayExecutor(jobs=jobs, device=device, stop=stop, address=ray_address, out=out)
    raise ExecutorError(f"unknown executor {kind!r}; valid: {', '.join(EXECUTORS)}")


# ------------------------------------------------------------------------------------------------ local

@dataclass(frozen=True)
class Slot:
    gpu: str | None = None  # a CUDA_VISIBLE_DEVICES entry
    cpus: tuple[int, ...] = ()


def visible_gpus() -> list[str]:
    """The GPUs a child may be given: ``CUDA_VISIBLE_DEVICES``' entries when set, else ``nvidia-smi -L``'s."""
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return [gpu for gpu in (part.strip() for part in listed.split(",")) if gpu and not gpu.startswith("-")]
    if not shutil.which("nvidia-smi"):
        return []
    try:
        shown = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(index) for index, _ in enumerate(line for line in shown.splitlines() if line.startswith("GPU "))]


def local_device(device: str, gpus: list[str] | None = None) -> str:
    """``auto`` becomes ``cuda`` where this machine shows a GPU, so that every run is told the device it trains on
    (without a GPU ``auto`` stays: the child finds none either)."""
    if device != "auto":
        return device
    return "cuda" if (visible_gpus() if gpus is None else gpus) else device


def local_slots(jobs: int, device: str, gpus: list[str] | None = None,
                cores: list[int] | None = None) -> list[Slot]:
    """``jobs`` disjoint slots: a GPU each where GPUs are used, else equal shares of the CPU cores. One job
    needs no slot (the child gets the whole machine, as without an executor)."""
    if jobs <= 1:
        return []
    gpus = [] if device == "cpu" else visible_gpus() if gpus is None else gpus
    if gpus:
        if jobs > len(gpus):
            raise ExecutorError(f"--jobs {jobs}: this machine has {len(gpus)} GPU(s), one per concurrent run")
        return [Slot(gpu=gpu) for gpu in gpus[:jobs]]
    if device == "cuda":
        raise ExecutorError("--device cuda: no GPU found to place the runs on")
    if cores is None:
        cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if not cores:  # no affinity on this platform: concurrent, unpinned
        return [Slot() for _ in range(jobs)]
    share = len(cores) // jobs
    if share == 0:
        raise ExecutorError(f"--jobs {jobs}: this machine has {len(cores)} CPU core(s), at least one per run")
    return [Slot(cpus=tuple(cores[i * share:(i + 1) * share])) for i in range(jobs)]


class LocalExecutor:
    def __init__(self, slots: list[Slot], stop: threading.Event, device: str = "auto"):
        self.slots = max(1, len(slots))
        self.device = device
        self.stop = stop
        self.free: queue.SimpleQueue[Slot] = queue.SimpleQueue()
        for slot in slots:
            self.free.put(slot)
        self.placed = bool(slots)
        self.children: set[subprocess.Popen] = set()
        self.lock = threading.Lock()

    def run(self, job: Job) -> Finished:
        slot = self.free.get() if job.training and self.placed else Slot()
        try:
            env = dict(job.env, CUDA_VISIBLE_DEVICES=slot.gpu) if slot.gpu is not None else job.env
            code = self._spawn(job.command, launch(job.command, slot.cpus, die_with=os.getpid()), env, job.log_path)
        finally:
            if job.training and self.placed:
                self.free.put(slot)
        node = {"executor": "local", "hostname": socket.gethostname(), "gpu": slot.gpu, "cpus": list(slot.cpus)}
        return Finished(code, {key: value for key, value in node.items() if value not in (None, [])})

    def _spawn(self, shown: list[str], command: list[str], env: dict, log_path: Path) -> int:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("a") as log:
            log.write(f"\n$ {' '.join(shown)}\n")
            log.flush()
            # A session of its own: a Ctrl-C on the terminal reaches the suite, which forwards it once.
            child = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO_ROOT,
                                     start_new_session=True)
            with self.lock:
                self.children.add(child)
            if self.stop.is_set():
                child.send_signal(signal.SIGINT)
            try:
                return child.wait()
            finally:
                with self.lock:
                    self.children.discard(child)

    def interrupt(self, kill: bool = False) -> None:
        with self.lock:
            children = list(self.children)
        for child in children:
            try:
                child.kill() if kill else child.send_signal(signal.SIGINT)
            except ProcessLookupError:
                pass

    def close(self) -> None:
        pass
