"""The speed phase: the median's interval, the contention rule and the round-robin order with injected numbers,
then the real protocol on a tiny configuration (two frameworks, each in its own worker process)."""
from __future__ import annotations

import io
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmark import speed, speed_worker
from benchmark.report import speed_verdicts
from benchmark.training import run_steps

ROOT = Path(__file__).resolve().parent.parent


def test_median_interval_from_order_statistics():
    values = [float(v) for v in (5, 1, 9, 3, 7, 2, 8, 4, 10, 6)]
    low, high, confidence = speed.median_ci(values)
    assert (low, high) == (2.0, 9.0)  # ranks 2 and 9 of 10
    assert confidence == pytest.approx(1 - 2 * 11 / 1024)
    assert speed.median_ci([3.0, 1.0]) == (1.0, 3.0, 0.5)  # two windows: the range, 50 %
    assert speed.median_ci([1.0, 2.0, 3.0, 4.0, 5.0]) == (1.0, 5.0, pytest.approx(1 - 2 / 32))
    assert speed.median_ci([4.0]) == (4.0, 4.0, 0.0)
    with pytest.raises(ValueError):
        speed.median_ci([])


class FitLikeLoop:
    """A trainer that drives its own loop, as ``Model.fit`` does, with a set-up of 0.3 s before its first
    iteration."""

    def __init__(self):
        self.loops, self.steps = 0, []

    def run_steps(self, feed, start, stop, after_step):
        self.loops += 1
        time.sleep(0.3)
        for step in range(start, stop):
            self.steps.append(step)
            if not after_step(step + 1, {}):
                return

    def synchronize(self):
        pass


def test_every_window_is_timed_inside_one_training_loop_without_its_set_up():
    window = json.dumps({"command": "window", "iterations": 3})
    protocol, trainer = io.StringIO(), FitLikeLoop()
    windows = speed_worker.Windows(trainer, protocol, iter([window, window]))
    run_steps(trainer, None, 6, 6 + speed_worker.MAX_ITERATIONS, windows)
    sent = [json.loads(line) for line in protocol.getvalue().splitlines()]
    assert trainer.loops == 1 and trainer.steps == list(range(6, 13))  # 1 untimed, 2 windows of 3, then stdin ends
    assert [m["event"] for m in sent] == ["window", "window"]
    assert all(0 <= m["seconds"] < 0.3 and m["cpu_seconds"] >= 0 for m in sent)  # the set-up is in no window


def test_other_processes_share_and_the_contention_rule():
    # 2 cores for 2 s; the machine was busy 3 s, of which the worker 1 s and this process 0.2 s.
    share = speed.other_cpu_share(3.0, 1.0, 0.2, 2.0, 2)
    assert share == pytest.approx(0.45)
    assert speed.contended(share, 0.10) and not speed.contended(share, 0.5)
    assert speed.other_cpu_share(0.5, 1.0, 0.0, 2.0, 2) == 0.0  # clipped, never negative
    assert speed.other_cpu_share(None, 1.0, 0.0, 2.0, 2) is None and not speed.contended(None, 0.1)


class FakeWorker:
    """Advances a fake machine by each window's wall time: the worker's own CPU (``cpu_per_wall`` of it) plus what
    'others' used meanwhile (in cores)."""

    def __init__(self, machine: dict, others: list[float], ms: float, cpu_per_wall: float = 1.0, threads: int = 1):
        self.machine, self.others, self.ms, self.cpu_per_wall = machine, others, ms, cpu_per_wall
        self.job = speed_worker.Job("vanilla", "pytorch-eager", 8, threads)

    def window(self, iterations: int) -> dict:
        wall = self.ms * iterations / 1000.0
        self.machine["clock"] += wall
        self.machine["busy"] += wall * self.cpu_per_wall + self.others.pop(0) * wall
        return {"seconds": wall, "cpu_seconds": wall * self.cpu_per_wall}


def _probe(machine: dict) -> speed.Probe:
    return speed.Probe(busy=lambda: machine["busy"], own=lambda: 0.0, clock=lambda: machine["clock"], cores=2)


def test_windows_run_round_robin_and_a_contended_one_is_timed_again():
    machine = {"busy": 0.0, "clock": 0.0}
    workers = {"A": FakeWorker(machine, [1.0, 0.0, 0.0], 10.0), "B": FakeWorker(machine, [0.0, 0.1], 20.0)}
    records, order, errors = speed.time_windows(workers, windows=2, iterations=4, threshold=0.10, retries=2,
                                                probe=_probe(machine))
    assert order == ["A", "A", "B", "A", "B"] and errors == {}
    assert [r["other_cpu_share"] for r in records["A"]] == [0.5, 0.0, 0.0]
    assert [r["discarded"] for r in records["A"]] == [True, False, False]
    assert [r["contended"] for r in records["B"]] == [False, False]  # 0.1 / 2 cores = 5 %
    assert {r["ms_per_iteration"] for r in records["B"]} == {20.0}


