"""A suite that does not go to plan, end to end with the real training processes (one suite for both scenarios,
since each costs a suite's evaluation, reference rows and report):

* one run fails on purpose: its folder holds a corrupt checkpoint (bytes that are no checkpoint), so the real
  training process that resumes it refuses it (exit 2); the runs after it must still train, complete and be
  evaluated, and the report must list the failure with its log;
* the suite is killed (``kill -9``) and then hung up (SIGHUP) while its last run trains, continued with
  ``--resume``: no child outlives its suite, the finished run is not trained again, the interrupted one continues
  from its checkpoint.
"""
from __future__ import annotations

import signal

import pandas as pd

from benchmark import runs, suite
from suites import dies, needs_mnist, run_all, suite_with_training_child


@needs_mnist
def test_a_failing_killed_or_hung_up_suite_goes_on_leaves_no_run_training_and_resumes_without_redoing_runs(tmp_path):
    """Seed 0 fails (a corrupt checkpoint), seed 1 then trains to the end, seed 2 trains when the suite is killed
    (``kill -9``: that child dies with it). ``--resume``, then SIGHUP (a closed terminal) while seed 2 trains again:
    the child checkpoints and stops, the suite records it. ``--resume`` again: seed 1 is not trained again, seed 2
    continues from its checkpoint, seed 0 fails again and the report lists it. Each signal is sent once the child has
    logged a metric line (at iteration 15 of 120, smoke's 8 log points): the ~100 iterations left keep it training
    well past the test's reaction, so more iterations would add nothing."""
    out = tmp_path / "resume"
    failing, finished, interrupted = (out / suite.RUNS_DIR / f"vanilla-pytorch-seed{s}" for s in (0, 1, 2))
    (failing / runs.CHECKPOINTS).mkdir(parents=True)
    (failing / runs.CHECKPOINTS / "last.pt").write_bytes(b"this is not a checkpoint")
    args = ["--profile", "smoke", "--models", "vanilla", "--frameworks", "pytorch", "--seeds", "0,1,2", "--steps",
            "120", "--jobs", "1", "--out", str(out), "--resume"]  # one run at a time, in the order of the seeds

    process, child = suite_with_training_child(args + ["--no-report"], interrupted)
    process.kill()
    process.wait()
    assert dies(child), "the training child outlived its suite"
    assert runs.read_json(out / suite.SUITE_FILE)["runs"]["vanilla-pytorch-seed0"]["status"] == runs.FAILED
    assert runs.read_json(finished / runs.RESULT)["status"] == runs.COMPLETED  # trained after the failure
    finished_at = (finished / runs.RESULT).stat().st_mtime_ns

    process, child = suite_with_training_child(args + ["--no-report"], interrupted)
    process.send_signal(signal.SIGHUP)
    output = process.communicate(timeout=300)[0]
    assert process.returncode == 4, output
    assert dies(child) and runs.read_json(out / suite.SUITE_FILE)["state"] == "interrupted"
    assert runs.read_json(interrupted / runs.RESULT)["status"] == runs.INTERRUPTED

    result = run_all(*args)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "vanilla-pytorch-seed1: completed, finished earlier (skipped)" in result.stdout
    assert (finished / runs.RESULT).stat().st_mtime_ns == finished_at
    assert (finished / "train.log").read_text().count("$ ") == 1  # trained once
    assert runs.read_json(interrupted / runs.CONFIG)["resumed_from_step"] > 0
    summary = pd.read_csv(out / "summary.csv").set_index("run")
    assert (summary.loc["vanilla-pytorch-seed0", "status"], summary.loc["vanilla-pytorch-seed0", "exit_code"]) == (
        runs.FAILED, 2)
    for run in ("vanilla-pytorch-seed1", "vanilla-pytorch-seed2"):
        assert summary.loc[run, "status"] == runs.COMPLETED and pd.notna(summary.loc[run, "classifier_fid"])
    problems = (out / "report.md").read_text().split("## Failed, diverged and unfinished runs", 1)[1]
    assert "vanilla-pytorch-seed0" in problems and "no usable checkpoint" in problems  # the refusal from its log
    listed = problems.split("## All runs")[0]
    assert "vanilla-pytorch-seed1" not in listed and "vanilla-pytorch-seed2" not in listed
