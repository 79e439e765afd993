"""The project's MNIST digit classifier: the feature extractor of the in-domain metrics (MNIST-FID, ...).

Inception features are a weak signal on MNIST (torch-fidelity's maintainers advise a digit classifier's
features), so the suite also scores samples with this small CNN: its 128-d penultimate activations
(``features``) feed FID / KID / precision-recall and its logits feed the Inception Score and the mode
coverage histogram.

Training is deterministic (fixed seed, deterministic kernels, batch order from numpy) and takes a few
minutes on two CPU cores; the weights are committed in ``benchmark/assets/``, with their accuracy, SHA-256
and training settings in the JSON file next to them::

    python -m benchmark.classifier train [--data-dir DIR] [--out benchmark/assets/mnist_classifier.pt]
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from benchmark.data import DataError, to_unit_range
from benchmark.datasets import load_dataset

DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "assets" / "mnist_classifier.pt"
CLASSIFIED_DATASET = "mnist"  # the data set of DEFAULT_WEIGHTS, the only one with a classifier yet
FEATURE_DIM = 128
NUM_CLASSES = 10


@dataclass(frozen=True)
class TrainSettings:
    """Everything that determines the trained weights (with the torch version and the CPU)."""

    seed: int = 0
    epochs: int = 4
    batch_size: int = 128
    learning_rate: float = 1e-3
    decay_epoch: int = 3  # from this epoch on, the learning rate is a tenth


class MnistClassifier(nn.Module):
    """Three strided conv layers (32, 64, 128 channels; 28 -> 14 -> 7 -> 4), a 128-unit ReLU layer, 10 logits.

    Strided convolutions instead of max-pooling: a quarter of the cost, which is what evaluation pays for
    every sample. Input: float32 [B, 1, 28, 28] in [-1, 1] (``data.to_unit_range``).
    """

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 5, stride=2, padding=2)
        self.conv2 = nn.Conv2d(32, 64, 3, stride=2, padding=1)
        self.conv3 = nn.Conv2d(64, 128, 3, stride=2, padding=1)
        self.hidden = nn.Linear(128 * 4 * 4, FEATURE_DIM)
        self.head = nn.Linear(FEATURE_DIM, NUM_CLASSES)

    def features_and_logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(features [B, 128], logits [B, 10])``."""
        for conv in (self.conv1, self.conv2, self.conv3):
            x = F.relu(conv(x))
        features = F.relu(self.hidden(x.flatten(1)))
        return features, self.head(features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features_and_logits(x)[1]


def images_to_input(images: np.ndarray) -> torch.Tensor:
    """uint8 [N, 28, 28] -> the classifier's float32 [N, 1, 28, 28] in [-1, 1]."""
    return torch.from_numpy(to_unit_range(np.asarray(images))).unsqueeze(1)


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_classifier(path: str | Path | None = None) -> MnistClassifier:
    """The trained classifier in eval mode, without gradients (``path`` defaults to the committed weights)."""
    path = Path(path or DEFAULT_WEIGHTS)
    if not path.is_file():
        raise DataError(f"{path}: classifier weights not found; run `python -m benchmark.classifier train`")
    model = MnistClassifier()
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.eval().requires_grad_(False)


@torch.no_grad()
def predict(model: MnistClassifier, images: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """Predicted digits, int64 [N], of uint8 images [N, 28, 28]."""
    batches = [model(images_to_input(images[i:i + batch_size])).argmax(1) for i in range(0, len(images), batch_size)]
    return torch.cat(batches).numpy()


def train_classifier(images: np.ndarray, labels: np.ndarray, settings: TrainSettings) -> MnistClassifier:
    """Adam on cross-entropy, a step decay of the learning rate; epoch ``e`` visits the images in the order
    ``permutation([seed, e])``."""
    torch.manual_seed(settings.seed)
    torch.use_deterministic_algorithms(True)
    model = MnistClassifier()
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.learning_rate)
    inputs, targets = images_to_input(images), torch.from_numpy(labels.astype(np.int64))
    model.train()
    for epoch in range(settings.epochs):
        for group in optimizer.param_groups:
            group["lr"] = settings.learning_rate * (0.1 if epoch >= settings.decay_epoch else 1.0)
        order = torch.from_numpy(np.random.default_rng([settings.seed, epoch]).permutation(len(images)))
        for start in range(0, len(order), settings.batch_size):
            rows = order[start:start + settings.batch_size]
            loss = F.cross_entropy(model(inputs[rows]), targets[rows])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        print(f"epoch {epoch + 1}/{settings.epochs}: last batch loss {loss.item():.4f}", file=sys.stderr)
    return model.eval().requires_grad_(False)


def _train_command(args: argparse.Namespace) -> None:
    settings = TrainSettings(seed=args.seed, epochs=args.epochs)
    train_images, train_labels = load_dataset("train", args.data_dir, dataset=CLASSIFIED_DATASET)
    test_images, test_labels = load_dataset("test", args.data_dir, dataset=CLASSIFIED_DATASET)
    start = time.perf_counter()
    model = train_classifier(train_images, train_labels, settings)
    seconds = time.perf_counter() - start
    accuracy = float((predict(model, test_images) == test_labels).mean())
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), out)
    info = {"test_accuracy": accuracy, "sha256": file_sha256(out), "settings": dataclasses.asdict(settings),
            "train_seconds": round(seconds, 1), "torch": torch.__version__,
            "parameters": sum(p.numel() for p in model.parameters())}
    out.with_suffix(".json").write_text(json.dumps(info, indent=2) + "\n")
    print(f"test accuracy {accuracy:.4f}; wrote {out} and {out.with_suffix('.json')}")
    if accuracy < 0.99:
        raise DataError(f"test accuracy {accuracy:.4f} is below the required 0.99")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmark.classifier", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="train deterministically, write the weights and their JSON record")
    train.add_argument("--data-dir", help="MNIST folder (default: $MNIST_DIR or the user cache)")
    train.add_argument("--out", default=str(DEFAULT_WEIGHTS), help="weights file (default: %(default)s)")
    train.add_argument("--seed", type=int, default=TrainSettings.seed)
    train.add_argument("--epochs", type=int, default=TrainSettings.epochs)
    args = parser.parse_args(argv)
    try:
        _train_command(args)
    except DataError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