def test_a_window_still_contended_after_the_retries_is_kept_and_flagged():
    machine = {"busy": 0.0, "clock": 0.0}
    workers = {"A": FakeWorker(machine, [2.0, 2.0], 10.0)}
    records, order, _ = speed.time_windows(workers, windows=1, iterations=2, threshold=0.10, retries=1,
                                           probe=_probe(machine))
    assert order == ["A", "A"]
    assert [(r["contended"], r["discarded"]) for r in records["A"]] == [(True, True), (True, False)]
    row = speed.summarise(speed_worker.Job("vanilla", "pytorch-eager", 8, 1),
                          [{"empty_step_ms": 0.01, "compile_seconds": None}],
                          [{**r, "process": 1} for r in records["A"]], 8)
    assert row["median_ms"] == pytest.approx(10.0) and row["contended_windows"] == 1 and row["retimed_windows"] == 1
    assert row["times_floor"] == pytest.approx(1000.0) and row["floor"] == "empty step"
    assert row["images_per_second"] == pytest.approx(800.0)


def test_a_worker_on_more_cores_than_its_threads_is_flagged_and_does_not_count():
    """XLA ignored its one-thread flag and ran on two cores (PARITY-NOTES §9): such windows are not a one-thread
    measurement, whatever their speed."""
    machine = {"busy": 0.0, "clock": 0.0}
    workers = {"two": FakeWorker(machine, [0.0] * 3, 5.0, cpu_per_wall=1.8),
               "one": FakeWorker(machine, [0.0] * 3, 10.0, cpu_per_wall=1.05),
               "pair": FakeWorker(machine, [0.0] * 3, 8.0, cpu_per_wall=2.1, threads=2)}
    records, _, _ = speed.time_windows(workers, windows=3, iterations=2, threshold=0.10, retries=0,
                                       probe=_probe(machine))
    assert [r["cpu_per_wall"] for r in records["two"]] == [1.8] * 3 and all(r["over_threads"] for r in records["two"])
    assert not any(r["over_threads"] for r in records["one"] + records["pair"])  # within 10 % of 1 and of 2 cores
    assert {r["other_cpu_share"] for r in records["two"]} == {0.0}  # the worker's own second core is not "others"
    ready = [{"empty_step_ms": 0.01}]
    excluded = speed.summarise(workers["two"].job, ready, [{**r, "process": 1} for r in records["two"]], 8)
    assert excluded["status"] == "over threads" and "1 core(s)" in excluded["error"] and "1.80" in excluded["error"]
    assert speed_verdicts.verdicts({"results": [excluded]}) == []
    mixed = [{**records["two"][0], "process": 1}, *({**r, "process": 2} for r in records["one"])]
    row = speed.summarise(workers["one"].job, ready * 2, mixed, 8)
    assert row["status"] == "ok" and row["median_ms"] == pytest.approx(10.0)  # the 5 ms two-core window is out
    assert row["over_threads_windows"] == 1 and row["max_cpu_per_wall"] == 1.8


def test_the_interval_holds_the_spread_between_worker_processes():
    """Two processes of one mode that disagree widen the interval beyond what either one's windows give."""
    windows = [{"ms_per_iteration": ms, "process": process, "discarded": False, "contended": False,
                "cpu_per_wall": 1.0, "over_threads": False}
               for process, values in ((1, (10.0, 10.1, 10.2)), (2, (12.0, 12.1, 12.2))) for ms in values]
    row = speed.summarise(speed_worker.Job("vanilla", "pytorch-eager", 8, 1), [{"empty_step_ms": 0.01}] * 2,
                          windows, 8)
    assert row["process_medians_ms"] == [pytest.approx(10.1), pytest.approx(12.1)]
    assert row["ci_low_ms"] <= 10.1 and row["ci_high_ms"] >= 12.1 and row["processes"] == 2


