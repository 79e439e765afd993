"""The one-minute toy GAN: its spec and schedule, the sampled data set, the seeded inputs, the measures, the
trainers' restart, and the ``toy`` profile end to end on a reduced size (CI)."""
import csv
import dataclasses
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmark import datasets, toy_measures as tm, toy_training
from benchmark.data import sample_noise
from benchmark.spec import MODEL_NAMES, GANSpec, SpecError, StepDecay, check_shapes, get_spec

REPO = Path(__file__).resolve().parent.parent
TARGET = datasets.get_dataset("gaussian-1d").sampler
STEPS = 2  # the end-to-end test's iterations per seed


def test_the_toy_spec_is_the_published_setup():
    spec = get_spec("toy")
    check_shapes(spec)
    generator, discriminator = spec.architecture.generator.layers, spec.architecture.discriminator.layers
    assert [(layer.units, layer.activation) for layer in generator] == [(32, "relu"), (32, "relu"), (1, "linear")]
    assert [(layer.units, layer.activation, layer.negative_slope) for layer in discriminator] == [
        (64, "leaky_relu", 0.2), (64, "leaky_relu", 0.2), (1, "linear", 0.0)]
    adam = spec.objective.d_optimizer
    assert spec.objective.g_optimizer == adam and spec.objective.loss == "nonsaturating" and spec.objective.on_logits
    assert (adam.lr, adam.beta1, adam.beta2, adam.schedule) == (1e-3, 0.5, 0.999, StepDecay(every=2_000, factor=0.5))
    training = spec.training
    assert (training.batch_size, training.noise_dim, training.noise, training.steps) == (1_024, 1, "uniform01", 5_000)
    assert spec.architecture.dataset == "gaussian-1d" and tuple(spec.architecture.image_shape) == (1,)
    assert (TARGET.mean, TARGET.std) == (4.0, 1.25)
    assert "toy" not in MODEL_NAMES  # the image suite's presets do not include it
    assert GANSpec.from_json(spec.to_json()) == spec
    assert get_spec("toy-1k").objective.d_optimizer.schedule == StepDecay(every=400, factor=0.5)


def test_step_decay_learning_rates():
    adam = get_spec("toy").objective.g_optimizer
    assert [adam.learning_rate(t) for t in (0, 1_999, 2_000, 3_999, 4_000)] == [1e-3, 1e-3, 5e-4, 5e-4, 2.5e-4]
    constant = dataclasses.replace(adam, schedule=None)
    assert constant.learning_rate(10 ** 6) == 1e-3
    for every, factor in ((0, 0.5), (10, 0.0), (10, 1.5)):
        with pytest.raises(SpecError, match="step decay needs"):
            StepDecay(every, factor)


def test_unknown_model_lists_the_toy():
    with pytest.raises(SpecError, match="toy"):
        get_spec("no-such-model")


def test_the_gaussian_data_set_is_a_seeded_sampler_without_files():
    first = TARGET.sample(np.random.default_rng(3), 5)
    assert first.shape == (5, 1) and np.array_equal(first, TARGET.sample(np.random.default_rng(3), 5))
    assert TARGET.density(4.0) == pytest.approx(1 / (1.25 * np.sqrt(2 * np.pi)))
    with pytest.raises(datasets.DataError, match="sampled, not loaded"):
        datasets.load_dataset("train", dataset="gaussian-1d")
    entry = datasets.get_dataset("gaussian-1d")
    with pytest.raises(datasets.DataError, match="no files or loader"):
        datasets.register_dataset(dataclasses.replace(entry, name="other", files={"train": ("a", "b")}))


def test_unit_uniform_noise_lies_in_zero_one():
    noise = sample_noise(np.random.default_rng(0), 10_000, 1, "uniform01")
    assert noise.dtype == np.float32 and 0.0 <= noise.min() and noise.max() < 1.0 and abs(noise.mean() - 0.5) < 0.02


def test_toy_inputs_are_a_pure_function_of_seed_and_step():
    spec = get_spec("toy")
    stream = toy_training.ToyStream(TARGET, spec, seed=4)
    first, again = stream.step(7), toy_training.ToyStream(TARGET, spec, seed=4).step(7)
    for a, b in zip(dataclasses.astuple(first), dataclasses.astuple(again)):
        assert np.array_equal(a, b)
    assert first.real.shape == (1, 1_024) and first.d_noise.shape == (1, 1_024, 1) and first.g_noise.shape == (1_024, 1)
    assert abs(first.real.mean() - 4.0) < 0.15 and abs(first.real.std() - 1.25) < 0.1
    assert not np.array_equal(first.real, toy_training.ToyStream(TARGET, spec, seed=5).step(7).real)
    assert not np.array_equal(first.real, stream.step(8).real)


def test_measured_steps_include_the_start_and_the_end():
    assert toy_training.measured_steps(10, 4) == [0, 4, 8, 10]
    assert toy_training.measured_steps(1_000, 50) == list(range(0, 1_001, 50))


