import gzip
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmark import data as D
from benchmark import datasets

ROOT = Path(__file__).resolve().parent.parent
MNIST = datasets.get_dataset("mnist")


def load_test_split(directory, download):
    """The loader of the test split without the cache."""
    return datasets._load_cached.__wrapped__("mnist", "test", directory, download)


@pytest.fixture(scope="module")
def mnist_dir() -> Path:
    path = datasets.resolve_data_dir()
    if not (path / "train-images-idx3-ubyte.gz").exists():
        pytest.skip(f"MNIST not found in {path}: set $MNIST_DIR")
    return path


@pytest.fixture
def copy_of_mnist(mnist_dir, tmp_path) -> Path:
    for name in MNIST.sha256:
        shutil.copy(mnist_dir / f"{name}.gz", tmp_path / f"{name}.gz")
        os.chmod(tmp_path / f"{name}.gz", 0o644)
    return tmp_path


def test_loads_verified_mnist(mnist_dir):
    images, labels = D.load_mnist("train", mnist_dir)
    test_images, test_labels = D.load_mnist("test", mnist_dir)
    assert images.shape == (60_000, 28, 28) and images.dtype == np.uint8
    assert test_images.shape == (10_000, 28, 28) and test_labels.shape == (10_000,)
    assert np.bincount(labels).tolist()[:2] == [5923, 6742]
    assert images.max() == 255 and images.min() == 0


def test_mnist_arrays_are_bitwise_the_ones_loaded_before_the_other_data_sets_came(mnist_dir):
    """SHA-256 of the arrays' bytes as the loader of commit 584ce64 returned them (2026-11-30)."""
    expected = {"train": ("741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
                          "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13"),
                "test": ("6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
                         "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5")}
    for split, digests in expected.items():
        images, labels = D.load_mnist(split, mnist_dir)
        assert images.shape[1:] == (28, 28) and images.dtype == labels.dtype == np.uint8
        assert tuple(hashlib.sha256(array.tobytes()).hexdigest() for array in (images, labels)) == digests


def test_raw_idx_files_are_accepted(copy_of_mnist):
    raw = copy_of_mnist / "t10k-labels-idx1-ubyte.gz"
    (copy_of_mnist / "t10k-labels-idx1-ubyte").write_bytes(gzip.decompress(raw.read_bytes()))
    raw.unlink()
    _, labels = load_test_split(copy_of_mnist, False)
    assert labels[:5].tolist() == [7, 2, 1, 0, 4]


def test_scaling_to_unit_range_and_back():
    pixels = np.array([[0, 127, 128, 255]], dtype=np.uint8)
    scaled = D.to_unit_range(pixels)
    assert scaled.dtype == np.float32
    np.testing.assert_allclose(scaled, [[-1.0, -0.00392157, 0.00392157, 1.0]], atol=1e-6)
    assert D.to_uint8(scaled).tolist() == pixels.tolist()
    assert D.to_uint8(np.array([-3.0, 3.0])).tolist() == [0, 255]


def test_scaling_by_lookup_is_bitwise_the_computed_scaling():
    pixels = np.arange(256, dtype=np.uint8).reshape(2, 8, 16)
    looked_up, computed = D.to_unit_range(pixels), D.scale_to_unit_range(pixels)
    assert looked_up.dtype == computed.dtype == np.float32 and looked_up.shape == pixels.shape
    assert np.array_equal(looked_up.view(np.uint32), computed.view(np.uint32))


def test_wrong_checksum_is_refused_with_one_line(copy_of_mnist):
    name = "t10k-labels-idx1-ubyte"
    content = bytearray(gzip.decompress((copy_of_mnist / f"{name}.gz").read_bytes()))
    content[100] ^= 1
    (copy_of_mnist / f"{name}.gz").write_bytes(gzip.compress(bytes(content)))
    with pytest.raises(D.DataError, match=rf"{name}.gz: SHA-256 mismatch .* delete it and run again") as error:
        load_test_split(copy_of_mnist, False)
    assert "\n" not in str(error.value)


def test_truncated_file_is_refused(copy_of_mnist):
    path = copy_of_mnist / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(D.DataError, match="t10k-images-idx3-ubyte.gz: truncated or unreadable"):
        load_test_split(copy_of_mnist, False)


def test_missing_file_without_download_names_the_file(tmp_path):
    with pytest.raises(D.DataError, match="t10k-images-idx3-ubyte.gz not found; pass --data-dir or set"):
        load_test_split(tmp_path, False)


def test_data_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv(D.DATA_DIR_ENV, str(tmp_path / "env"))
    assert datasets.resolve_data_dir(tmp_path / "flag") == tmp_path / "flag"
    assert datasets.resolve_data_dir() == tmp_path / "env"
    monkeypatch.delenv(D.DATA_DIR_ENV)
    assert datasets.resolve_data_dir() == D.DEFAULT_CACHE_DIR


