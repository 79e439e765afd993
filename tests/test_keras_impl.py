"""The Keras implementation on its own, mirroring tests/test_pytorch_impl.py.

In-process tests run on the backend Keras was imported with (``KERAS_BACKEND``, default tensorflow); the
JAX checks that need a fresh process (backend choice, no TensorFlow import, exact resume) run as
subprocesses.
"""
import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

keras = pytest.importorskip("keras")
from keras import ops  # noqa: E402

from benchmark import initial_weights, runs  # noqa: E402
from benchmark.data import TrainingStream  # noqa: E402
from benchmark.datasets import resolve_data_dir  # noqa: E402
from benchmark.spec import MODEL_NAMES, get_spec, parameter_count  # noqa: E402
from tensorflow_impl import losses as L  # noqa: E402
from tensorflow_impl.layers import BatchNorm  # noqa: E402
from tensorflow_impl.models import build_discriminator, build_generator, count_parameters  # noqa: E402
from tensorflow_impl.sample import main as sample  # noqa: E402
from tensorflow_impl.train import main  # noqa: E402
from tensorflow_impl.trainer import KerasGAN  # noqa: E402
from suites import assert_trained_alike, metrics_without_time  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BACKEND = keras.backend.backend()
TINY = ["--batch-size", "8", "--num-samples", "40", "--curve-samples", "16", "--log-every", "1",
        "--backend", BACKEND]
needs_mnist = pytest.mark.skipif(not (resolve_data_dir() / "train-images-idx3-ubyte.gz").exists(),
                                 reason="MNIST not found: set $MNIST_DIR")


def train(out: Path, model: str = "vanilla", steps: int = 3, *extra: str) -> int:
    return main(["--model", model, "--steps", str(steps), "--out", str(out), *TINY, *extra])


def checkpoint_arrays(run_dir: Path) -> dict[str, np.ndarray]:
    with np.load(run_dir / "checkpoints" / "last.npz") as data:
        return {k: data[k] for k in data.files if k != "meta"}


def built(spec, seed: int = 0) -> tuple[keras.Sequential, keras.Sequential]:
    weights = initial_weights.draw(spec, seed)
    return build_generator(spec, weights["generator"]), build_discriminator(spec, weights["discriminator"])


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_shapes_and_parameter_counts_match_the_spec(name):
    spec = get_spec(name)
    generator, discriminator = built(spec)
    images = ops.convert_to_numpy(generator(np.random.default_rng(0).standard_normal((5, 100)).astype(np.float32)))
    assert images.shape == (5, 28, 28, 1)
    assert -1.0 <= images.min() and images.max() <= 1.0
    assert tuple(discriminator(images).shape) == (5, 1)
    assert count_parameters(generator) == parameter_count(spec.architecture.generator, (100,))
    assert count_parameters(discriminator) == parameter_count(spec.architecture.discriminator, (1, 28, 28))


def test_batch_norm_uses_the_spec_values_not_keras_defaults():
    norms = [layer for layer in built(get_spec("dcgan"))[0].layers if isinstance(layer, BatchNorm)]
    assert norms and all((bn.momentum, bn.epsilon) == (0.1, 1e-5) for bn in norms)
    assert all(abs(float(ops.mean(bn.gamma.value)) - 1.0) < 0.01 and float(ops.max(ops.abs(bn.beta.value))) == 0
               for bn in norms)


def test_batch_norm_updates_the_running_variance_with_the_unbiased_estimate():
    x = np.random.default_rng(0).standard_normal((8, 3)).astype(np.float32) * 2
    bn = BatchNorm(0.1, 1e-5)
    bn(x, training=True)
    expected = 0.9 * 1.0 + 0.1 * x.var(axis=0, ddof=1)
    np.testing.assert_allclose(ops.convert_to_numpy(bn.moving_variance.value), expected, rtol=1e-5)
    np.testing.assert_allclose(ops.convert_to_numpy(bn.moving_mean.value), 0.1 * x.mean(axis=0), rtol=1e-5, atol=1e-7)


REAL, FAKE = np.array([[0.0], [2.0]], np.float32), np.array([[1.0], [-1.0]], np.float32)


def value(x) -> float:
    return float(ops.convert_to_numpy(x))


