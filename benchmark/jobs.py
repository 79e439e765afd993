"""What the suite hands an executor and gets back, and the launcher every executor starts its children through.

Shared by ``benchmark.executors`` (the local executor, and the choice of executor) and ``benchmark.ray_executor``,
which import it and not each other.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

# Runs a command pinned to CPU cores and/or killed (SIGKILL) when its parent dies, then becomes the command
# (exec): same pid, exit status and signals. No ``preexec_fn``, which is unsafe in a threaded parent. It also
# unblocks every signal: a Ray worker blocks SIGINT, and a blocked signal stays blocked across exec, so the child
# would never see the suite's stop.
LAUNCHER = """import ctypes, os, signal, sys
signal.pthread_sigmask(signal.SIG_SETMASK, ())
cpus, parent = sys.argv[1], int(sys.argv[2])
if cpus:
    os.sched_setaffinity(0, {int(cpu) for cpu in cpus.split(",")})
if parent:
    ctypes.CDLL(None).prctl(1, 9)  # PR_SET_PDEATHSIG, SIGKILL
    if os.getppid() != parent:
        sys.exit(137)
os.execvp(sys.argv[3], sys.argv[3:])
"""


class ExecutorError(ValueError):
    """An executor that cannot run here (Ray missing, more jobs than GPUs or cores), explained in one line."""


@dataclass(frozen=True)
class Job:
    command: list[str]  # the first element is the Python interpreter
    env: dict[str, str]  # the child's whole environment
    log_path: Path
    folders: tuple[Path, ...]  # run folders the child reads and writes
    training: bool  # timed: it gets a placement slot, and its checkpoints travel with it


@dataclass(frozen=True)
class Finished:
    code: int  # the child's exit status (negative: killed by that signal)
    node: dict = field(default_factory=dict)  # where it ran: executor, hostname, GPU, CPU cores, Ray node id


def launch(command: list[str], cpus: tuple[int, ...] = (), die_with: int | None = None) -> list[str]:
    """``command`` behind ``LAUNCHER`` when it must be pinned to ``cpus`` or die with process ``die_with``."""
    if not cpus and not die_with:
        return command
    return [command[0], "-c", LAUNCHER, ",".join(map(str, cpus)), str(die_with or 0), *command]