def test_pinning_puts_every_thread_of_the_process_on_its_cores():
    """``threads.pin`` in a fresh process: the variables, and the affinity of a thread that existed before it."""
    code = """
import json, os, threading
from benchmark import threads
started, release = threading.Event(), threading.Event()
ids = []
def wait():
    ids.append(threading.get_native_id()); started.set(); release.wait()
thread = threading.Thread(target=wait); thread.start(); started.wait()
pinning = threads.pin(1)
print(json.dumps({"cpus": pinning.cpus, "main": sorted(os.sched_getaffinity(0)),
                  "older": sorted(os.sched_getaffinity(ids[0])), "omp": os.environ["OMP_NUM_THREADS"],
                  "state": threads.state()}))
release.set(); thread.join()
"""
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    cpus = report["cpus"]  # one core of this process's, the first no other pinned process holds (threads.CoreClaims)
    assert len(cpus) == 1 and set(cpus) <= os.sched_getaffinity(0) and report["main"] == report["older"] == cpus
    assert report["omp"] == "1" and report["state"] == {"requested": 1, "cpus": cpus, "pinned": True}


def test_bad_arguments_exit_2():
    for args in (["--frameworks", "caffe"], ["--models", "nope"], ["--windows", "0"], ["--batch-sizes", "8,x"],
                 ["--processes", "0"]):
        result = subprocess.run([sys.executable, "-m", "benchmark.speed", *args], cwd=ROOT, capture_output=True,
                                text=True, timeout=300)
        assert result.returncode == 2 and result.stderr.startswith("error: "), (args, result.stderr)


def test_the_protocol_on_a_small_configuration(tmp_path):
    """vanilla at its batch of 64, 2 processes of 2 windows of 2 iterations each, PyTorch eager and Keras on JAX,
    each in its own worker, pinned to one core: JAX's XLA pool, which ignores its one-thread flag, must measure
    CPU time / wall time ≤ 1.1 in every window (1.75-1.9 before the pinning)."""
    pytest.importorskip("jax")
    out = tmp_path / "speed"
    result = subprocess.run([sys.executable, "-m", "benchmark.speed", "--models", "vanilla", "--frameworks",
                             "pytorch-eager,keras-jax-jit", "--windows", "2", "--iterations", "2", "--processes", "2",
                             "--warmup", "1", "--threads", "1", "--retries", "0", "--out", str(out)],
                            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
                            timeout=1200)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    report = json.loads((out / speed.SPEED_JSON).read_text())
    keys = ["vanilla-b64-pytorch-eager", "vanilla-b64-keras-jax-jit"]
    # interleaved within a process (A B A B), then a fresh pair of workers
    assert report["order"] == [f"{key}#1" for key in keys] * 2 + [f"{key}#2" for key in keys] * 2
    assert report["environment"]["threads"] == 1 and report["environment"]["cpu"]
    assert report["fingerprint"]["machine"]["cpu_count"] == os.cpu_count() and report["fingerprint"]["code"]
    assert [row["framework"] for row in report["results"]] == ["pytorch-eager", "keras-jax-jit"]
    for row in report["results"]:
        assert row["status"] == "ok" and len(row["windows"]) == 4 and row["processes"] == 2
        assert [w["process"] for w in row["windows"]] == [1, 1, 2, 2] and len(row["process_medians_ms"]) == 2
        assert row["batch_size"] == 64 and row["images_per_iteration"] == 64
        for key in ("median_ms", "ci_low_ms", "ci_high_ms", "iterations_per_second", "images_per_second",
                    "empty_step_ms", "times_floor"):
            assert math.isfinite(row[key]) and row[key] > 0, key
        assert row["ci_low_ms"] <= min(row["process_medians_ms"]) <= max(row["process_medians_ms"]) <= row["ci_high_ms"]
        assert all(isinstance(w["contended"], bool) for w in row["windows"])
        assert row["device_ms"] is None and "CPU" in row["device_note"]
        assert row["threads"]["requested"] == 1 and len(row["threads"]["cpus"]) == 1 and row["threads"]["pinned"]
        assert all(0.0 < w["cpu_per_wall"] <= 1.1 and not w["over_threads"] for w in row["windows"]), row["windows"]
    pytorch, jax_row = report["results"]
    assert pytorch["compile_seconds"] is None and jax_row["compile_seconds"] > 0
    table = (out / speed.SPEED_MD).read_text()
    assert "| vanilla | 64 | pytorch-eager | eager |" in table and "| vanilla | 64 | keras-jax-jit | jit |" in table
    [verdict] = speed_verdicts.verdicts(report)  # what the report says of these two real rows
    assert verdict.startswith("`vanilla`, batch 64 — **as users run them by default**: ")
    assert "PyTorch" in verdict and "Keras (JAX)" in verdict and "time ratio" in verdict
