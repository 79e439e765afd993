"""Conditional models in PyTorch: labels change the outputs, train, resume exactly and sample by label."""
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmark import initial_weights, runs
from benchmark.data import TrainingStream
from benchmark.datasets import resolve_data_dir
from benchmark.spec import get_spec
from pytorch_impl.models import build_discriminator, build_generator
from pytorch_impl.sample import main as sample_main
from pytorch_impl.train import TorchGAN, main

TINY = ["--batch-size", "8", "--num-samples", "40", "--curve-samples", "20", "--log-every", "1"]
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
    generator.eval(), discriminator.eval()
    noise, images = torch.randn(4, 100, generator=torch.Generator().manual_seed(0)), torch.zeros(4, 1, 28, 28)
    with torch.no_grad():
        fakes = [generator(noise, torch.full((4,), label)) for label in (0, 1)]
        scores = [discriminator(images, torch.full((4,), label)) for label in (0, 1)]
    assert fakes[0].shape == (4, 1, 28, 28) and scores[0].shape == (4, 1)
    assert (fakes[0] - fakes[1]).abs().max() > 1e-4 and (scores[0] - scores[1]).abs().max() > 1e-4


def test_a_conditional_iteration_reads_the_labels_of_its_inputs():
    rng = np.random.default_rng(0)
    images, labels = rng.integers(0, 256, (64, 28, 28), dtype=np.uint8), rng.integers(0, 10, 64)
    losses = []
    for shift in (0, 1):
        stream = TrainingStream(images, 8, 100, 0, labels=(labels + shift) % 10, num_classes=10)
        losses.append({k: float(v) for k, v in TorchGAN(get_spec("cgan"), 0, "cpu").train_step(stream.step(0)).items()})
    assert losses[0]["d_loss"] != losses[1]["d_loss"]


@needs_mnist
def test_cgan_trains_resumes_exactly_and_records_its_labels(tmp_path):
    assert train(tmp_path / "once", "cgan", 4) == 0
    assert train(tmp_path / "twice", "cgan", 2) == 0 and train(tmp_path / "twice", "cgan", 4) == 0
    once, twice = (torch.load(tmp_path / run / "checkpoints" / "last.pt", weights_only=True)
                   for run in ("once", "twice"))
    for network in ("generator", "discriminator"):
        assert all(torch.equal(once[network][k], twice[network][k]) for k in once[network])
    samples = np.load(tmp_path / "once" / runs.SAMPLES)
    assert samples["images"].shape == (40, 28, 28) and np.array_equal(np.bincount(samples["labels"]), np.full(10, 4))
    curve = np.load(sorted((tmp_path / "once" / runs.EVAL_SAMPLES).glob("*.npz"))[-1])
    assert np.array_equal(curve["labels"], np.arange(20) % 10)
    assert "conditioning" in runs.read_json(tmp_path / "once" / runs.CONFIG)["spec"]
    from PIL import Image
    grid = np.asarray(Image.open(sorted((tmp_path / "once" / runs.GRIDS).glob("*.png"))[-1]))
    assert grid.shape == (2 + 10 * 30, 2 + 8 * 30)  # the progress grid is a class grid: one row per class


@needs_mnist
def test_sample_by_label_and_as_a_class_grid_and_refused_without_conditioning(tmp_path, capsys):
    from PIL import Image
    assert train(tmp_path / "cgan", "cgan", 1) == 0 and train(tmp_path / "vanilla", "vanilla", 1) == 0
    out = tmp_path / "grid.png"
    for extra, shape in ((["--label", "7", "--n", "8"], (2 + 30, 2 + 8 * 30)),
                         (["--labels", "all", "--n", "3"], (2 + 10 * 30, 2 + 3 * 30))):
        assert sample_main(["--run", str(tmp_path / "cgan"), "--out", str(out), *extra]) == 0
        assert np.asarray(Image.open(out)).shape == shape
    for run, extra, message in (("vanilla", ["--label", "3"], "vanilla is not a conditional model"),
                                ("cgan", ["--label", "10"], "--label 10: cgan has classes 0 to 9")):
        assert sample_main(["--run", str(tmp_path / run), "--out", str(out), *extra]) == runs.EXIT_USAGE
        assert message in capsys.readouterr().err
