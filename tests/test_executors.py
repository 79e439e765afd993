"""Executors: placement slots, the exec launcher, and real suites on a local Ray instance (1 CPU) against the
local executor.

The Ray suites run in this process (``run_all.main``) on a module-wide ``ray.init``; their workers put their
scratch folders under a temporary folder unrelated to the suite's, so the results reach the suite folder only
as the bundles the tasks return (the path a cluster without a shared filesystem takes).
"""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from benchmark import executors, runs, suite

REPO = Path(__file__).resolve().parent.parent
MNIST = os.environ.get("MNIST_DIR") or str(REPO.parent / "shared" / "datasets" / "mnist")
needs_mnist = pytest.mark.skipif(not Path(MNIST).is_dir(), reason="MNIST not available offline (set MNIST_DIR)")
TINY = ["--profile", "smoke", "--models", "vanilla", "--frameworks", "pytorch", "--data-dir", MNIST]
BLOCK_RAY = "import runpy, sys; sys.modules['ray'] = None; sys.argv[0] = {script!r}; runpy.run_path(sys.argv[0], " \
            "run_name='__main__')"


def run_all_without_ray(*args: str, timeout: float = 600, cwd: Path = REPO) -> subprocess.CompletedProcess:
    """``benchmark/run_all.py ARGS`` in a process where ``import ray`` fails."""
    script = str(REPO / "benchmark" / "run_all.py")
    return subprocess.run([sys.executable, "-c", BLOCK_RAY.format(script=script), *args], cwd=cwd,
                          env=dict(os.environ, OMP_NUM_THREADS="1"), capture_output=True, text=True, timeout=timeout)


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# ------------------------------------------------------------------------------------- local placement

def test_slots_one_gpu_each_or_equal_core_shares():
    assert executors.local_slots(1, "auto", gpus=["0", "1"]) == []
    assert [s.gpu for s in executors.local_slots(2, "auto", gpus=["2", "5", "7"])] == ["2", "5"]
    assert [s.cpus for s in executors.local_slots(2, "auto", gpus=[], cores=[0, 1, 2, 3, 4])] == [(0, 1), (2, 3)]
    assert [s.cpus for s in executors.local_slots(2, "cpu", gpus=["0", "1"], cores=[4, 6])] == [(4,), (6,)]
    with pytest.raises(executors.ExecutorError, match="2 GPU"):
        executors.local_slots(3, "auto", gpus=["0", "1"])
    with pytest.raises(executors.ExecutorError, match="2 CPU core"):
        executors.local_slots(3, "auto", gpus=[], cores=[0, 1])
    with pytest.raises(executors.ExecutorError, match="no GPU"):
        executors.local_slots(2, "cuda", gpus=[])


