"""The suite harness: arguments, profiles, plans, exit statuses. Real suites end to end: test_suite_smoke.py and
test_suite_interrupted.py (each file is one pytest worker's unit under ``--dist loadfile``, so the long ones are
apart)."""
from __future__ import annotations

import io
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from benchmark import machine, runs, suite, suite_plan
from benchmark.profiles import PROFILES, get_profile
from benchmark.spec import CONDITIONAL_MODEL_NAMES, MODEL_NAMES, get_spec
from benchmark.threads import THREAD_VARIABLES

from suites import REPO, RUN_ALL, run_all


# ------------------------------------------------------------------------------------------- arguments

def test_help_as_script_and_module():
    for command in (RUN_ALL, [sys.executable, "-m", "benchmark.run_all"]):
        shown = subprocess.run([*command, "--help"], cwd=REPO, capture_output=True, text=True, timeout=120)
        assert shown.returncode == 0
        for flag in ("--profile", "--models", "--frameworks", "--keras-backend", "--seeds", "--device", "--out",
                     "--resume", "--jobs", "--threads", "--budget"):
            assert flag in shown.stdout


@pytest.mark.parametrize("args, message", [
    (["--models", "dcgan,nope"], "unknown model 'nope'"),
    (["--frameworks", "pytorch,caffe"], "unknown framework 'caffe'"),
    (["--seeds", "0,x"], "comma-separated integers"),
    (["--jobs", "0"], "--jobs"),
    (["--profile", "huge"], "invalid choice"),
])
def test_bad_arguments_fail_fast_with_exit_2(tmp_path, args, message):
    result = run_all("--out", str(tmp_path / "s"), *args, timeout=120)
    assert result.returncode == 2
    assert message in result.stderr
    assert not (tmp_path / "s").exists()


def test_existing_suite_needs_resume(tmp_path):
    (tmp_path / "s" / suite.RUNS_DIR / "x").mkdir(parents=True)
    result = run_all("--out", str(tmp_path / "s"), "--models", "vanilla", timeout=120)
    assert result.returncode == 2 and "--resume" in result.stderr


def test_parse_frameworks():
    assert suite_plan.parse_frameworks("pytorch,keras") == ["pytorch", "keras-tensorflow"]
    assert suite_plan.parse_frameworks("keras", "jax") == ["keras-jax"]
    assert suite_plan.parse_frameworks("keras-jax,pytorch,keras-jax") == ["keras-jax", "pytorch"]
    with pytest.raises(suite_plan.SuiteError, match="valid: pytorch, keras"):
        suite_plan.parse_frameworks("tensorflow")


def test_without_a_profile_run_all_runs_the_machines_own(monkeypatch):
    """``python benchmark/run_all.py`` with no flags: quick on a CPU, full with a GPU, as ``make bench``; not smoke."""
    from benchmark import machine, run_all as run_all_module
    for gpus, expected in ((None, "quick"), (["GPU 0: NVIDIA H200 (UUID: GPU-0)"], "full")):
        monkeypatch.setattr(machine, "gpu_names", lambda: gpus)
        assert run_all_module.machine_profile() == expected
        monkeypatch.setattr(run_all_module, "_check_environment", lambda args: None)
        options = run_all_module.options_from(run_all_module.parser().parse_args([]))
        assert options.profile.name == expected and options.out == Path.cwd() / f"results/local/{expected}"
    assert run_all_module.parser().parse_args(["--profile", "smoke"]).profile == "smoke"


