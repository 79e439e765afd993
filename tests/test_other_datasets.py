"""Data sets other than MNIST, on tiny files in their exact formats: Fashion-MNIST (MNIST's 28x28x1 code path) gets
a classifier of its own and is evaluated with it in this process; both go through ``run_all`` end to end, its child
processes reading the tiny files' registry entry (``tiny_datasets.child_site``)."""
from __future__ import annotations

import dataclasses
import gzip
import json
import math
import re

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from benchmark import classifier, datasets, evaluate, fidelity, runs
from benchmark import eval_format as ev
from benchmark.checkpoints import file_sha256
from suites import run_all
from tiny_datasets import child_site, cifar10_archive, cifar10_entry, idx_bytes, md5

FASHION = datasets.get_dataset("fashion-mnist")
FASHION_SIZES = {"train": 60, "test": 2_000}  # the smoke profile scores against 2,000 test images
CIFAR10_SIZES = {"train": 5 * 100, "test": 2_000}  # the smoke profile's 500 scored samples, its 2,000 test images


def labelled_images(rng: np.random.Generator, count: int, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images whose brightness tells their label (0-9), with noise, and the labels: a class to learn."""
    labels = rng.integers(0, 10, count, dtype=np.uint8)
    base = labels.reshape(-1, *[1] * len(shape)).astype(np.int64) * 25
    return np.clip(base + rng.integers(0, 30, (count, *shape)), 0, 255).astype(np.uint8), labels


@pytest.fixture
def classifiers(tmp_path, monkeypatch):
    """An empty classifier folder and statistics cache of the test's own (children inherit both)."""
    monkeypatch.setenv(ev.CLASSIFIER_DIR_ENV, str(tmp_path / "classifiers"))
    monkeypatch.setenv(fidelity.CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "classifiers"


@pytest.fixture
def tiny_fashion(tmp_path, monkeypatch):
    """The four idx .gz archives of a tiny Fashion-MNIST in a folder; the registry's entry takes their sizes and MD5."""
    rng = np.random.default_rng(1708)
    folder = tmp_path / "fashion-mnist"
    folder.mkdir()
    archives = {}
    for split, (images_file, labels_file) in FASHION.files.items():
        images, labels = labelled_images(rng, FASHION_SIZES[split], (28, 28))
        archives[images_file] = gzip.compress(idx_bytes(images), mtime=0)
        archives[labels_file] = gzip.compress(idx_bytes(labels), mtime=0)
    for name, content in archives.items():
        (folder / f"{name}.gz").write_bytes(content)
    entry = dataclasses.replace(FASHION, sizes=FASHION_SIZES, mirrors=(), archives=datasets.gzip_archives(
        {name: len(content) for name, content in archives.items()},
        md5={name: md5(content) for name, content in archives.items()}))
    monkeypatch.setitem(datasets.DATASETS, "fashion-mnist", entry)
    return folder


def test_fashion_mnist_gets_a_classifier_of_its_own_and_is_scored_with_it(tiny_fashion, classifiers, tmp_path):
    test_images = datasets.load_dataset("test", tiny_fashion, dataset="fashion-mnist")[0]
    options = dict(dataset="fashion-mnist", inception=False, reference_count=FASHION_SIZES["test"],
                   data_dir=tiny_fashion)
    with pytest.raises(datasets.DataError, match="no classifier weights for fashion-mnist; train them with "
                                                 "`python -m benchmark.classifier train --dataset fashion-mnist`"):
        evaluate.evaluate_images(test_images, **options)
    train = ["train", "--dataset", "fashion-mnist", "--data-dir", str(tiny_fashion), "--epochs", "1"]
    assert classifier.main(train) == 0
    weights = classifiers / "fashion-mnist_classifier.pt"
    record = json.loads(weights.with_suffix(".json").read_text())
    assert (record["dataset"], record["image_shape"]) == ("fashion-mnist", [1, 28, 28])
    assert record["sha256"] == file_sha256(weights) and 0.0 <= record["test_accuracy"] <= 1.0
    assert classifier.main([*train, "--out", str(tmp_path / "again.pt")]) == 0
    first, again = (torch.load(path, weights_only=True) for path in (weights, tmp_path / "again.pt"))
    assert all(torch.equal(first[name], again[name]) for name in first)  # deterministic

    noise = np.random.default_rng(0).integers(0, 256, test_images.shape, dtype=np.uint8)
    real, uniform = (evaluate.evaluate_images(images, **options) for images in (test_images, noise))
    assert real[ev.KEY_DATASET] == "fashion-mnist" and real[ev.KEY_REFERENCE] == "fashion-mnist-test-2000"
    assert real[ev.KEY_VERSIONS][ev.KEY_CLASSIFIER_SHA256] == record["sha256"]
    assert all(math.isfinite(value) for value in real[ev.KEY_CLASSIFIER].values())
    assert real[ev.KEY_CLASSIFIER][ev.KEY_FID] < uniform[ev.KEY_CLASSIFIER][ev.KEY_FID]
    assert sum(real[ev.KEY_COVERAGE][ev.KEY_HISTOGRAM]) == FASHION_SIZES["test"]

    run = tmp_path / "run"
    runs.write_json(run / runs.CONFIG, {"dataset": "fashion-mnist"})
    with pytest.raises(datasets.DataError, match="trained on fashion-mnist, not --dataset mnist"):
        evaluate.evaluate_run(run, dataset="mnist")


def test_a_fashion_mnist_smoke_suite_runs_end_to_end_on_test_made_files(tiny_fashion, classifiers, tmp_path):
    """MNIST's 28x28x1 code path under another registry entry, classifier and name: the MLP in PyTorch and on Keras'
    JAX backend (the CIFAR-10 suite below takes the other two frameworks)."""
    assert classifier.main(["train", "--dataset", "fashion-mnist", "--data-dir", str(tiny_fashion), "--epochs", "1"]) == 0
    record = json.loads((classifiers / "fashion-mnist_classifier.json").read_text())
    site_env = child_site(tmp_path / "site", datasets.DATASETS["fashion-mnist"])
    out = tmp_path / "suite"
    result = run_all("--profile", "smoke", "--dataset", "fashion-mnist", "--data-dir", str(tiny_fashion),
                     "--models", "vanilla", "--frameworks", "pytorch,keras-jax", "--steps", "2", "--no-speed",
                     "--out", str(out), timeout=600, env=site_env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = pd.read_csv(out / "summary.csv").set_index("run")
    assert set(summary.index) == {"vanilla-pytorch-seed0", "vanilla-keras-jax-seed0"}
    assert (summary["status"] == runs.COMPLETED).all()
    for column in ("classifier_fid", "classifier_precision", "curve_last_classifier_fid"):
        assert np.isfinite(summary[column]).all(), column
    for run in summary.index:
        run_dir = out / "runs" / run
        config = runs.read_json(run_dir / runs.CONFIG)
        assert config["dataset"] == "fashion-mnist" and config["spec"]["architecture"]["image_shape"] == [1, 28, 28]
        scores = runs.read_json(run_dir / ev.EVAL_FILE)
        assert scores[ev.KEY_DATASET] == "fashion-mnist" and scores[ev.KEY_REFERENCE] == "fashion-mnist-test-2000"
        assert scores[ev.KEY_VERSIONS][ev.KEY_CLASSIFIER_SHA256] == record["sha256"]  # its own, not MNIST's
    markdown = (out / "report.md").read_text()
    assert markdown.startswith("# GAN benchmark on Fashion-MNIST: PyTorch vs Keras 3")
    assert "python -m benchmark.classifier train --dataset fashion-mnist" in markdown
    assert not re.search(r"(?<!Fashion-)MNIST", markdown)
    assert not re.search(r"(?<!hex )\bdigits?\b", markdown, re.IGNORECASE)  # MNIST's word (not the commit's)


def test_a_cifar10_smoke_suite_runs_end_to_end_on_test_made_files(classifiers, tmp_path, monkeypatch):
    rng = np.random.default_rng(10)
    layout = {**dict.fromkeys(datasets.CIFAR10_TRAIN_BATCHES, 100), "test_batch.bin": CIFAR10_SIZES["test"]}
    archive = cifar10_archive({name: labelled_images(rng, count, (32, 32, 3)) for name, count in layout.items()})
    data = tmp_path / "cifar10"
    data.mkdir()
    (data / "cifar-10-binary.tar.gz").write_bytes(archive)
    monkeypatch.setitem(datasets.DATASETS, "cifar10", cifar10_entry(archive, CIFAR10_SIZES))
    assert classifier.main(["train", "--dataset", "cifar10", "--data-dir", str(data), "--epochs", "1"]) == 0

    site_env = child_site(tmp_path / "site", datasets.DATASETS["cifar10"])
    out = tmp_path / "suite"
    # the least that crosses the new path: one model, both frameworks (Keras without XLA's compile), 2 iterations
    result = run_all("--profile", "smoke", "--dataset", "cifar10", "--data-dir", str(data), "--models", "dcgan",
                     "--frameworks", "pytorch,keras-tf-graph", "--steps", "2", "--no-speed", "--out", str(out),
                     env=site_env,
                     timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = pd.read_csv(out / "summary.csv").set_index("run")
    assert set(summary.index) == {"dcgan-pytorch-seed0", "dcgan-keras-tf-graph-seed0"}
    assert (summary["status"] == runs.COMPLETED).all() and "mnist_fid" not in summary
    for column in ("classifier_fid", "classifier_is_mean", "classifier_precision", "curve_last_classifier_fid"):
        assert np.isfinite(summary[column]).all(), column
    for run in summary.index:  # both frameworks' colour samples, grids and curve sets
        run_dir = out / "runs" / run
        assert runs.read_json(run_dir / runs.CONFIG)["spec"]["architecture"]["image_shape"] == [3, 32, 32]
        with np.load(run_dir / runs.SAMPLES) as samples:
            assert samples["images"].shape == (500, 32, 32, 3) and samples["images"].dtype == np.uint8
            assert len(np.unique(samples["images"])) > 2  # a generator's colours, not one constant
        with np.load(sorted((run_dir / runs.EVAL_SAMPLES).glob("step_*.npz"))[-1]) as curve:
            assert curve["images"].shape == (200, 32, 32, 3)
        assert Image.open(sorted((run_dir / runs.GRIDS).glob("step_*.png"))[-1]).mode == "RGB"
        assert runs.read_json(run_dir / ev.EVAL_FILE)[ev.KEY_DATASET] == "cifar10"
    markdown = (out / "report.md").read_text()
    assert markdown.startswith("# GAN benchmark on CIFAR-10: PyTorch vs Keras 3")
    assert "python -m benchmark.classifier train --dataset cifar10" in markdown
    assert "classifier FID" in markdown and "MNIST" not in markdown