def test_losses_against_hand_computed_values():
    # softplus(0) = 0.693147, softplus(-2) = 0.126928, softplus(1) = 1.313262, softplus(-1) = 0.313262
    assert value(L.nonsaturating_d(REAL, FAKE)) == pytest.approx((0.693147 + 0.126928) / 2 + (1.313262 + 0.313262) / 2, abs=1e-5)
    assert value(L.nonsaturating_g(FAKE)) == pytest.approx((0.313262 + 1.313262) / 2, abs=1e-5)
    assert value(L.least_squares_d(REAL, FAKE, 0.0, 1.0)) == pytest.approx(0.5 * 1 + 0.5 * 1, abs=1e-6)
    assert value(L.least_squares_d(REAL, FAKE, -1.0, 1.0)) == pytest.approx(0.5 * 1 + 0.5 * (4 + 0) / 2, abs=1e-6)
    assert value(L.least_squares_g(FAKE, 1.0)) == pytest.approx(0.5 * (0 + 4) / 2, abs=1e-6)
    assert value(L.wasserstein_d(REAL, FAKE)) == pytest.approx(0.0 - 1.0)
    assert value(L.wasserstein_g(FAKE)) == pytest.approx(0.0)


def test_gradient_penalty_equals_its_closed_form_on_a_linear_critic():
    critic = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                               keras.layers.Dense(1, kernel_initializer=keras.initializers.RandomNormal(seed=0))])
    rng = np.random.default_rng(0)
    real, fake = (rng.standard_normal((4, 28, 28, 1)).astype(np.float32) for _ in range(2))
    penalty = L.gradient_penalty(lambda x: critic(x), ops.convert_to_tensor(real), ops.convert_to_tensor(fake),
                                 ops.convert_to_tensor(rng.uniform(size=4).astype(np.float32)))
    closed_form = (np.linalg.norm(ops.convert_to_numpy(critic.layers[-1].kernel.value)) - 1.0) ** 2
    assert value(penalty) == pytest.approx(closed_form, rel=1e-5)


def test_clipping_keeps_every_critic_weight_within_the_clip_value():
    critic = built(get_spec("wgan"))[1]
    clipped = L.clip_weights([v.value * 100.0 for v in critic.trainable_variables], 0.01)
    assert max(float(ops.max(ops.abs(v))) for v in clipped) == pytest.approx(0.01)


def test_a_wgan_iteration_clips_and_runs_n_critic_critic_steps():
    """The iteration without XLA (``jit_compile=False``): the same code as the compiled step, which smoke trains."""
    import dataclasses
    spec = get_spec("wgan")
    spec = dataclasses.replace(spec, training=dataclasses.replace(spec.training, batch_size=8))
    gan = KerasGAN(spec, seed=0, device="cpu", jit_compile=False)
    images = np.random.default_rng(0).integers(0, 255, (100, 28, 28), dtype=np.uint8)
    losses = gan.train_step(TrainingStream(images, 8, 100, 0, n_critic=5).step(0))
    assert set(losses) == {"d_loss", "g_loss"}
    assert max(float(ops.max(ops.abs(v.value))) for v in gan.discriminator.trainable_variables) <= 0.01
    assert int(ops.convert_to_numpy(gan.d_optimizer.iterations.value)) == 5
    assert int(ops.convert_to_numpy(gan.g_optimizer.iterations.value)) == 1


@pytest.fixture(scope="module")
def vanilla_run(tmp_path_factory) -> Path:
    """A vanilla run of 4 iterations, trained once for the tests that read it or a copy of it."""
    run_dir = tmp_path_factory.mktemp("vanilla")
    assert train(run_dir, "vanilla", 4) == 0
    return run_dir


@needs_mnist
def test_a_run_continued_or_of_another_seed_equals_or_differs_from_one_trained_at_once(vanilla_run, tmp_path):
    """Two runs of one seed, one of them stopped after 2 iterations and continued: identical metrics, samples and
    weights (a fresh run that was not deterministic could not match the other); another seed's metrics differ.
    (Every run folder's files: tests/test_suite_smoke.py, on the smoke suite's runs of every model.)"""
    assert train(tmp_path / "twice", "vanilla", 2) == 0 and train(tmp_path / "twice", "vanilla", 4) == 0
    assert runs.read_json(tmp_path / "twice" / runs.CONFIG)["resumed_from_step"] == 2
    assert_trained_alike(vanilla_run, tmp_path / "twice", checkpoint_arrays)
    assert train(tmp_path / "other", "vanilla", 4, "--seed", "1") == 0
    assert metrics_without_time(vanilla_run) != metrics_without_time(tmp_path / "other")


