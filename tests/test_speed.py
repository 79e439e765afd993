"""The speed phase: the median's interval, the contention rule and the round-robin order with injected numbers,
then the real protocol on a tiny configuration (two frameworks, each in its own worker process)."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmark import speed, speed_worker
from benchmark.report import speed_verdicts

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


def test_other_processes_share_and_the_contention_rule():
    # 2 cores for 2 s; the machine was busy 3 s, of which the worker 1 s and this process 0.2 s.
    share = speed.other_cpu_share(3.0, 1.0, 0.2, 2.0, 2)
    assert share == pytest.approx(0.45)
    assert speed.contended(share, 0.10) and not speed.contended(share, 0.5)
    assert speed.other_cpu_share(0.5, 1.0, 0.0, 2.0, 2) == 0.0  # clipped, never negative
    assert speed.other_cpu_share(None, 1.0, 0.0, 2.0, 2) is None and not speed.contended(None, 0.1)


class FakeWorker:
    """Advances a fake machine by 1 s per window: its own CPU second plus what 'others' used meanwhile."""

    def __init__(self, machine: dict, others: list[float], ms: float):
        self.machine, self.others, self.ms = machine, others, ms

    def window(self, iterations: int) -> dict:
        self.machine["clock"] += 1.0
        self.machine["busy"] += 1.0 + self.others.pop(0)
        return {"seconds": self.ms * iterations / 1000.0, "cpu_seconds": 1.0}


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
                          {"empty_step_ms": 0.01, "compile_seconds": None}, records["A"], 8)
    assert row["median_ms"] == 10.0 and row["contended_windows"] == 1 and row["retimed_windows"] == 1
    assert row["times_floor"] == pytest.approx(1000.0) and row["floor"] == "empty step"
    assert row["images_per_second"] == pytest.approx(800.0)


def test_bad_arguments_exit_2():
    for args in (["--frameworks", "caffe"], ["--models", "nope"], ["--windows", "0"], ["--batch-sizes", "8,x"]):
        result = subprocess.run([sys.executable, "-m", "benchmark.speed", *args], cwd=ROOT, capture_output=True,
                                text=True, timeout=300)
        assert result.returncode == 2 and result.stderr.startswith("error: "), (args, result.stderr)


def test_the_protocol_on_a_tiny_configuration(tmp_path):
    """vanilla, batch 8, 2 windows of 2 iterations, PyTorch eager and Keras on JAX, each in its own worker."""
    pytest.importorskip("jax")
    out = tmp_path / "speed"
    result = subprocess.run([sys.executable, "-m", "benchmark.speed", "--models", "vanilla", "--frameworks",
                             "pytorch-eager,keras-jax-jit", "--batch-sizes", "8", "--windows", "2", "--iterations", "2",
                             "--warmup", "1", "--threads", "1", "--retries", "0", "--out", str(out)],
                            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
                            timeout=1200)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    report = json.loads((out / speed.SPEED_JSON).read_text())
    keys = ["vanilla-b8-pytorch-eager", "vanilla-b8-keras-jax-jit"]
    assert report["order"] == keys * 2  # interleaved: A B A B
    assert report["environment"]["threads"] == 1 and report["environment"]["cpu"]
    assert [row["framework"] for row in report["results"]] == ["pytorch-eager", "keras-jax-jit"]
    for row in report["results"]:
        assert row["status"] == "ok" and len(row["windows"]) == 2
        assert row["batch_size"] == 8 and row["images_per_iteration"] == 8
        for key in ("median_ms", "ci_low_ms", "ci_high_ms", "iterations_per_second", "images_per_second",
                    "empty_step_ms", "times_floor"):
            assert math.isfinite(row[key]) and row[key] > 0, key
        assert row["ci_low_ms"] <= row["median_ms"] <= row["ci_high_ms"]
        assert all(isinstance(w["contended"], bool) for w in row["windows"])
        assert row["device_ms"] is None and "CPU" in row["device_note"]
        assert row["threads"]["requested"] == 1
    pytorch, jax_row = report["results"]
    assert pytorch["compile_seconds"] is None and jax_row["compile_seconds"] > 0
    table = (out / speed.SPEED_MD).read_text()
    assert "| vanilla | 8 | pytorch-eager | eager |" in table and "| vanilla | 8 | keras-jax-jit | jit |" in table
    [verdict] = speed_verdicts.verdicts(report)  # what the report says of these two real rows
    assert verdict.startswith("`vanilla`, batch 8 — **as users run them by default**: ")
    assert "PyTorch" in verdict and "Keras (JAX)" in verdict and "time ratio" in verdict
