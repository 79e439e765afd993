"""The committed MNIST classifier: small, recorded, >= 99 % accurate, and trained deterministically."""
import dataclasses
import json

import numpy as np
import pytest
import torch

from benchmark.classifier import (DEFAULT_WEIGHTS, TrainSettings, file_sha256, images_to_input, load_classifier,
                                  predict, train_classifier)
from benchmark.data import DataError

RECORD = DEFAULT_WEIGHTS.with_suffix(".json")


def test_weights_are_small_and_match_their_record():
    record = json.loads(RECORD.read_text())
    assert DEFAULT_WEIGHTS.stat().st_size < 2_000_000
    assert file_sha256(DEFAULT_WEIGHTS) == record["sha256"]
    assert record["settings"] == dataclasses.asdict(TrainSettings())


def test_test_accuracy_is_the_recorded_one_and_at_least_99_percent(mnist):
    images, labels = mnist[1]
    accuracy = float((predict(load_classifier(), images) == labels).mean())
    assert accuracy == pytest.approx(json.loads(RECORD.read_text())["test_accuracy"], abs=2e-4)
    assert 0.99 <= accuracy <= 1.0


def test_input_is_unit_range_with_one_channel():
    x = images_to_input(np.array([[[0, 255]]], dtype=np.uint8))
    assert x.shape == (1, 1, 1, 2)
    assert x.flatten().tolist() == [-1.0, 1.0]


def test_training_is_deterministic(mnist):
    images, labels = mnist[0][0][:512], mnist[0][1][:512]
    settings = TrainSettings(seed=3, epochs=1, batch_size=128)
    first, second = (train_classifier(images, labels, settings).state_dict() for _ in range(2))
    assert all(torch.equal(first[name], second[name]) for name in first)


def test_missing_weights_is_a_one_line_error(tmp_path):
    with pytest.raises(DataError, match="classifier weights not found"):
        load_classifier(tmp_path / "absent.pt")


def test_weights_are_looked_up_in_the_classifier_folder_first_then_in_the_assets(tmp_path, monkeypatch):
    from benchmark.eval_format import ASSETS_DIR, CLASSIFIER_DIR_ENV, classifier_weights
    monkeypatch.setenv(CLASSIFIER_DIR_ENV, str(tmp_path))
    assert classifier_weights("mnist") == ASSETS_DIR / "mnist_classifier.pt"  # the committed ones stay found
    assert classifier_weights("cifar10") == tmp_path / "cifar10_classifier.pt"  # where `classifier train` writes
    (tmp_path / "mnist_classifier.pt").write_bytes(b"")
    assert classifier_weights("mnist") == tmp_path / "mnist_classifier.pt"
    monkeypatch.delenv(CLASSIFIER_DIR_ENV)
    assert classifier_weights("cifar10") == ASSETS_DIR / "cifar10_classifier.pt"