@needs_mnist
def test_a_nan_loss_ends_the_run_as_diverged(tmp_path, monkeypatch):
    monkeypatch.setattr(L, "nonsaturating_g", lambda fake: ops.mean(fake) * float("nan"))
    assert train(tmp_path, "vanilla", 5) == runs.EXIT_CODES["diverged"] == 3
    result = runs.read_json(tmp_path / runs.RESULT)
    assert result["status"] == "diverged" and result["step"] == 1 and result["losses"]["g_loss"] == "nan"
    assert not (tmp_path / runs.SAMPLES).exists()


@needs_mnist
def test_a_checkpoint_of_another_model_is_refused(vanilla_run, tmp_path, capsys):
    shutil.copytree(vanilla_run, tmp_path / "run")
    assert train(tmp_path / "run", "mlp+least_squares", 5) == 2
    assert "holds a run with model 'vanilla', this run has 'mlp+least_squares'" in capsys.readouterr().err


def test_another_backend_in_the_same_process_is_refused():
    from benchmark.training import RunError
    from tensorflow_impl.seeding import select_backend
    other = "jax" if BACKEND == "tensorflow" else "tensorflow"
    with pytest.raises(RunError, match=f"already imported with the {BACKEND} backend"):
        select_backend(other)


@needs_mnist
def test_sample_cli_writes_a_grid_and_an_interpolation_strip(vanilla_run, tmp_path):
    """The CLI's ``main`` in this process (its arguments, loading and drawing), on the backend the run trained with."""
    for extra, shape in (([], (2 + 2 * 30, 2 + 8 * 30)), (["--interpolate"], (2 + 3 * 30, 2 + 10 * 30))):
        out = tmp_path / "grid.png"
        assert sample(["--run", str(vanilla_run), "--n", "16" if not extra else "3", "--out", str(out), *extra]) == 0
        assert np.asarray(Image.open(out)).shape == shape


JAX_SCRIPT = """
import json, sys
import keras
import numpy as np
from benchmark import sampling
from tensorflow_impl.train import main, make_trainer
out = sys.argv[1]
common = ["--model", "dcgan", "--batch-size", "8", "--num-samples", "16", "--curve-samples", "8", "--log-every", "1",
          "--backend", "jax"]
codes = [main([*common, "--steps", "3", "--out", out + "/once"]), main([*common, "--steps", "2", "--out", out + "/twice"]),
         main([*common, "--steps", "3", "--out", out + "/twice"])]
noise = np.random.default_rng(5).standard_normal((6, 100)).astype(np.float32)
native = keras.saving.load_model(out + "/once/export/generator.keras")(noise)
trained, _ = sampling.load_trained(out + "/once", lambda spec, config: make_trainer(spec, config, compile_step=False))
np.savez(out + "/drawn.npz", noise=noise, native=np.asarray(native)[..., 0], trained=trained.generate(noise))
print(json.dumps({"codes": codes, "tensorflow_imported": "tensorflow" in sys.modules}))
"""


@needs_mnist
@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax not installed")
def test_jax_backend_trains_resumes_exactly_and_never_imports_tensorflow(tmp_path):
    """Also: the run's ``export/generator.keras``, written without TensorFlow, is the trained generator loaded by
    ``keras.saving.load_model`` on JAX (the child) and on this process's backend (TensorFlow unless told)."""
    result = subprocess.run([sys.executable, "-c", JAX_SCRIPT, str(tmp_path)], cwd=ROOT, capture_output=True,
                            text=True, env={**__import__("os").environ, "KERAS_BACKEND": "jax"})
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {"codes": [0, 0, 0], "tensorflow_imported": False}
    drawn = np.load(tmp_path / "drawn.npz")
    here = keras.saving.load_model(tmp_path / "once" / "export" / "generator.keras")(drawn["noise"])
    assert drawn["trained"].shape == (6, 28, 28) and drawn["trained"].std() > 0.01
    assert np.abs(drawn["native"] - drawn["trained"]).max() <= 1e-5
    assert np.abs(ops.convert_to_numpy(here)[..., 0] - drawn["trained"]).max() <= 1e-5
    assert runs.read_json(tmp_path / "once" / runs.CONFIG)["backend"] == "jax"
    assert metrics_without_time(tmp_path / "once") == metrics_without_time(tmp_path / "twice")
    once, twice = checkpoint_arrays(tmp_path / "once"), checkpoint_arrays(tmp_path / "twice")
    assert all(np.array_equal(once[k], twice[k]) for k in once)
