"""Shape-generic models: the architectures built for each data set's image shape, colour images through PyTorch's
trainer (Keras': tests/test_other_datasets.py's CIFAR-10 suite), the sample grids and the sampling CLI, trained end to
end on a tiny CIFAR-10 binary .tar.gz written here in the exact format (the registry's entry is replaced by one with
the tiny archive's sizes and MD5)."""
import dataclasses
import hashlib
import importlib.util

import numpy as np
import pytest
from PIL import Image

from benchmark import datasets, runs
from benchmark.report import plots
from benchmark.run_config import RunConfig
from benchmark.spec import (CONDITIONAL_MODEL_NAMES, MODEL_NAMES, SpecError, check_shapes, dcgan_architecture,
                            get_spec, network_shapes)
from tiny_datasets import cifar10_archive, cifar10_entry

CIFAR = datasets.get_dataset("cifar10")
COLOUR = (3, 32, 32)
# SHA-256 of the MNIST presets' spec JSON as recorded before the architectures were built from the data set's shape:
# the same spec gives the same initial weights and the same runs (a checkpoint records it and a resume compares it).
MNIST_SPEC_SHA256 = {
    "vanilla": "31e53ded085f7dea3c2ee9a466d4243bcb3711ffcff5904528c8eb564c67d297",
    "dcgan": "5364316d51d09e4cd32c275db67dcf2aae96b1110f8adda06fdf87841d854fc1",
    "lsgan": "a26664c6f76915214da2a7100822247ef5b7767d84eb8fb769bbc6e2451f2a01",
    "wgan": "f8f51cc5b1045c257e08f36db623f59e29c2cb9a93daf1278310df76213e732f",
    "wgan-gp": "a690f9d517ff4e91a94db970658f68636aa86abda86871c2b946b70ed2966cb3",
    "cgan": "214296eac8ae00d460756c3400c1e464705a735f30a37dab7d58744c6c656863",
    "cdcgan": "258bd3d63132ae91676b355d395b3ec4c42e48bd380eac802e9cf2000a473455",
}


def test_mnist_specs_are_the_ones_recorded_before_shapes_were_generic():
    for name, digest in MNIST_SPEC_SHA256.items():
        assert hashlib.sha256(get_spec(name).to_json().encode()).hexdigest() == digest, name
        assert get_spec(name, "mnist") == get_spec(name)


@pytest.mark.parametrize("name", MODEL_NAMES + CONDITIONAL_MODEL_NAMES)
def test_every_model_is_built_for_each_data_sets_image_shape(name):
    for dataset in ("fashion-mnist", "cifar10"):
        spec = get_spec(name, dataset)
        entry = datasets.get_dataset(dataset)
        assert spec.architecture.dataset == dataset and tuple(spec.architecture.image_shape) == entry.image_shape
        assert spec.architecture.sample_shape == entry.array_shape
        check_shapes(spec)
    fashion, mnist = get_spec(name, "fashion-mnist"), get_spec(name)
    assert fashion.architecture.generator == mnist.architecture.generator  # the same shape, the same layers


def test_the_dcgan_layout_starts_from_a_quarter_of_the_image_and_ends_in_its_channels():
    layers = get_spec("dcgan", "cifar10").architecture.generator.layers
    assert (layers[1].units, layers[2].shape, layers[-1].units) == (128 * 8 * 8, (128, 8, 8), 3)
    assert network_shapes(get_spec("dcgan", "cifar10").architecture.generator, (100,))[2:] == [
        (128, 8, 8), (64, 16, 16), COLOUR]
    mlp = get_spec("vanilla", "cifar10").architecture.generator.layers
    assert (mlp[-2].units, mlp[-1].shape) == (3 * 32 * 32, COLOUR)
    odd = dataclasses.replace(CIFAR, name="odd", title="Odd", image_shape=(3, 30, 32))
    with pytest.raises(SpecError, match="Odd's 30x32 images need a height and width that are multiples of 4"):
        dcgan_architecture(odd)


def test_a_toy_spec_or_a_sampled_data_set_is_refused_for_images():
    with pytest.raises(SpecError, match="toy is trained on gaussian-1d, not cifar10"):
        get_spec("toy", "cifar10")
    with pytest.raises(SpecError, match="is a sampled data set, not images"):
        get_spec("dcgan", "gaussian-1d")