def test_measures_are_exact_on_known_distributions():
    x = TARGET.sample(np.random.default_rng(0), 2_000)[:, 0]
    assert tm.wasserstein1(x, x) == 0.0 and tm.ks_statistic(x, x) == 0.0
    assert tm.wasserstein1(x + 0.5, x) == pytest.approx(0.5, abs=1e-12)  # a shift moves every point by 0.5
    assert tm.ks_statistic(x + 100.0, x) == 1.0
    assert tm.discriminator_confidence(np.zeros(5)) == 0.0
    assert tm.discriminator_confidence(np.array([0.0, -50.0])) == pytest.approx(0.5)
    grid = tm.grid(TARGET)
    assert (grid[0], grid[-1], len(grid)) == (-1.0, 9.0, tm.GRID_POINTS)
    measured = tm.measure(x + 1.0, x, TARGET, np.zeros(len(grid)))
    assert measured[tm.W1] == pytest.approx(1.0) and measured[tm.D_MAX] == 0.0
    assert measured[tm.MEAN_ERROR] == pytest.approx(x.mean() + 1.0 - 4.0)
    assert measured[tm.STD_ERROR] == pytest.approx(x.std() - 1.25)
    diverged = tm.measure(np.array([np.nan, 1.0]), x, TARGET, np.zeros(len(grid)))
    assert set(diverged) == set(tm.MEASURES) and all(np.isnan(v) for v in diverged.values())


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch not installed")
def test_pytorch_schedule_and_restart():
    """The schedule sets each update's learning rate from the updates made; a restarted trainer equals a fresh one
    of that seed bitwise (weights and the schedule's count start again)."""
    from pytorch_impl.train import TorchGAN

    toy = get_spec("toy")
    scheduled = dataclasses.replace(toy.objective.g_optimizer, schedule=StepDecay(every=1, factor=0.5))
    spec = dataclasses.replace(toy, objective=dataclasses.replace(toy.objective, g_optimizer=scheduled,
                                                                  d_optimizer=scheduled),
                               training=dataclasses.replace(toy.training, batch_size=16))
    stream = toy_training.ToyStream(TARGET, spec, seed=1)
    restarted, fresh = TorchGAN(spec, 0, "cpu"), TorchGAN(spec, 1, "cpu")
    for step in range(3):
        restarted.train_step(stream.step(step))
    assert restarted.g_optimizer.param_groups[0]["lr"] == pytest.approx(1e-3 * 0.5 ** 2)
    restarted.restart(1)
    for step in range(3):
        for gan in (restarted, fresh):
            gan.train_step(stream.step(step))
    for a, b in zip(restarted.generator.parameters(), fresh.generator.parameters()):
        assert np.array_equal(a.detach().numpy(), b.detach().numpy())
    assert restarted.d_optimizer.param_groups[0]["lr"] == fresh.d_optimizer.param_groups[0]["lr"] == 2.5e-4


def _rows(path: Path) -> list[dict]:
    with open(path) as handle:
        return list(csv.DictReader(handle))


@pytest.mark.skipif(any(importlib.util.find_spec(m) is None for m in ("torch", "keras", "jax", "tensorflow")),
                    reason="the toy profile needs torch, keras, tensorflow and jax")
def test_toy_profile_end_to_end(tmp_path):
    """``run_all --profile toy`` on 2 seeds x 2 iterations (the count is not the subject; the processes' start-up is
    most of the cost): three framework modes, the report with its curves,
    paired verdicts and one GIF per framework; the numbers are computed (W1 of the target against itself near 0, of
    an untrained generator large) and paired (iteration 0 of a seed: the same initial weights in every framework,
    the second seed too, which Keras reaches by restarting its compiled trainer)."""
    out = tmp_path / "toy"
    done = subprocess.run([sys.executable, "benchmark/run_all.py", "--profile", "toy", "--seeds", "0,1", "--steps",
                           str(STEPS), "--out", str(out)], cwd=REPO, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    suite = json.loads((out / "toy_suite.json").read_text())
    assert suite["frameworks"] == ["pytorch", "keras-tensorflow", "keras-jax"]
    assert all(outcome["exit_code"] == 0 for outcome in suite["outcomes"].values())
    report = (out / "report.md").read_text()
    assert "Paired difference of the final W1" in report and report.count("| Keras") >= 2
    rows = _rows(out / "summary.csv")
    assert len(rows) == 6 and {row["status"] for row in rows} == {"completed"}
    assert all(float(row["untrained_w1"]) > 2.0 for row in rows)
    from benchmark.report import toy as toy_report
    assert toy_report.reference_w1(TARGET, 2_000) < 0.1
    for seed in ("0", "1"):
        untrained = [float(row["untrained_w1"]) for row in rows if row["seed"] == seed]
        assert max(untrained) - min(untrained) < 1e-3
    from PIL import Image
    for framework in suite["frameworks"]:
        with Image.open(out / "plots" / f"toy_{framework}_seed0.gif") as gif:
            assert gif.n_frames == STEPS + 1  # iterations 0..STEPS, measured every iteration
        assert (out / "plots" / f"toy_{framework}_seed0_final.png").stat().st_size > 0
    assert (out / "plots" / "toy_curves.png").stat().st_size > 0


def test_the_toy_profile_plan():
    """``run_all --profile toy``'s defaults: 3 framework modes, 10 seeds, the compressed length, 20 measures; an image
    model is refused with the valid toy names."""
    from benchmark import run_all, toy_suite
    from benchmark.profiles import get_profile
    from benchmark.suite_plan import SuiteError

    profile = get_profile("toy")
    plan = toy_suite.plan_from(run_all.parser().parse_args(["--profile", "toy"]), profile)
    assert [f.name for f in plan.frameworks] == ["pytorch", "keras-tensorflow", "keras-jax"]
    assert (plan.model, plan.seeds, plan.steps, plan.measure_every) == ("toy-1k", list(range(10)), 1_000, 50)
    assert (plan.jobs, plan.threads, plan.samples) == (2, 1, 2_000)
    command = toy_suite.command(plan, plan.frameworks[2])
    assert command[1:3] == ["-m", "tensorflow_impl.toy"] and command[-2:] == ["--backend", "jax"]
    with pytest.raises(SuiteError, match="toy, toy-1k"):
        toy_suite.plan_from(run_all.parser().parse_args(["--profile", "toy", "--models", "dcgan"]), profile)
