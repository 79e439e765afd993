"""Conditional models in Keras, mirroring tests/test_pytorch_conditional.py (on the backend Keras was imported with;
the JAX comparison of keras-fit with the stateless step runs in a subprocess)."""
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")
from keras import ops  # noqa: E402

from benchmark import initial_weights, runs  # noqa: E402
from benchmark.data import TrainingStream, resolve_data_dir  # noqa: E402
from benchmark.parity import probes  # noqa: E402
from benchmark.spec import GANSpec, get_spec  # noqa: E402
from tensorflow_impl.models import build_discriminator, build_generator  # noqa: E402
from tensorflow_impl.sample import main as sample_main  # noqa: E402
from tensorflow_impl.train import main  # noqa: E402
from tensorflow_impl.trainer import KerasGAN  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BACKEND = keras.backend.backend()
TINY = ["--batch-size", "8", "--num-samples", "40", "--curve-samples", "20", "--log-every", "1", "--backend", BACKEND]
needs_mnist = pytest.mark.skipif(not (resolve_data_dir() / "train-images-idx3-ubyte.gz").exists(),
                                 reason="MNIST not found: set $MNIST_DIR")


def train(out: Path, model: str, steps: int, *extra: str) -> int:
    return main(["--model", model, "--steps", str(steps), "--out", str(out), *TINY, *extra])


@pytest.mark.parametrize("name", ["cgan", "cdcgan"])
def test_the_requested_label_changes_both_networks_outputs(name):
    spec = get_spec(name)
    weights = initial_weights.draw(spec, 0)
    generator, discriminator = build_generator(spec, weights["generator"]), build_discriminator(
        spec, weights["discriminator"])
    noise, images = np.random.default_rng(0).standard_normal((4, 100)).astype(np.float32), np.zeros((4, 28, 28, 1))
    fakes = [ops.convert_to_numpy(generator([noise, np.full(4, label, np.int32)])) for label in (0, 1)]
    scores = [ops.convert_to_numpy(discriminator([images, np.full(4, label, np.int32)])) for label in (0, 1)]
    assert fakes[0].shape == (4, 28, 28, 1) and scores[0].shape == (4, 1)
    assert np.abs(fakes[0] - fakes[1]).max() > 1e-4 and np.abs(scores[0] - scores[1]).max() > 1e-4


def test_a_conditional_iteration_reads_the_labels_of_its_inputs():
    rng = np.random.default_rng(0)
    images, labels = rng.integers(0, 256, (64, 28, 28), dtype=np.uint8), rng.integers(0, 10, 64)
    losses = []
    for shift in (0, 1):
        stream = TrainingStream(images, 8, 100, 0, labels=(labels + shift) % 10, num_classes=10)
        gan = KerasGAN(get_spec("cgan"), 0, "cpu", jit_compile=False)
        losses.append({k: float(ops.convert_to_numpy(v)) for k, v in gan.train_step(stream.step(0)).items()})
    assert losses[0]["d_loss"] != losses[1]["d_loss"]


@needs_mnist
def test_cgan_trains_resumes_records_its_labels_and_samples_by_label(tmp_path, capsys):
    """(Resuming exactly is the shared driver's, tested unconditionally; the labels are pure functions of the step.)"""
    from PIL import Image
    assert train(tmp_path / "once", "cgan", 2) == 0 and train(tmp_path / "once", "cgan", 3) == 0
    assert runs.read_json(tmp_path / "once" / runs.CONFIG)["resumed_from_step"] == 2
    samples = np.load(tmp_path / "once" / runs.SAMPLES)
    assert samples["images"].shape == (40, 28, 28) and np.array_equal(np.bincount(samples["labels"]), np.full(10, 4))
    out = tmp_path / "grid.png"
    assert sample_main(["--run", str(tmp_path / "once"), "--out", str(out), "--labels", "all", "--n", "3"]) == 0
    assert np.asarray(Image.open(out)).shape == (2 + 10 * 30, 2 + 3 * 30)
    assert sample_main(["--run", str(tmp_path / "once"), "--out", str(out), "--label", "12"]) == runs.EXIT_USAGE
    assert "--label 12: cgan has classes 0 to 9" in capsys.readouterr().err