def test_both_implementations_turn_the_sample_layout_into_their_own_and_back():
    torch = pytest.importorskip("torch")
    from pytorch_impl.models import from_model_layout, to_model_layout
    colour = np.arange(2 * 4 * 32 * 32 * 3, dtype=np.float64).reshape(2, 4, 32, 32, 3)  # [k, B, H, W, C]
    first = to_model_layout(torch.from_numpy(colour), COLOUR)
    assert first.shape == (2, 4, 3, 32, 32) and first.is_contiguous()
    np.testing.assert_array_equal(first.numpy(), colour.transpose(0, 1, 4, 2, 3))
    np.testing.assert_array_equal(from_model_layout(first[0], COLOUR).numpy(), colour[0])
    grey = torch.zeros(5, 28, 28)
    assert to_model_layout(grey, (1, 28, 28)).shape == (5, 1, 28, 28)
    assert from_model_layout(to_model_layout(grey, (1, 28, 28)), (1, 28, 28)).shape == (5, 28, 28)
    assert to_model_layout(torch.zeros(2, 4), (1,)).shape == (2, 4, 1)  # the toy's critic batches
    if importlib.util.find_spec("keras") is None:
        return
    from tensorflow_impl import models as keras_models
    assert keras_models.to_model_layout(colour, COLOUR) is colour  # Keras is channels last already
    assert keras_models.to_model_layout(np.zeros((5, 28, 28)), (1, 28, 28)).shape == (5, 28, 28, 1)
    assert keras_models.from_model_layout(np.zeros((5, 28, 28, 1)), (1, 28, 28)).shape == (5, 28, 28)


def test_a_colour_grid_keeps_its_channels_and_is_saved_and_plotted_in_colour(tmp_path):
    images = np.zeros((3, 32, 32, 3), np.uint8)
    images[1, ..., 0] = 255  # the second image red
    grid = runs.image_grid(images, columns=2)
    assert grid.shape == (2 + 2 * 34, 2 + 2 * 34, 3)
    assert (grid[2:34, 36:68] == [255, 0, 0]).all() and (grid[2:34, 2:34] == 0).all()
    runs.save_png(tmp_path / "grid.png", grid)
    opened = plots._open_grid(tmp_path / "grid.png")
    assert opened.mode == "RGB" and np.asarray(opened)[2, 36].tolist() == [255, 0, 0]
    assert plots._top_rows(opened, rows=1, columns=2).size == (70, 36)
    grey = Image.fromarray(runs.image_grid(np.zeros((4, 28, 28), np.uint8), columns=2))
    mosaic = plots._labelled_mosaic([grey, opened], ["grey", "colour"], scale=1)
    assert mosaic.mode == "RGB" and mosaic.size == (grey.width + 8 + opened.width, 14 + opened.height)
    assert plots._labelled_mosaic([grey], ["grey"]).mode == "L"


# ------------------------------------------------------------------------- end to end on a tiny CIFAR-10 archive

@pytest.fixture(scope="module")
def tiny_cifar10_files(tmp_path_factory):
    """``cifar-10-binary.tar.gz`` of 2 records per training batch and 3 test records, random pixels, in a folder;
    and the registry's CIFAR-10 entry with its sizes and MD5."""
    rng = np.random.default_rng(32)
    layout = {**{file: 2 for file in datasets.CIFAR10_TRAIN_BATCHES}, "test_batch.bin": 3}
    archive = cifar10_archive({name: (rng.integers(0, 256, (count, 32, 32, 3), dtype=np.uint8),
                                      rng.integers(0, 10, count, dtype=np.uint8)) for name, count in layout.items()})
    folder = tmp_path_factory.mktemp("cifar10")
    (folder / CIFAR.archives[0].name).write_bytes(archive)
    return folder, cifar10_entry(archive, {"train": 10, "test": 3})


@pytest.fixture
def tiny_cifar10(tiny_cifar10_files, monkeypatch):
    """The tiny archive's folder, the registry's CIFAR-10 entry replaced by the tiny one while the test runs."""
    folder, tiny = tiny_cifar10_files
    monkeypatch.setitem(datasets.DATASETS, "cifar10", tiny)
    return folder


