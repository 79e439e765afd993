"""Conditional models in Keras, mirroring tests/test_pytorch_conditional.py (on the backend Keras was imported with).
``Model.fit`` on the conditional models is compared with the stateless step and PyTorch in float64, on TensorFlow and
JAX, in tests/test_parity.py."""
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")
from keras import ops  # noqa: E402

from benchmark import initial_weights, runs  # noqa: E402
from benchmark.data import TrainingStream  # noqa: E402
from benchmark.datasets import resolve_data_dir  # noqa: E402
from benchmark.spec import get_spec  # noqa: E402
from tensorflow_impl.models import build_discriminator, build_generator  # noqa: E402
from tensorflow_impl.sample import main as sample_main  # noqa: E402
from tensorflow_impl.train import main  # noqa: E402
from tensorflow_impl.trainer import KerasGAN  # noqa: E402

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
