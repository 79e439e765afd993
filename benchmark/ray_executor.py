"""The ``ray`` executor: every training run and every evaluation is a Ray task that runs the same child command
in a process of its own, in a scratch folder on its worker.

Nothing assumes a shared filesystem. The driver ships the job's run folders with the task (``benchmark.shipping``:
a tar of the whole folder, checkpoint included, so that a resumed run continues on whichever node; an evaluation
leaves the checkpoints behind), and the task returns every file its child created or changed — checkpoints
included, so an interrupted run can resume — with the files it deleted and its log; the driver writes them into
``OUT/runs/<name>/`` and appends the log to ``train.log`` / ``eval.log``. The code travels too: each task runs in
a copy of the driver's checkout (Ray's ``working_dir``); the Python environment must already be on every node.

Resources: ``num_gpus=1`` when the runs use a GPU (``--device cuda``, or ``auto`` on a cluster that has GPUs), and
``num_cpus`` = the child's thread count (its command's ``--threads``, default 1). Tasks are never retried by Ray: a
worker that crashes or is killed is a failed run, its log tail taken from what the task last reported to the
``Relay`` actor (the child's log lives on the worker). The child dies with its worker (``PR_SET_PDEATHSIG``), so a lost
driver or worker leaves no training process behind; what it had done since it was shipped is lost with it, and
``--resume`` starts it again from the last state that reached the driver. The scratch folder such a worker leaves is
removed by the next task on its node. A second Ctrl-C cancels the running tasks, which kills their workers.

The child's log comes back with the driver's run folders in place of the scratch copies (its command line aside),
so that its messages name the folders the user knows.
"""
from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

import ray

from benchmark import runs, shipping
from benchmark.jobs import REPO_ROOT, ExecutorError, Finished, Job, launch
from benchmark.frameworks import FRAMEWORKS

SCRATCH_ENV = "GANBENCH_SCRATCH"  # where workers put their scratch folders (default: the system's temp folder)
SCRATCH_PREFIX = "ganbench-"  # then the worker's pid
POLL_SECONDS = 1.0
TAIL_LINES = 20
LOST_WORKER = -signal.SIGKILL  # the status recorded when the task's worker died


@ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=-1)
class Relay:
    """Messages between the driver and its tasks, wherever they run: the driver's stop, the tasks' log tails.
    Ray restarts it when it dies (its memory monitor may pick it), empty: the driver repeats its stop while it
    waits, and each task its tail as its log grows."""

    def __init__(self):
        self.stopped = False
        self.reports: dict[str, dict] = {}

    def stop(self) -> None:
        self.stopped = True

    def stopping(self) -> bool:
        return self.stopped

    def report(self, key: str, node: dict, tail: list[str]) -> None:
        self.reports[key] = {"node": node, "tail": tail}

    def last_report(self, key: str) -> dict:
        return self.reports.get(key, {"node": {}, "tail": []})


@dataclass(frozen=True)
class RemoteJob:
    key: str
    command: list[str]  # as the driver would run it: interpreter and folder paths are replaced on the worker
    env: dict[str, str]  # what the suite sets on top of the environment
    folders: list[str]  # the driver's run folders, in the bundle's order
    bundle: bytes