# Both models on PyTorch; Keras trains the dcgan on colour images in tests/test_other_datasets.py's CIFAR-10 suite and
# its MLP in the parity tests.
@pytest.mark.parametrize("model", ["dcgan", "vanilla"])
def test_a_colour_data_set_trains_samples_and_refuses_a_resume_on_another(model, tiny_cifar10, tmp_path):
    pytest.importorskip("torch")
    from pytorch_impl.sample import main as sample
    from pytorch_impl.train import main
    out = tmp_path / "run"
    common = ["--model", model, "--dataset", "cifar10", "--data-dir", str(tiny_cifar10), "--batch-size", "4",
              "--num-samples", "6", "--curve-samples", "4", "--log-every", "1", "--out", str(out)]
    assert main([*common, "--steps", "2"]) == 0
    result, config = runs.read_json(out / runs.RESULT), runs.read_json(out / runs.CONFIG)
    assert result[runs.KEY_STATUS] == runs.COMPLETED and result[runs.KEY_STEP] == 2
    assert config["dataset"] == "cifar10" and config["spec"]["architecture"]["image_shape"] == list(COLOUR)
    assert runs.read_json(out / runs.RUN_CONFIG)["dataset"] == "cifar10"
    assert config["steps_per_epoch"] == 10 // 4  # the tiny archive's 10 training images
    with np.load(out / runs.SAMPLES) as samples:
        images = samples["images"]
    assert images.dtype == np.uint8 and images.shape == (6, 32, 32, 3)
    assert len(np.unique(images)) > 2  # an untrained generator's colours, not one constant
    grid = Image.open(sorted((out / runs.GRIDS).glob("step_*.png"))[-1])
    assert grid.mode == "RGB" and grid.size == (2 + 8 * 34, 2 + 8 * 34)
    with np.load(sorted((out / runs.EVAL_SAMPLES).glob("step_*.npz"))[-1]) as curve:
        assert curve["images"].shape == (4, 32, 32, 3)
    assert sample(["--run", str(out), "--n", "3", "--out", str(tmp_path / "sampled.png")]) == 0
    sampled = Image.open(tmp_path / "sampled.png")
    assert sampled.mode == "RGB" and sampled.size == (2 + 8 * 34, 2 + 34)
    stored = RunConfig.read(out / runs.RUN_CONFIG)
    with pytest.raises(runs.RunError, match="another configuration \\(dataset 'cifar10' -> 'mnist'\\)"):
        dataclasses.replace(stored, dataset="mnist").check_resume(stored, out)


# ------------------------------------------------------------------------------------- --dataset through the harness

def test_the_train_clis_take_a_registered_image_data_set_and_refuse_others(capsys):
    from benchmark import training
    parser = training.train_parser("pytorch_impl")
    assert parser.parse_args(["--out", "x"]).dataset == "mnist"
    assert parser.parse_args(["--out", "x", "--dataset", "cifar10"]).dataset == "cifar10"
    for name in ("cifar100", "gaussian-1d"):
        with pytest.raises(SystemExit):
            parser.parse_args(["--out", "x", "--dataset", name])
        assert f"unknown dataset '{name}'; valid: mnist, fashion-mnist, cifar10" in capsys.readouterr().err


def test_a_suite_passes_its_data_set_to_every_run_and_plans_its_epochs(tmp_path):
    from benchmark import suite_plan
    from benchmark.profiles import get_profile
    profile = dataclasses.replace(get_profile("smoke"), steps=None, images=None, epochs=1.0)
    options = {dataset: suite_plan.SuiteOptions(out=tmp_path, profile=profile, models=["dcgan"],
                                                frameworks=["pytorch"], seeds=[0], dataset=dataset)
               for dataset in ("mnist", "cifar10")}
    steps = {dataset: suite_plan.plan(chosen)[0].steps for dataset, chosen in options.items()}
    batch = profile.batch_size or 64
    assert steps == {"mnist": 60_000 // batch, "cifar10": 50_000 // batch}  # one epoch of each training set
    for dataset, chosen in options.items():
        speed = dataclasses.replace(chosen, profile=get_profile("quick"), models=["dcgan"])
        for command in (suite_plan.train_command(suite_plan.plan(chosen)[0], tmp_path, chosen),
                        suite_plan.eval_command([tmp_path], chosen), suite_plan.references_command(chosen),
                        suite_plan.speed_command(speed, tmp_path)):
            assert command[command.index("--dataset") + 1] == dataset, command


def test_run_all_and_the_evaluation_refuse_a_data_set_without_classifier_weights(tmp_path, capsys, monkeypatch):
    from benchmark import eval_format, run_all
    monkeypatch.setenv(eval_format.CLASSIFIER_DIR_ENV, str(tmp_path / "classifiers"))
    missing = (f"{tmp_path / 'classifiers' / 'cifar10_classifier.pt'}: no classifier weights for cifar10; train them "
               "with `python -m benchmark.classifier train --dataset cifar10`")
    assert run_all.main(["--profile", "smoke", "--dataset", "cifar10", "--out", str(tmp_path / "suite")]) == 2
    assert capsys.readouterr().err == f"error: --dataset cifar10: {missing}\n"
    assert not (tmp_path / "suite").exists()
    pytest.importorskip("torch_fidelity")
    from benchmark import evaluate
    runs.write_json(tmp_path / runs.CONFIG, {"dataset": "cifar10"})
    with pytest.raises(datasets.DataError, match="no classifier weights for cifar10; train them with"):
        evaluate.evaluate_run(tmp_path)


def test_the_report_title_names_the_suites_data_set():
    from benchmark.report.build import report_title
    assert report_title({"dataset": "cifar10"}, "smoke") == (
        "GAN benchmark on CIFAR-10: PyTorch vs Keras 3 — profile `smoke`")
    assert report_title({}, "full").startswith("GAN benchmark on MNIST:")  # a suite.json from before --dataset
