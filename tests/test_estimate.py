"""The suite's up-front estimate: the reference costs scaled by this machine's calibration, the plan it prints."""
from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import pytest

from benchmark import estimate, suite_plan
from benchmark.frameworks import FRAMEWORKS
from benchmark.profiles import get_profile
from benchmark.spec import get_spec


def quick(**changes) -> suite_plan.SuiteOptions:
    fields = dict(out=Path("unused"), profile=get_profile("quick"), models=["vanilla", "dcgan"],
                  frameworks=["pytorch", "keras-tensorflow"], seeds=[0, 1], jobs=2, threads=1)
    return suite_plan.SuiteOptions(**{**fields, **changes})


def test_a_run_costs_its_iterations_at_the_reference_rate_plus_its_overhead():
    dcgan = estimate.MEASURED_MS["dcgan"]
    run = suite_plan.PlannedRun("dcgan", "pytorch", 0, 1500)
    per_iteration = dcgan["pytorch"] / 1000
    assert estimate.run_seconds(run, 1.0) == pytest.approx(1500 * per_iteration + estimate.RUN_OVERHEAD_SECONDS)
    assert estimate.run_seconds(run, 2.0) == pytest.approx(2 * 1500 * per_iteration + estimate.RUN_OVERHEAD_SECONDS)
    fit = suite_plan.PlannedRun("dcgan", "keras-tf-fit", 0, 10)
    assert estimate.run_seconds(fit, 1.0) == pytest.approx(10 * dcgan["keras-tf-fit"] / 1000
                                                           + estimate.RUN_OVERHEAD_SECONDS)
    assert estimate.run_seconds(suite_plan.PlannedRun("dcgan", "pytorch-reduce-overhead", 0, 10), 1.0) is None


def test_another_data_set_scales_the_mnist_costs_by_its_networks_multiply_adds():
    # per sample, generator + discriminator, counted on the PyTorch modules built from each spec (forward hooks on
    # every Linear, Conv2d and ConvTranspose2d)
    assert estimate.multiply_adds(get_spec("dcgan")) == 26_194_944
    assert estimate.multiply_adds(get_spec("dcgan", "cifar10")) == 35_230_720
    assert estimate.multiply_adds(get_spec("vanilla", "cifar10")) == 7_628_032
    assert estimate.shape_factor("dcgan", "fashion-mnist") == 1.0
    run = suite_plan.PlannedRun("dcgan", "pytorch", 0, 1500)
    factor = 35_230_720 / 26_194_944
    assert estimate.run_seconds(run, 1.0, "cifar10") == pytest.approx(
        1500 * estimate.MEASURED_MS["dcgan"]["pytorch"] / 1000 * factor + estimate.RUN_OVERHEAD_SECONDS)


def test_every_mode_the_cpu_runs_has_a_measured_cost_and_unmeasured_models_scale_like_dcgan():
    cpu_modes = {entry.name for entry in FRAMEWORKS.values() if not entry.requires_gpu}
    assert set(estimate.MEASURED_MS["vanilla"]) == set(estimate.MEASURED_MS["dcgan"]) == cpu_modes
    dcgan, wgan_gp = estimate.MEASURED_MS["dcgan"], estimate.MEASURED_MS["wgan-gp"]
    assert estimate.reference_ms("lsgan", "keras-jax-fit") == estimate.reference_ms("dcgan", "keras-jax-fit") \
        == dcgan["keras-jax-fit"]
    assert estimate.reference_ms("cgan", "keras-tf-fit") == estimate.MEASURED_MS["vanilla"]["keras-tf-fit"]
    assert estimate.reference_ms("wgan", "pytorch") == estimate.MEASURED_MS["wgan"]["pytorch"]
    assert estimate.reference_ms("wgan-gp", "keras-tf-fit") == pytest.approx(
        wgan_gp["pytorch"] * dcgan["keras-tf-fit"] / dcgan["pytorch"])
    assert estimate.reference_ms("no-such-model", "pytorch") is None


def test_the_suite_estimate_divides_by_the_jobs_and_adds_the_speed_phase():
    without_speed = quick(speed=False)
    runs = suite_plan.plan(without_speed)
    serial = sum(estimate.run_seconds(run, 1.0) for run in runs)
    assert estimate.estimate(without_speed).seconds == pytest.approx(serial / 2)
    assert estimate.estimate(quick(seeds=[0], speed=False)).seconds == pytest.approx(serial / 4)
    unknown = estimate.estimate(quick(frameworks=["pytorch-reduce-overhead"], speed=False))
    assert unknown.seconds == 0 and len(unknown.unknown) == 4


def test_the_speed_phase_costs_every_cpu_mode_of_the_suites_families():
    """The quick profile times vanilla and dcgan, 3 windows of 10 iterations, in 2 processes per mode: with PyTorch
    and Keras trained, every CPU mode of both (the fit modes included); with PyTorch alone, its 4."""
    def speed_seconds(frameworks):
        return (estimate.estimate(quick(frameworks=frameworks)).seconds
                - estimate.estimate(quick(frameworks=frameworks, speed=False)).seconds)

    def expected(names):
        return sum(2 * (estimate.SPEED_WORKER_SECONDS + 30 * estimate.MEASURED_MS[model][name] / 1000)
                   for model in ("vanilla", "dcgan") for name in names)

    assert (quick().profile.speed_windows, quick().profile.speed_iterations) == (3, 10)
    pytorch = ["pytorch", "pytorch-fused", "pytorch-compile", "pytorch-compile-step"]
    assert speed_seconds(["pytorch", "keras-tensorflow"]) == pytest.approx(expected(estimate.MEASURED_MS["dcgan"]))
    assert speed_seconds(["pytorch"]) == pytest.approx(expected(pytorch))