@ray.remote(max_retries=0)
def run_task(job: RemoteJob, relay) -> dict:
    base = Path(os.environ.get(SCRATCH_ENV) or tempfile.gettempdir())
    sweep_scratch(base)
    scratch = Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-", dir=base))
    try:
        roots = [scratch / str(index) for index in range(len(job.folders))]
        for root in roots:
            root.mkdir()
        shipping.unpack(job.bundle, roots)
        before = shipping.listing(roots)
        paths = dict(zip(job.folders, map(str, roots)))
        command = [worker_python(job.command), *(paths.get(arg, arg) for arg in job.command[1:])]
        env = dict(os.environ, **job.env)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
        log = scratch / "child.log"
        header = f"\n$ {' '.join(command)}\n".encode()  # as it ran here; the output names the driver's folders
        log.write_bytes(header)
        driver_paths = {root: driver for driver, root in paths.items()}
        code = _supervise(command, env, log, job.key, relay, driver_paths)
        changed, deleted = shipping.changes(roots, before)
        output = _driver_paths(log.read_bytes()[len(header):].decode(errors="replace"), driver_paths)
        return {"code": code, "log": header + output.encode(), "bundle": shipping.pack(roots, changed),
                "deleted": deleted, "node": node()}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def sweep_scratch(folder: Path) -> None:
    """Remove the scratch folders whose worker died without removing its own (a kill -9 of the worker, of the
    driver, or a second Ctrl-C): each folder's name holds the pid of the worker that made it."""
    for path in folder.glob(f"{SCRATCH_PREFIX}*-*"):
        pid = path.name[len(SCRATCH_PREFIX):].split("-")[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _driver_paths(text: str, driver_paths: dict[str, str]) -> str:
    """The child's output with each scratch run folder replaced by the driver's, which its messages mean."""
    for scratch in sorted(driver_paths, key=len, reverse=True):  # ``.../10`` before ``.../1``
        text = text.replace(scratch, driver_paths[scratch])
    return text


def worker_python(command: list[str]) -> str:
    """The interpreter of a child on this worker: for a training command its framework family's, as this node's
    environment sets it (``Framework.python``: the GPU install's Keras venv), else the worker's own."""
    entry = next((f for f in FRAMEWORKS.values() if command[1:3] == ["-m", f.module]), None)
    return entry.python if entry else sys.executable


def _supervise(command: list[str], env: dict, log: Path, key: str, relay, driver_paths: dict[str, str]) -> int:
    """Run the child, forward the driver's stop to it once (SIGINT), report its log tail while it runs."""
    with log.open("a") as output:
        child = subprocess.Popen(launch(command, die_with=os.getpid()), stdout=output, stderr=subprocess.STDOUT,
                                 env=env, cwd=REPO_ROOT, start_new_session=True)
    where = node()
    relay.report.remote(key, where, [])
    interrupted, size = False, -1
    try:
        while True:
            try:
                try:
                    return child.wait(timeout=POLL_SECONDS)
                except subprocess.TimeoutExpired:
                    pass
                stop = _stopping(relay)
            except KeyboardInterrupt:  # a cancelled task, or a Ctrl-C that reached the worker
                stop = True
            if stop and not interrupted:
                child.send_signal(signal.SIGINT)
                interrupted = True
            if log.stat().st_size != size:
                size = log.stat().st_size
                relay.report.remote(key, where, [_driver_paths(line, driver_paths) for line in _tail(log)])
    finally:
        if child.poll() is None:  # the task itself failed: leave no child behind
            child.kill()
            child.wait()


def _stopping(relay) -> bool:
    try:
        return ray.get(relay.stopping.remote())
    except ray.exceptions.RayError:  # the relay is gone (its driver too, or the memory monitor killed it)
        return False


def _tail(log: Path) -> list[str]:
    with log.open("rb") as file:
        file.seek(max(0, file.seek(0, os.SEEK_END) - 8192))
        text = file.read().decode(errors="replace").replace("\r\n", "\n")
    lines = [line.rsplit("\r", 1)[-1].rstrip() for line in text.split("\n")]
    return [line for line in lines if line][-TAIL_LINES:]


def node() -> dict:
    context = ray.get_runtime_context()
    gpus = context.get_accelerator_ids().get("GPU") or []
    return {"executor": "ray", "hostname": socket.gethostname(), "node_id": context.get_node_id(),
            **({"gpu": ",".join(map(str, gpus))} if gpus else {}),
            **({"cpus": sorted(os.sched_getaffinity(0))} if hasattr(os, "sched_getaffinity") else {})}


class RayExecutor:
    def __init__(self, *, jobs: int, device: str, stop: threading.Event, address: str | None = None,
                 out: Path | None = None):
        self.stop = stop
        self.owns_ray = not ray.is_initialized()  # else the caller's ray.init decides, code shipping included
        if self.owns_ray:
            start_ray(address, out)
        resources = ray.cluster_resources()
        if device == "cuda" and resources.get("GPU", 0) < 1:  # its tasks (num_gpus=1) would wait forever
            if self.owns_ray:
                ray.shutdown()
            raise ExecutorError(f"--device cuda: the Ray cluster has no GPU (its resources: CPU "
                                f"{resources.get('CPU', 0):g}, GPU 0); use --device auto or cpu")
        self.relay = Relay.remote()
        self.gpu = device == "cuda" or (device == "auto" and resources.get("GPU", 0) >= 1)
        self.device = "cuda" if self.gpu else device
        # one task in flight per CPU: each reserves its command's --threads CPUs, and Ray queues what does not fit
        capacity = int(resources.get("GPU", 0)) if self.gpu else int(resources.get("CPU", 1))
        self.slots = jobs if jobs > 1 else max(1, capacity)
        self.commit = runs.git_commit()
        self.running: set[ray.ObjectRef] = set()
        self.lock = threading.Lock()

    def run(self, job: Job) -> Finished:
        threads = _threads(job.command)
        env = {key: value for key, value in job.env.items() if os.environ.get(key) != value and key != "PYTHONPATH"}
        env.update({runs.GIT_COMMIT_ENV: self.commit} if self.commit else {})
        not_shipped = {f"{index}/{job.log_path.relative_to(folder).as_posix()}"
                       for index, folder in enumerate(job.folders) if job.log_path.is_relative_to(folder)}
        names = shipping.listing(list(job.folders), lambda name: name in not_shipped or (
            not job.training and name.split("/")[1] == runs.CHECKPOINTS))
        remote = RemoteJob(uuid.uuid4().hex, job.command, env, [str(folder) for folder in job.folders],
                           shipping.pack(list(job.folders), names))
        task = run_task.options(num_cpus=threads, num_gpus=1 if self.gpu else 0)
        job.log_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            result = self._wait(task.remote(remote, self.relay))
        except ray.exceptions.RayError as error:
            last = self._last_report(remote.key)
            message = str(error).strip().splitlines()[0] if str(error).strip() else ""
            with job.log_path.open("a") as log:
                log.write("\n".join(["", "ray: the task's last report of its log:", *last["tail"],
                                     f"ray: the task failed: {type(error).__name__}: {message}", ""]))
            return Finished(LOST_WORKER, {"executor": "ray", **last["node"], "error": type(error).__name__})
        shipping.unpack(result["bundle"], list(job.folders), result["deleted"])
        with job.log_path.open("ab") as log:
            log.write(result["log"])
        return Finished(result["code"], result["node"])

    def _wait(self, ref: ray.ObjectRef) -> dict:
        with self.lock:
            self.running.add(ref)
        try:
            while not ray.wait([ref], timeout=POLL_SECONDS)[0]:
                if self.stop.is_set():
                    self.relay.stop.remote()
            return ray.get(ref)
        finally:
            with self.lock:
                self.running.discard(ref)

    def _last_report(self, key: str) -> dict:
        try:
            return ray.get(self.relay.last_report.remote(key), timeout=30)
        except ray.exceptions.RayError:
            return {"node": {}, "tail": ["(the relay is gone too: no log tail)"]}

    def interrupt(self, kill: bool = False) -> None:
        """Stop every task through the relay (each child checkpoints and exits); with ``kill``, end their workers at
        once, and each child with its worker."""
        self.relay.stop.remote()
        if kill:
            with self.lock:
                running = list(self.running)
            for ref in running:
                ray.cancel(ref, force=True)

    def close(self) -> None:
        ray.kill(self.relay)
        if self.owns_ray:
            ray.shutdown()


def start_ray(address: str | None, out: Path | None) -> None:
    """A Ray instance of this process's own, or the cluster at ``address``; ``ExecutorError`` (one line) when it
    does not start or answer, after stopping whatever it had started."""
    try:
        ray.init(address=address, include_dashboard=False, runtime_env=code_env(out), logging_level=logging.WARNING)
    except Exception as error:  # a start-up timeout is a bare Exception; an unreachable address a ConnectionError
        ray.shutdown()
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise ExecutorError(f"Ray did not start{f' at {address}' if address else ''}: {reason}") from None


def code_env(out: Path | None = None) -> dict:
    """The runtime environment that ships this checkout to every worker (without the suite's outputs)."""
    excludes = [".git", ".venv", "results/", "runs/"]
    if out is not None and Path(out).resolve().is_relative_to(REPO_ROOT):
        excludes.append(Path(out).resolve().relative_to(REPO_ROOT).as_posix())
    return {"working_dir": str(REPO_ROOT), "excludes": excludes}


def _threads(command: list[str]) -> int:
    """The CPUs a task reserves: its command's ``--threads`` (the child pins itself to that many), else 1."""
    try:
        return max(1, int(command[command.index("--threads") + 1]))
    except (ValueError, IndexError):
        return 1