def test_corrupt_data_gives_one_line_and_no_traceback_from_the_cli(copy_of_mnist, tmp_path):
    path = copy_of_mnist / "train-labels-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(b"not mnist"))
    result = subprocess.run([sys.executable, "-m", "pytorch_impl.train", "--model", "vanilla", "--steps", "1",
                             "--data-dir", str(copy_of_mnist), "--out", str(tmp_path / "run")],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        line for line in result.stderr.strip().splitlines() if line.startswith("error: ")]
    assert "train-labels-idx1-ubyte.gz: SHA-256 mismatch" in result.stderr and "Traceback" not in result.stderr


def _stream(seed: int, n_critic: int = 1) -> D.TrainingStream:
    images = (np.arange(1000 * 28 * 28) % 251).astype(np.uint8).reshape(1000, 28, 28)
    return D.TrainingStream(images, batch_size=32, noise_dim=8, seed=seed, n_critic=n_critic)


def test_same_seed_gives_identical_batches_and_noise():
    a, b = _stream(0, n_critic=5).step(7), _stream(0, n_critic=5).step(7)
    for field in ("real", "d_noise", "g_noise", "gp_weight"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert a.real.shape == (5, 32, 28, 28) and a.d_noise.shape == (5, 32, 8) and a.g_noise.shape == (32, 8)
    assert 0.0 <= a.gp_weight.min() and a.gp_weight.max() < 1.0


def test_another_seed_gives_another_order_and_noise():
    a, b = _stream(0).step(0), _stream(1).step(0)
    assert not np.array_equal(a.real, b.real)
    assert not np.array_equal(a.g_noise, b.g_noise)


def test_an_epoch_visits_every_image_once_and_the_next_epoch_reshuffles():
    stream = _stream(3)
    first = [stream._order(0)[i * 32:(i + 1) * 32] for i in range(stream.batches_per_epoch)]
    visited = np.concatenate(first)
    assert len(visited) == len(np.unique(visited)) == 31 * 32
    assert not np.array_equal(stream._order(0), stream._order(1))
    assert stream.epoch_of(30) == 0 and stream.epoch_of(31) == 1


def test_noise_distribution_has_the_stated_moments():
    noise = D.sample_noise(np.random.default_rng(0), 20_000, 10, "normal")
    assert abs(noise.mean()) < 0.01 and noise.std() == pytest.approx(1.0, abs=0.01)
    uniform = D.sample_noise(np.random.default_rng(0), 20_000, 10, "uniform")
    assert uniform.min() >= -1.0 and uniform.max() <= 1.0 and uniform.std() == pytest.approx(3 ** -0.5, abs=0.01)


def test_evaluation_noise_is_fixed_and_prefix_stable():
    np.testing.assert_array_equal(D.evaluation_noise(64, 100), D.evaluation_noise(2000, 100)[:64])


def test_the_dataset_registry_states_mnist():
    assert MNIST.image_shape == (1, 28, 28) and MNIST.channels == 1 and MNIST.array_shape == (28, 28)
    assert (MNIST.train_size, MNIST.test_size, MNIST.classes) == (60_000, 10_000, 10)
    assert sorted(MNIST.sha256) == sorted(f for pair in MNIST.files.values() for f in pair)
    assert MNIST.data_dir_env == D.DATA_DIR_ENV and MNIST.default_dir == D.DEFAULT_CACHE_DIR


def test_the_dataset_registry_refuses_duplicates_and_names_the_valid_ones():
    with pytest.raises(D.DataError, match="'mnist' is registered twice"):
        datasets.register_dataset(MNIST)
    with pytest.raises(D.DataError, match="unknown dataset 'celeba'; valid: mnist, fashion-mnist, cifar10"):
        datasets.get_dataset("celeba")
    with pytest.raises(D.DataError, match="unknown split 'validation'; valid: train, test"):
        datasets.load_dataset("validation")


def test_the_spec_reads_its_image_shape_and_epoch_length_from_the_dataset():
    from benchmark.spec import get_spec, steps_per_epoch
    spec = get_spec("vanilla")
    assert spec.architecture.image_shape == MNIST.image_shape
    assert steps_per_epoch(spec) == MNIST.train_size // spec.training.batch_size == 937


def test_training_refuses_a_spec_whose_image_shape_is_not_the_datasets():
    import dataclasses

    from benchmark.spec import get_spec
    from benchmark.training import load_training_images
    spec = get_spec("dcgan")
    other = dataclasses.replace(spec, architecture=dataclasses.replace(spec.architecture, image_shape=(3, 32, 32)))
    with pytest.raises(D.DataError, match=r"dcgan generates images of shape \(3, 32, 32\), MNIST's are \(1, 28, 28\)"):
        load_training_images(other, "/nonexistent")