def test_profiles_cover_the_issue():
    smoke, quick, full = (get_profile(name) for name in ("smoke", "quick", "full"))
    assert len(smoke.seeds) == 1 and smoke.num_samples <= 1000
    assert all(6 <= smoke.train_steps(get_spec(m)) <= 50 for m in MODEL_NAMES)  # steady-state timing after 5
    assert len(quick.seeds) >= 2  # paired tests need two pairs
    assert len(full.seeds) >= 3 and full.epochs is None and full.num_samples == 10_000 and full.inception
    spec = get_spec("dcgan")
    assert full.train_steps(spec) == spec.training.epochs * (60_000 // 64)
    # The spec's budget is equal in images: WGAN's iterations consume 5 batches each.
    assert full.budget == "images" and full.train_steps(get_spec("wgan")) == 20 * (937 // 5)
    assert set(PROFILES) == {"smoke", "quick", "cpu-complete", "full", "toy"}


def test_cpu_complete_trains_every_preset_paired_and_scores_ten_thousand_samples():
    complete = get_profile("cpu-complete")
    assert set(complete.models) == set(MODEL_NAMES) and not complete.left_out
    assert len(complete.seeds) >= 2 and complete.num_samples == 10_000
    assert complete.jobs == 2 and complete.threads == 1 and complete.speed_models
    # at least two epochs of updates for the convolutional models, and more updates for WGAN's slow clipping
    assert all(complete.train_steps(get_spec(m)) >= 2_000 for m in ("dcgan", "lsgan", "wgan-gp", "wgan"))
    assert complete.train_steps(get_spec("wgan")) > complete.train_steps(get_spec("wgan-gp"))


def test_quick_runs_the_models_that_reach_digits_two_at_a_time_with_one_thread():
    quick = get_profile("quick")
    assert quick.jobs == 2 and quick.threads == 1
    assert set(quick.models) | set(quick.left_out) == set(MODEL_NAMES) | set(CONDITIONAL_MODEL_NAMES)
    assert not set(quick.models) & set(quick.left_out)
    assert all("--profile full --models" in reason for reason in quick.left_out.values())
    # at least one epoch for the convolutional models (937 iterations gave digits of 9 classes)
    assert all(quick.train_steps(get_spec(m)) >= 937 for m in ("dcgan", "lsgan"))
    assert quick.train_steps(get_spec("wgan")) == 937 // 5  # asked for explicitly: one epoch
    assert quick.train_steps(get_spec("cgan")) == 5_000  # past 90 % requested-digit accuracy (4,200) with a margin


def test_the_speed_phase_times_every_mode_of_the_suite_frameworks_with_the_runs_threads(tmp_path):
    from benchmark import run_all as run_all_module
    options = run_all_module.options_from(run_all_module.parser().parse_args(
        ["--profile", "quick", "--models", "dcgan,lsgan", "--out", str(tmp_path)]))
    command = suite_plan.speed_command(options, tmp_path / "speed")
    value = dict(zip(command[3::2], command[4::2]))
    assert command[1:3] == ["-m", "benchmark.speed"] and value["--out"] == str(tmp_path / "speed")
    assert value["--models"] == "dcgan"  # the profile's speed models that the suite trains
    assert value["--frameworks"].split(",") == ["pytorch-eager", "pytorch-fused", "pytorch-compile",
                                                "pytorch-compile-step", "pytorch-reduce-overhead", "keras-tf-xla",
                                                "keras-tf-graph", "keras-jax-jit", "keras-tf-fit", "keras-jax-fit",
                                                "keras-torch-fit"]
    assert (value["--threads"], value["--windows"], value["--iterations"], value["--device"]) == ("1", "3", "10", "auto")
    full = suite_plan.SuiteOptions(out=tmp_path, profile=get_profile("full"), models=["vanilla"],
                                   frameworks=["pytorch"], seeds=[0], threads=4)
    command = suite_plan.speed_command(full, tmp_path)
    assert command[command.index("--frameworks") + 1] == ("pytorch-eager,pytorch-fused,pytorch-compile,"
                                                          "pytorch-compile-step,pytorch-reduce-overhead")
    assert command[command.index("--batch-sizes") + 1] == "64,256,1024"
    no_speed = run_all_module.options_from(run_all_module.parser().parse_args(["--profile", "quick", "--no-speed"]))
    assert suite_plan.speed_command(no_speed, tmp_path) is None
    smoke = run_all_module.options_from(run_all_module.parser().parse_args(["--profile", "smoke"]))
    assert suite_plan.speed_command(smoke, tmp_path) is None  # CI's smoke profile has no speed phase


def test_the_suite_times_speed_after_evaluation_and_keeps_a_finished_phase_of_this_machine_only(tmp_path,
                                                                                                  monkeypatch):
    options = suite_plan.SuiteOptions(out=tmp_path, profile=get_profile("quick"), models=["vanilla"],
                                      frameworks=["pytorch"], seeds=[0])
    said = io.StringIO()
    the_suite = suite.Suite(options, stream=said)
    spawned = []

    def spawn(command, env, log_path, folders, training):
        spawned.append((command, folders, training))
        runs.write_json(folders[0] / "speed.json", {"results": [], "fingerprint": machine.fingerprint()})
        return type("Finished", (), {"code": 0, "node": {}})()

    monkeypatch.setattr(the_suite, "_spawn", spawn)
    the_suite.time_speed()
    [(command, folders, training)] = spawned
    assert "benchmark.speed" in command and folders == [tmp_path / "speed"] and not training
    the_suite.time_speed()  # resumed on the same machine and code: speed.json is kept
    assert len(spawned) == 1 and "kept from an earlier invocation on this machine and code" in said.getvalue()

    elsewhere = machine.fingerprint()
    elsewhere["machine"] = {**elsewhere["machine"], "cpu": "Intel(R) Xeon(R) Other CPU", "hostname": "ci-7"}
    runs.write_json(tmp_path / "speed" / "speed.json", {"results": [], "fingerprint": elsewhere})
    the_suite.time_speed()  # a folder carrying another machine's phase (e.g. a committed one): measured again
    assert len(spawned) == 2 and "measured on another machine (Intel(R) Xeon(R) Other CPU" in said.getvalue()
    for recorded, why in (({**machine.fingerprint(), "code": "0" * 64}, "other code"), (None, "no machine")):
        runs.write_json(tmp_path / "speed" / "speed.json", {"results": [], "fingerprint": recorded})
        before = len(said.getvalue())
        the_suite.time_speed()
        assert why in said.getvalue()[before:]
    assert len(spawned) == 4


def test_budget_in_generator_updates_gives_wgan_as_many_updates():
    import dataclasses
    full = dataclasses.replace(get_profile("full"), budget="generator_updates")
    assert full.train_steps(get_spec("wgan")) == full.train_steps(get_spec("dcgan")) == 20 * 937
    assert "generator updates" in full.budget_text() and "5x more" in full.budget_text()
    with pytest.raises(ValueError, match="unknown budget"):
        dataclasses.replace(full, budget="flops")


def test_options_take_the_profile_defaults_and_the_overrides():
    from benchmark import run_all as run_all_module
    options = run_all_module.options_from(run_all_module.parser().parse_args(["--profile", "quick"]))
    assert options.models == list(get_profile("quick").models) and options.jobs == 2 and options.threads == 1
    options = run_all_module.options_from(run_all_module.parser().parse_args(
        ["--profile", "quick", "--models", "wgan", "--jobs", "1", "--threads", "2", "--budget", "generator_updates"]))
    assert options.models == ["wgan"] and options.jobs == 1 and options.threads == 2
    assert options.profile.train_steps(get_spec("wgan")) == 937
    run = suite_plan.plan(options)[0]
    command = suite_plan.train_command(run, Path("run"), options)
    assert command[command.index("--threads") + 1] == "2"
    assert not set(THREAD_VARIABLES) & set(suite_plan.child_env(run, options))  # the child pins itself
    others = suite_plan.child_env(None, options)  # evaluation, references: the suite's count, not every core
    assert all(others[variable] == "2" for variable in THREAD_VARIABLES)


def test_exit_statuses(tmp_path):
    assert suite.describe_exit(-signal.SIGSEGV) == "killed by SIGSEGV"
    assert suite.describe_exit(3) == "exit 3 (diverged)"
    assert suite.training_status(3, tmp_path) == runs.DIVERGED
    assert suite.training_status(4, tmp_path) == runs.INTERRUPTED
    assert suite.training_status(-9, tmp_path) == runs.FAILED
    assert suite.training_status(0, tmp_path) == runs.FAILED  # exit 0 without result.json and samples
    runs.write_json(tmp_path / runs.RESULT, {"status": runs.COMPLETED})
    runs.write_npz(tmp_path / runs.SAMPLES, images=[[0]])
    assert suite.training_status(0, tmp_path) == runs.COMPLETED


def test_folder_state_and_log_tail(tmp_path):
    assert suite.folder_state(tmp_path, 10) is None
    runs.write_json(tmp_path / runs.CONFIG, {"steps": 10})
    runs.write_json(tmp_path / runs.RESULT, {"status": runs.INTERRUPTED})
    assert suite.folder_state(tmp_path, 10) is None
    runs.write_json(tmp_path / runs.RESULT, {"status": runs.DIVERGED})
    assert suite.folder_state(tmp_path, 10) == runs.DIVERGED
    assert suite.folder_state(tmp_path, 20) is None  # another training length: not this suite's run
    (tmp_path / "train.log").write_text("a\n" + "\n".join(f"line {i}" for i in range(30)) + "\r 50%\r100%\n")
    tail = suite.log_tail(tmp_path / "train.log")
    assert len(tail) == suite.LOG_TAIL_LINES and tail[-1] == "100%"


# ------------------------------------------------------------------------------------------ end to end