def test_visible_gpus_follow_cuda_visible_devices(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3, 1")
    assert executors.visible_gpus() == ["3", "1"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert executors.visible_gpus() == []


def test_every_run_is_told_cuda_where_a_gpu_is_found(tmp_path, monkeypatch):
    """``--device auto`` on a machine with a GPU (the probe mocked): every training command says ``--device cuda``;
    without one it stays ``auto`` (the child finds no GPU either); ``cpu`` and ``cuda`` pass unchanged."""
    assert executors.local_device("auto", gpus=["0"]) == "cuda"
    assert executors.local_device("auto", gpus=[]) == "auto"
    assert executors.local_device("cpu", gpus=["0"]) == "cpu" and executors.local_device("cuda", gpus=[]) == "cuda"
    from benchmark.profiles import get_profile
    from benchmark.suite_plan import SuiteOptions, train_command
    options = SuiteOptions(out=tmp_path, profile=get_profile("smoke"), models=["vanilla"],
                           frameworks=["pytorch", "keras-tensorflow"], seeds=[0], device="auto")
    for gpus, expected in ((["0"], "cuda"), ([], "auto")):
        monkeypatch.setattr(executors, "visible_gpus", lambda gpus=gpus: gpus)
        planned = suite.Suite(options)
        assert planned.options.device == expected
        devices = {run.name: (command := train_command(run, tmp_path, planned.options))[command.index("--device") + 1]
                   for run in planned.runs}
        assert devices == {"vanilla-pytorch-seed0": expected, "vanilla-keras-tensorflow-seed0": expected}


def test_local_executor_places_runs_on_their_slots(tmp_path):
    show = [sys.executable, "-c", "import os; print(os.environ.get('CUDA_VISIBLE_DEVICES'), "
                                  "sorted(os.sched_getaffinity(0)))"]
    core = min(os.sched_getaffinity(0))
    executor = executors.LocalExecutor([executors.Slot(gpu="5", cpus=(core,))], threading.Event())
    log = tmp_path / "train.log"
    finished = executor.run(executors.Job(show, dict(os.environ), log, (), training=True))
    assert finished.code == 0 and finished.node["gpu"] == "5" and finished.node["cpus"] == [core]
    assert log.read_text().splitlines()[-1] == f"5 [{core}]"
    assert log.read_text().count(f"$ {' '.join(show)}") == 1  # the command as given, not the launcher
    evaluation = executor.run(executors.Job(show, dict(os.environ, CUDA_VISIBLE_DEVICES="x"), log, (), False))
    assert evaluation.code == 0 and log.read_text().splitlines()[-1].startswith("x [")  # no slot


def test_launcher_child_dies_with_its_parent(tmp_path):
    """The parent prints its launched child's pid, then is killed; the child must not outlive it."""
    parent_code = ("import os, subprocess, sys, time\n"
                   "from benchmark.executors import launch\n"
                   "child = subprocess.Popen(launch([sys.executable, '-c', 'import time; time.sleep(60)'], "
                   "die_with=os.getpid()))\n"
                   "print(child.pid, flush=True)\n"
                   "time.sleep(60)\n")
    parent = subprocess.Popen([sys.executable, "-c", parent_code], cwd=REPO, stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    time.sleep(0.5)  # the launcher has exec'd into the sleeper
    assert _alive(child)
    parent.kill()
    parent.wait()
    deadline = time.time() + 10
    while _alive(child) and time.time() < deadline:
        time.sleep(0.1)
    assert not _alive(child)


def test_launcher_unblocks_the_signals_its_parent_blocked():
    """A Ray worker blocks SIGINT; the child it launches must still see the suite's stop."""
    parent_code = ("import os, signal, subprocess, sys\n"
                   "from benchmark.executors import launch\n"
                   "signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})\n"
                   "show = [sys.executable, '-c', 'print(open(\"/proc/self/status\").read())']\n"
                   "subprocess.run(show)\n"
                   "subprocess.run(launch(show, die_with=os.getpid()))\n")
    shown = subprocess.run([sys.executable, "-c", parent_code], cwd=REPO, capture_output=True, text=True, timeout=60)
    blocked = [int(line.split()[1], 16) for line in shown.stdout.splitlines() if line.startswith("SigBlk:")]
    assert blocked[0] & (1 << (signal.SIGINT - 1)) and blocked[1] == 0  # inherited as is; unblocked by the launcher


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for its reaper counts as dead)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


# ----------------------------------------------------------------------------------- without Ray at all

def test_ray_executor_without_ray_is_a_usage_error(tmp_path):
    result = run_all_without_ray(*TINY, "--executor", "ray", "--out", str(tmp_path / "s"), timeout=120)
    assert result.returncode == 2 and "needs Ray: pip install 'ray==" in result.stderr
    assert not (tmp_path / "s").exists()


# ------------------------------------------------------------------------------------- real Ray suites

@pytest.fixture(scope="module")
def ray_scratch(tmp_path_factory):
    """A local Ray instance of 1 CPU (its tasks run one at a time, as on one node of a cluster, so that a test knows
    which run trains when) whose workers keep their scratch folders in a folder of their own."""
    ray = pytest.importorskip("ray")
    from benchmark.ray_executor import SCRATCH_ENV, code_env
    scratch = tmp_path_factory.mktemp("worker-scratch")
    # Inherited by the workers. Ray's memory monitor is off: on a shared machine it would kill tasks for the memory
    # that other processes use, and this test would fail with them.
    overrides = {SCRATCH_ENV: str(scratch), "OMP_NUM_THREADS": "1", "RAY_memory_monitor_refresh_ms": "0"}
    saved = {name: os.environ.get(name) for name in overrides}
    os.environ.update(overrides)
    ray.init(num_cpus=1, include_dashboard=False, runtime_env=code_env(), logging_level=logging.WARNING)
    yield scratch
    ray.shutdown()
    for name, value in saved.items():
        os.environ.pop(name) if value is None else os.environ.__setitem__(name, value)


def run_all_on_ray(*args: str) -> int:
    from benchmark import run_all
    return run_all.main([*TINY, "--executor", "ray", *args])


def test_ray_worker_starts_keras_children_with_the_interpreter_its_node_names(monkeypatch):
    pytest.importorskip("ray")
    from benchmark.ray_executor import worker_python
    monkeypatch.setenv("GANBENCH_KERAS_PYTHON", "/node/venv-keras/bin/python")
    monkeypatch.delenv("GANBENCH_PYTORCH_PYTHON", raising=False)
    assert worker_python(["/driver/python", "-m", "tensorflow_impl.train", "--model", "dcgan"]) == \
        "/node/venv-keras/bin/python"
    assert worker_python(["/driver/python", "-m", "pytorch_impl.train"]) == sys.executable
    assert worker_python(["/driver/python", "-m", "benchmark.evaluate", "run"]) == sys.executable


@needs_mnist
def test_device_cuda_on_a_ray_cluster_without_gpus_fails_at_once(tmp_path, ray_scratch, capsys):
    """Tasks asking for num_gpus=1 would wait forever: one line and exit 2 before any run is placed."""
    started = time.monotonic()
    assert run_all_on_ray("--device", "cuda", "--out", str(tmp_path / "s")) == 2
    assert time.monotonic() - started < 60
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 1 and errors[0].startswith("error: --device cuda: the Ray cluster has no GPU")
    assert not (tmp_path / "s").exists()


@needs_mnist
def test_ray_suite_gives_the_local_report(tmp_path, ray_scratch):
    """Same rows, columns, statuses and scores as the local executor, which runs where Ray cannot be imported. The
    local suite is started from outside the checkout with relative paths, trains 2 iterations and is resumed to
    the Ray suite's 3: its scores must be those of its final samples, as the uninterrupted Ray run's are."""
    relative = [*TINY[:-1], os.path.relpath(MNIST, tmp_path), "--out", "local"]
    for extra in (["--steps", "2", "--no-report"], ["--steps", "3", "--resume"]):
        local = run_all_without_ray(*relative, *extra, cwd=tmp_path)
        assert local.returncode == 0, local.stdout[-2000:] + local.stderr[-2000:]
    assert run_all_on_ray("--steps", "3", "--out", str(tmp_path / "ray")) == 0

    expected, got = (pd.read_csv(tmp_path / name / "summary.csv") for name in ("local", "ray"))
    assert list(got.columns) == list(expected.columns)
    assert list(got["run"]) == list(expected["run"]) == ["vanilla-pytorch-seed0"]
    assert list(got["status"]) == list(expected["status"]) == [runs.COMPLETED]
    for column in ("steps_done", "num_samples_scored", "curve_points", "git_commit", "device_name"):
        assert got.loc[0, column] == expected.loc[0, column], column
    assert got.loc[0, "classifier_fid"] == pytest.approx(expected.loc[0, "classifier_fid"], rel=1e-6)
    record = runs.read_json(tmp_path / "ray" / suite.SUITE_FILE)["runs"]["vanilla-pytorch-seed0"]
    assert record["node"]["executor"] == "ray" and record["node"]["node_id"] and record["node"]["hostname"]
    assert got.loc[0, "node"] == record["node"]["hostname"]

    # No shared filesystem needed: the child wrote under the worker's scratch folder, which is gone again; its
    # messages name the run folder, not the scratch copy.
    run_dir = tmp_path / "ray" / suite.RUNS_DIR / "vanilla-pytorch-seed0"
    log = (run_dir / suite.TRAIN_LOG).read_text()
    assert f"--out {ray_scratch}{os.sep}ganbench-" in log and f"completed: {run_dir} at step 3/3" in log
    assert all(str(ray_scratch) not in line for line in log.splitlines() if not line.startswith("$ "))
    assert list(ray_scratch.iterdir()) == []
    resumed = {"checkpoints/previous.pt", "checkpoints/previous.pt.sha256"}  # the checkpoint of step 2
    assert _tree(run_dir).keys() - {suite.TRAIN_LOG} == _tree(
        tmp_path / "local" / suite.RUNS_DIR / "vanilla-pytorch-seed0").keys() - {suite.TRAIN_LOG} - resumed


@needs_mnist
def test_killed_worker_fails_its_run_a_stop_checkpoints_the_other_and_resume_finishes_both(tmp_path, ray_scratch):
    """Seed 0's worker is killed mid-run: a failed run with the log tail its task reported; the suite goes on
    until a Ctrl-C, which the tasks pass on to their children: seed 1 checkpoints, and its checkpoint comes
    back. ``--resume`` trains seed 0 again and continues seed 1 from its checkpoint."""
    out = tmp_path / "suite"
    args = ["--steps", "200", "--seeds", "0,1", "--jobs", "1", "--no-report", "--out", str(out)]  # seed 0, then seed 1
    killed: list[int] = []
    chaos = threading.Thread(target=_kill_then_interrupt, args=(ray_scratch, out, killed), daemon=True)
    chaos.start()
    assert run_all_on_ray(*args) == 4
    chaos.join(timeout=5)
    assert killed and not _alive(killed[0])  # the training child died with its worker

    records = runs.read_json(out / suite.SUITE_FILE)["runs"]
    failed, stopped = records["vanilla-pytorch-seed0"], records["vanilla-pytorch-seed1"]
    assert failed["status"] == runs.FAILED and failed["exit"] == "killed by SIGKILL"
    assert any(line.startswith("step ") for line in failed["log_tail"])  # what the task reported before dying
    assert "ray: the task failed: " in failed["log_tail"][-1]
    assert stopped["status"] == runs.INTERRUPTED and stopped["exit"] == "exit 4 (interrupted)"
    assert (out / suite.RUNS_DIR / "vanilla-pytorch-seed1" / runs.CHECKPOINTS / "last.pt").exists()

    assert run_all_on_ray(*args, "--resume") == 0
    records = runs.read_json(out / suite.SUITE_FILE)["runs"]
    for seed, resumed in ((0, False), (1, True)):
        run_dir = out / suite.RUNS_DIR / f"vanilla-pytorch-seed{seed}"
        assert records[run_dir.name]["status"] == runs.COMPLETED and records[run_dir.name]["eval_exit_code"] == 0
        assert runs.read_json(run_dir / runs.RESULT)["step"] == 200
        assert (runs.read_json(run_dir / runs.CONFIG)["resumed_from_step"] > 0) == resumed
        assert (run_dir / suite.TRAIN_LOG).read_text().count("\n$ ") == 2  # two attempts each
    assert list(ray_scratch.iterdir()) == []  # the killed worker's scratch folder too


@needs_mnist
def test_a_second_interrupt_kills_a_ray_task_that_ignores_the_first(tmp_path, ray_scratch):
    """The first stop is passed on (SIGINT), which this child ignores; the second ends its worker, and the child with
    it, at once."""
    from benchmark.ray_executor import RayExecutor
    stop = threading.Event()
    executor = RayExecutor(jobs=1, device="cpu", stop=stop)
    pid_file = tmp_path / "pid"
    stubborn = [sys.executable, "-c", "import os, signal, sys, time; signal.signal(signal.SIGINT, signal.SIG_IGN); "
                f"open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(120)"]
    finished: list[executors.Finished] = []
    waiter = threading.Thread(target=lambda: finished.append(executor.run(executors.Job(
        stubborn, {}, tmp_path / "train.log", (), training=True))), daemon=True)
    waiter.start()
    try:
        deadline = time.time() + 120
        while not (pid_file.exists() and pid_file.read_text()) and time.time() < deadline:
            time.sleep(0.1)
        child = int(pid_file.read_text())
        stop.set()
        executor.interrupt()
        time.sleep(2)  # the task has passed the stop on
        assert _alive(child)
        executor.interrupt(kill=True)
        waiter.join(timeout=60)
        assert finished and finished[0].code == -signal.SIGKILL
        deadline = time.time() + 10
        while _alive(child) and time.time() < deadline:
            time.sleep(0.1)
        assert not _alive(child)
    finally:
        if pid_file.exists() and pid_file.read_text() and _alive(int(pid_file.read_text())):
            os.kill(int(pid_file.read_text()), signal.SIGKILL)
        executor.close()


def test_a_ray_that_does_not_start_is_one_line_and_is_shut_down(monkeypatch):
    ray = pytest.importorskip("ray")
    from benchmark import ray_executor
    shut_down = []

    def timed_out(**options):
        raise Exception("The current node timed out during startup. This could happen because some of the raylet "
                        "failed to startup or the GCS has become overloaded.")

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", timed_out)
    monkeypatch.setattr(ray, "shutdown", lambda: shut_down.append(True))
    with pytest.raises(executors.ExecutorError) as error:
        ray_executor.RayExecutor(jobs=1, device="auto", stop=threading.Event())
    assert str(error.value) == "Ray did not start: The current node timed out during startup. This could happen " \
                               "because some of the raylet failed to startup or the GCS has become overloaded."
    assert shut_down


def test_scratch_folders_of_dead_workers_are_swept(tmp_path):
    pytest.importorskip("ray")
    from benchmark.ray_executor import SCRATCH_PREFIX, sweep_scratch
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    for pid in (dead.pid, os.getpid()):
        (tmp_path / f"{SCRATCH_PREFIX}{pid}-abc" / "0").mkdir(parents=True)
    (tmp_path / "unrelated").mkdir()
    sweep_scratch(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{SCRATCH_PREFIX}{os.getpid()}-abc", "unrelated"]


def _training_child(scratch: Path, seed: int) -> int | None:
    """The pid of this test's training child for ``seed`` once it has logged a step, else None."""
    for proc in Path("/proc").iterdir():
        try:
            words = (proc / "cmdline").read_bytes().decode().split("\0")
        except (OSError, ValueError):
            continue
        if "pytorch_impl.train" not in words or "--out" not in words:
            continue
        run_dir = Path(words[words.index("--out") + 1])
        if run_dir.is_relative_to(scratch) and words[words.index("--seed") + 1] == str(seed) \
                and (run_dir / runs.METRICS).exists():
            return int(proc.name)
    return None


def _kill_then_interrupt(scratch: Path, out: Path, killed: list[int], timeout: float = 600) -> None:
    """SIGKILL the Ray worker whose child trains seed 0 once it has logged a step; once the suite has recorded
    that failure and seed 1's child has logged a step too (so that it has something to checkpoint), send this
    process (the driver) SIGINT."""
    deadline = time.time() + timeout
    while not killed and time.time() < deadline:
        if (child := _training_child(scratch, 0)) is not None:
            time.sleep(1.5)  # the task reports its log tail every second
            worker = int(Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()[1])
            assert "ray" in (Path(f"/proc/{worker}/cmdline").read_bytes().decode())
            killed.append(child)
            os.kill(worker, signal.SIGKILL)
        time.sleep(0.1)
    while time.time() < deadline:
        record = runs.read_json(out / suite.SUITE_FILE) if (out / suite.SUITE_FILE).exists() else {}
        if record.get("runs", {}).get("vanilla-pytorch-seed0", {}).get("status") == runs.FAILED \
                and _training_child(scratch, 1) is not None:
            if record.get("state") == "running":
                os.kill(os.getpid(), signal.SIGINT)
            return
        time.sleep(0.1)
