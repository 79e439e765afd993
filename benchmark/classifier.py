"""The project's in-domain classifiers, one per data set: the feature extractor of the classifier metrics
(classifier FID, ...).

Inception features are a weak signal on MNIST (torch-fidelity's maintainers advise a digit classifier's
features), so the suite also scores samples with a small CNN trained on the data set itself: its 128-d
penultimate activations (``features``) feed FID / KID / precision-recall and its logits feed the Inception Score
and the mode coverage histogram.

Training is deterministic (fixed seed, deterministic kernels, batch order from numpy) and takes a few minutes
on two CPU cores for MNIST; the weights are looked up per data set (``eval_format.classifier_weights``:
``benchmark/assets/<dataset>_classifier.pt``, MNIST's committed), with their data set, image shape, accuracy,
SHA-256 and training settings in the JSON file next to them::

    python -m benchmark.classifier train --dataset NAME [--data-dir DIR] [--out PATH]
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

from benchmark import arguments
from benchmark.data import DataError, to_unit_range
from benchmark.datasets import DEFAULT_DATASET, get_dataset, load_dataset
from benchmark.eval_format import CLASSIFIER_DIR_ENV, classifier_weights, unevaluated_reason

DEFAULT_WEIGHTS = classifier_weights(DEFAULT_DATASET)  # MNIST's, committed
FEATURE_DIM = 128
NUM_CLASSES = 10
MIN_ACCURACY = {"mnist": 0.99}  # the test accuracy a data set's trained weights must reach (others: recorded only)


@dataclass(frozen=True)
class TrainSettings:
    """Everything that determines the trained weights (with the torch version and the CPU)."""

    seed: int = 0
    epochs: int = 4
    batch_size: int = 128
    learning_rate: float = 1e-3
    decay_epoch: int = 3  # from this epoch on, the learning rate is a tenth


def _halved(size: int) -> int:
    """A side after one of the classifier's stride-2 convolutions (kernel 5 padding 2, or 3 padding 1)."""
    return (size - 1) // 2 + 1


class Classifier(nn.Module):
    """Three strided conv layers (32, 64, 128 channels; MNIST 28 -> 14 -> 7 -> 4, CIFAR-10 32 -> 16 -> 8 -> 4),
    a 128-unit ReLU layer, 10 logits, for images of ``shape`` (C, H, W).

    Strided convolutions instead of max-pooling: a quarter of the cost, which is what evaluation pays for
    every sample. Input: float32 [B, C, H, W] in [-1, 1] (``data.to_unit_range``).
    """

    def __init__(self, shape: tuple[int, int, int] = (1, 28, 28)):
        super().__init__()
        channels, height, width = shape
        grid = _halved(_halved(_halved(height))) * _halved(_halved(_halved(width)))
        self.conv1 = nn.Conv2d(channels, 32, 5, stride=2, padding=2)
        self.conv2 = nn.Conv2d(32, 64, 3, stride=2, padding=1)
        self.conv3 = nn.Conv2d(64, 128, 3, stride=2, padding=1)
        self.hidden = nn.Linear(128 * grid, FEATURE_DIM)
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
    """uint8 [N, H, W] (grey) or [N, H, W, C] -> the classifier's float32 [N, C, H, W] in [-1, 1]."""
    x = torch.from_numpy(to_unit_range(np.asarray(images)))
    return x.unsqueeze(1) if x.dim() == 3 else x.permute(0, 3, 1, 2)


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def weights_of(dataset: str) -> Path:
    """The weights file of ``dataset``'s classifier; ``DataError`` (saying how to train it) when it is missing."""
    reason = unevaluated_reason(dataset)
    if reason:
        raise DataError(reason)
    return classifier_weights(dataset)


def recorded_dataset(path: str | Path) -> str:
    """The data set a weights file was trained on, from its JSON record (MNIST's predates the field)."""
    record = Path(path).with_suffix(".json")
    return json.loads(record.read_text()).get("dataset", DEFAULT_DATASET) if record.is_file() else DEFAULT_DATASET


def load_classifier(path: str | Path | None = None) -> Classifier:
    """The trained classifier in eval mode, without gradients (``path`` defaults to MNIST's committed weights),
    built for the image shape of the data set its JSON record names."""
    path = Path(path or DEFAULT_WEIGHTS)
    if not path.is_file():
        raise DataError(f"{path}: classifier weights not found; train them with "
                        f"`python -m benchmark.classifier train --dataset NAME --out {path}`")
    dataset = recorded_dataset(path)
    model = Classifier(get_dataset(dataset).image_shape)
    try:
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    except RuntimeError as error:
        raise DataError(f"{path}: not a classifier of {dataset}'s images ({str(error).splitlines()[0]})") from None
    return model.eval().requires_grad_(False)


@torch.no_grad()
def predict(model: Classifier, images: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """Predicted classes, int64 [N], of uint8 images in the data set's layout ([N, H, W] or [N, H, W, C])."""
    batches = [model(images_to_input(images[i:i + batch_size])).argmax(1) for i in range(0, len(images), batch_size)]
    return torch.cat(batches).numpy()


def train_classifier(images: np.ndarray, labels: np.ndarray, settings: TrainSettings,
                     shape: tuple[int, int, int] = (1, 28, 28)) -> Classifier:
    """Adam on cross-entropy, a step decay of the learning rate; epoch ``e`` visits the images in the order
    ``permutation([seed, e])``. ``shape``: the images' (C, H, W)."""
    torch.manual_seed(settings.seed)
    torch.use_deterministic_algorithms(True)
    model = Classifier(shape)
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
    shape = get_dataset(args.dataset).image_shape
    train_images, train_labels = load_dataset("train", args.data_dir, dataset=args.dataset)
    test_images, test_labels = load_dataset("test", args.data_dir, dataset=args.dataset)
    start = time.perf_counter()
    model = train_classifier(train_images, train_labels, settings, shape)
    seconds = time.perf_counter() - start
    accuracy = float((predict(model, test_images) == test_labels).mean())
    out = Path(args.out or classifier_weights(args.dataset))
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), out)
    info = {"dataset": args.dataset, "image_shape": list(shape), "test_accuracy": accuracy,
            "sha256": file_sha256(out), "settings": dataclasses.asdict(settings),
            "train_seconds": round(seconds, 1), "torch": torch.__version__,
            "parameters": sum(p.numel() for p in model.parameters())}
    out.with_suffix(".json").write_text(json.dumps(info, indent=2) + "\n")
    print(f"{args.dataset}: test accuracy {accuracy:.4f}; wrote {out} and {out.with_suffix('.json')}")
    required = MIN_ACCURACY.get(args.dataset, 0.0)
    if accuracy < required:
        raise DataError(f"test accuracy {accuracy:.4f} is below the required {required}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmark.classifier", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="train deterministically, write the weights and their JSON record")
    arguments.add_dataset_arguments(train)
    train.add_argument("--out", help=f"weights file (default: <dataset>_classifier.pt in ${CLASSIFIER_DIR_ENV}, "
                                     "else in benchmark/assets)")
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
