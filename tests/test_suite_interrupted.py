"""Suites that do not go to plan, end to end with the real training processes:

* one run fails on purpose: its folder holds a corrupt checkpoint (bytes that are no checkpoint), so the real
  training process that resumes it refuses it (exit 2); the other run must still complete and be evaluated, and
  the report must list the failure with its log;
* a suite killed (``kill -9``) and then hung up (SIGHUP) while its second run trains, continued with ``--resume``:
  no child outlives its suite, the finished run is not trained again, the interrupted one continues from its
  checkpoint.
"""
from __future__ import annotations

import signal

import pandas as pd

from benchmark import runs, suite
from suites import dies, needs_mnist, run_all, suite_with_training_child


@needs_mnist
def test_failing_run_is_reported_and_the_others_go_on(tmp_path):
    out = tmp_path / "fail"
    broken = out / suite.RUNS_DIR / "vanilla-pytorch-seed0" / runs.CHECKPOINTS / "last.pt"
    broken.parent.mkdir(parents=True)
    broken.write_bytes(b"this is not a checkpoint")
    result = run_all("--profile", "smoke", "--models", "vanilla", "--frameworks", "pytorch", "--seeds", "0,1",
                     "--out", str(out), "--resume")
    assert result.returncode == 1, result.stdout + result.stderr
    summary = pd.read_csv(out / "summary.csv").set_index("run")
    assert summary.loc["vanilla-pytorch-seed0", "status"] == runs.FAILED
    assert summary.loc["vanilla-pytorch-seed0", "exit_code"] == 2
    assert summary.loc["vanilla-pytorch-seed1", "status"] == runs.COMPLETED
    assert pd.notna(summary.loc["vanilla-pytorch-seed1", "classifier_fid"])
    problems = (out / "report.md").read_text().split("## Failed, diverged and unfinished runs", 1)[1]
    assert "vanilla-pytorch-seed0" in problems and "no usable checkpoint" in problems  # the refusal from its log
    assert "vanilla-pytorch-seed1" not in problems.split("## All runs")[0]


@needs_mnist
def test_a_killed_or_hung_up_suite_leaves_no_run_training_and_resumes_without_redoing_finished_runs(tmp_path):
    """``kill -9`` of the suite while its second run trains: that child dies with it. ``--resume``, then SIGHUP (a
    closed terminal) while the second run trains again: the child checkpoints and stops, the suite records it.
    ``--resume`` again: the finished run is not trained again, the interrupted one continues from its checkpoint.
    Each signal is sent once the child has logged a metric line (at iteration 15 of 120, smoke's 8 log points): the
    ~100 iterations left keep it training well past the test's reaction, so more iterations would add nothing."""
    out = tmp_path / "resume"
    args = ["--profile", "smoke", "--models", "vanilla", "--frameworks", "pytorch", "--seeds", "0,1", "--steps", "120",
            "--jobs", "1", "--out", str(out)]  # one run at a time: the first has finished when the second trains
    first_dir, second_dir = (out / suite.RUNS_DIR / f"vanilla-pytorch-seed{s}" for s in (0, 1))

    process, child = suite_with_training_child(args + ["--no-report"], second_dir)
    process.kill()
    process.wait()
    assert dies(child), "the training child outlived its suite"
    assert runs.read_json(first_dir / runs.RESULT)["status"] == runs.COMPLETED
    finished_at = (first_dir / runs.RESULT).stat().st_mtime_ns

    process, child = suite_with_training_child(args + ["--no-report", "--resume"], second_dir)
    process.send_signal(signal.SIGHUP)
    output = process.communicate(timeout=300)[0]
    assert process.returncode == 4, output
    assert dies(child) and runs.read_json(out / suite.SUITE_FILE)["state"] == "interrupted"
    assert runs.read_json(second_dir / runs.RESULT)["status"] == runs.INTERRUPTED

    result = run_all(*args, "--resume")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "vanilla-pytorch-seed0: completed, finished earlier (skipped)" in result.stdout
    assert (first_dir / runs.RESULT).stat().st_mtime_ns == finished_at
    assert (first_dir / "train.log").read_text().count("$ ") == 1  # trained once
    assert runs.read_json(second_dir / runs.CONFIG)["resumed_from_step"] > 0
    assert runs.read_json(second_dir / runs.RESULT)["status"] == runs.COMPLETED
    summary = pd.read_csv(out / "summary.csv")
    assert (summary["status"] == runs.COMPLETED).all() and summary["classifier_fid"].notna().all()