# The conditional presets, and a conditional critic with a gradient penalty (its interpolates take the real labels).
FIT_MODELS = ("cgan", "cdcgan", "mlp+wasserstein_gp+embedding")
# On JAX the MLPs only: compiling cdcgan's convolutions (stateless step and fit) takes about 50 s on 2 busy cores.
BACKEND_MODELS = {"tensorflow": FIT_MODELS, "jax": ("cgan", "mlp+wasserstein_gp+embedding")}


def small_float64(name: str) -> GANSpec:
    """The preset at batch 8 in float64, hidden widths / 8 (the parity's narrow models: the same layers and code)."""
    return probes.narrow(probes.probe_spec(get_spec(name), 8), 8)


def fit_vs_stateless(name: str, steps: int = 3) -> dict[str, float]:
    """Largest relative differences between ``keras-fit``'s and the stateless step's losses, variables (networks'
    and optimisers') and samples by label after ``steps`` iterations from the same seed and inputs, in float64 on the
    current backend."""
    from tensorflow_impl.fit_trainer import KerasFitTrainer

    spec = small_float64(name)
    rng = np.random.default_rng(0)
    images, labels = rng.integers(0, 256, (64, 28, 28), dtype=np.uint8), rng.integers(0, 10, 64)
    stream = TrainingStream(images, 8, spec.training.noise_dim, 0, spec.objective.n_critic, spec.training.noise,
                            labels=labels, num_classes=10)
    stateless = KerasGAN(spec, 0, "cpu", jit_compile=False)
    expected = [{k: float(ops.convert_to_numpy(v)) for k, v in stateless.train_step(stream.step(i)).items()}
                for i in range(steps)]
    fit, got = KerasFitTrainer(spec, 0, "cpu"), []
    fit.run_steps(stream.step, 0, steps, lambda step, logs: got.append({k: float(v) for k, v in logs.items()}) or True)
    noise, digits = rng.standard_normal((4, spec.training.noise_dim)), np.arange(4)
    samples = [gan.generate(noise, digits, dtype="float64") for gan in (fit, stateless)]  # fit's syncs its state
    assert [sorted(losses) for losses in got] == [sorted(losses) for losses in expected]
    weights = [(ops.convert_to_numpy(a.value), ops.convert_to_numpy(b.value))
               for group_a, group_b in zip(fit._variables(), stateless._variables()) for a, b in zip(group_a, group_b)]
    assert all(a.dtype == np.float64 and a.shape == b.shape for a, b in weights if a.dtype.kind == "f")
    return {"losses": max(abs(g[k] - e[k]) / abs(e[k]) for g, e in zip(got, expected) for k in e),
            "weights": max(float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-300)) for a, b in weights),
            "samples": float(np.abs(samples[0] - samples[1]).max() / np.abs(samples[1]).max())}


@pytest.mark.parametrize("backend", BACKEND_MODELS)
def test_keras_fit_trains_conditional_models_as_the_stateless_step(backend):
    """In a fresh process per backend: float64 is process-wide (Keras caches its global dtype policy from the float
    type of the first layer built, and JAX needs its 64-bit mode), so it neither leaks into nor inherits from other
    tests."""
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} not installed")
    script = (f"import json, sys; sys.path.insert(0, 'tests'); from test_keras_conditional import fit_vs_stateless; "
              f"print(json.dumps({{name: fit_vs_stateless(name) for name in {list(BACKEND_MODELS[backend])!r}}}))")
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True,
                            env={**os.environ, "KERAS_BACKEND": backend}, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    differences = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(differences) == set(BACKEND_MODELS[backend])
    assert all(difference < 1e-9 for model in differences.values() for difference in model.values()), differences