def test_the_eta_scales_each_runs_reference_cost_by_how_much_longer_the_done_runs_took():
    """Runs done at twice their reference cost make every run left expected at twice its own: a WGAN left after a
    vanilla run is hours, not the vanilla run's minutes; a running run's trained seconds come off; the longest run
    left bounds the wall time from below; a run with no reference cost takes the done runs' mean."""
    vanilla = suite_plan.PlannedRun("vanilla", "pytorch", 0, 10_000)
    wgan = suite_plan.PlannedRun("wgan", "pytorch", 0, 4_000)
    dcgan = [suite_plan.PlannedRun("dcgan", "keras-tensorflow", seed, 2_000) for seed in (0, 1)]
    done = [(vanilla, 2 * estimate.run_seconds(vanilla, 1.0))]
    wgan_here, dcgan_here = 2 * estimate.run_seconds(wgan, 1.0), 2 * estimate.run_seconds(dcgan[0], 1.0)
    assert wgan_here > 9 * done[0][1]
    assert estimate.time_left([(wgan, 0.0), (dcgan[0], 0.0)], done, jobs=2) == pytest.approx(wgan_here)
    assert estimate.time_left([(dcgan[0], 0.0), (dcgan[1], 0.0)], done, jobs=2) == pytest.approx(dcgan_here)
    assert estimate.time_left([(dcgan[0], 0.0), (dcgan[1], 0.0)], done, jobs=1) == pytest.approx(2 * dcgan_here)
    assert estimate.time_left([(wgan, 600.0)], done, jobs=2) == pytest.approx(wgan_here - 600.0)
    assert estimate.time_left([(wgan, 1e9)], done, jobs=2) == 0.0
    assert estimate.time_left([], done, jobs=2) == 0.0
    assert estimate.time_left([(wgan, 0.0)], [], jobs=2) is None
    unmeasured = suite_plan.PlannedRun("vanilla", "pytorch-reduce-overhead", 0, 10)
    assert estimate.time_left([(unmeasured, 0.0)], [(vanilla, 100.0), (dcgan[0], 300.0)], jobs=1) == 200.0


def test_the_suite_prints_after_each_run_the_eta_of_the_steps_left(tmp_path, monkeypatch):
    """vanilla, resumed from step 5,000 of 10,000, trains its last 5,000 at twice their reference cost; wgan, which
    waits with 3,000 of its 4,000 iterations checkpointed, is expected to take twice the cost of its last 1,000."""
    from benchmark import runs, suite
    from benchmark.training import write_timing
    options = suite_plan.SuiteOptions(out=tmp_path, profile=get_profile("cpu-complete"), models=["vanilla", "wgan"],
                                      frameworks=["pytorch"], seeds=[0], speed=False, resume=True)
    printed = io.StringIO()
    harness = suite.Suite(options, stream=printed)
    wgan_dir = harness.run_dir(suite_plan.PlannedRun("wgan", "pytorch", 0, 4_000))
    wgan_dir.mkdir(parents=True)
    write_timing(wgan_dir / runs.TIMING, {"resumed_from_step": 0, "end_step": 3_000, "setup_seconds": 1.0,
                                          "warmup_seconds": 1.0, "steady_steps": 2_995, "steady_seconds": 3e3,
                                          "train_seconds": 3e3, "total_seconds": 3e3}, 3e3, 320)

    def train(run):  # what Suite.train records of a run that resumed at 5,000 (vanilla) and of the rest
        start = 5_000 if run.model == "vanilla" else 3_000
        took = 2 * estimate.run_seconds(dataclasses.replace(run, steps=run.steps - start), 1.0)
        return suite.Outcome(run.name, run.model, run.framework, run.seed, run.steps, run.name, resumed_from_step=start,
                             status=runs.COMPLETED, exit="exit 0", train_wall_seconds=took)

    monkeypatch.setattr(harness, "train", train)
    monkeypatch.setattr(harness, "evaluate", lambda: None)
    harness.run()
    vanilla, wgan = [line for line in printed.getvalue().splitlines() if line.startswith("[")]
    wgan_here = 2 * estimate.run_seconds(suite_plan.PlannedRun("wgan", "pytorch", 0, 1_000), 1.0)
    assert vanilla.startswith("[1/2] vanilla-pytorch-seed0: completed")
    assert vanilla.endswith(f", ETA {suite._duration(wgan_here)} + evaluation")
    assert wgan.endswith(", training done; evaluation next")


def test_the_plan_says_what_runs_how_long_here_and_how_to_run_less():
    text = estimate.plan_text(quick(), gflops=estimate.REFERENCE_GFLOPS / 2)  # a machine half as fast
    first, fewer = text.splitlines()
    assert first.startswith("plan: 8 training runs (vanilla, dcgan × pytorch, keras-tensorflow × seeds 0, 1), 2 at a "
                            "time, 1 thread(s) each; expected ≈ ")
    doubled = estimate.minutes(estimate.estimate(quick(), scale=2.0).seconds)
    assert f"expected ≈ {doubled} on this machine" in first
    assert fewer.startswith("fewer: --seeds 0 (≈ ") and "--models vanilla (≈ " in fewer
    assert "not calibrated" in estimate.plan_text(quick(), gflops=None)


def test_calibration_measures_this_machine():
    gflops = estimate.calibrate()
    assert gflops is not None and 0.5 < gflops < 10_000
