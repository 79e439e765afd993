"""Generator exports: each framework's own format, and a generator trained by one framework drawn by the other.

For every model (the conditional ones too, drawing the evaluation labels), each framework trains one tiny iteration (so that batch-norm statistics are not their initial
values) and exports its generator (``export_generator``); the other framework loads it (``sampling.load_exported``,
what ``sample --from-run`` does) and must draw the same images from the same noise, within 1e-5 in float32, as
must the native files loaded by the frameworks' own loaders (``torch.export.load``, ``keras.saving.load_model``).
PyTorch runs in this process, Keras (TensorFlow) in a child: the two never share a process (PARITY-NOTES §1).
"""
from __future__ import annotations

import dataclasses
import importlib.util
import inspect
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
if importlib.util.find_spec("tensorflow") is None:
    pytest.skip("tensorflow not installed", allow_module_level=True)

from benchmark import exports, runs, sampling  # noqa: E402
from benchmark.data import TrainingStream, evaluation_labels, evaluation_noise  # noqa: E402
from benchmark.parity import probes  # noqa: E402
from benchmark.run_config import RunConfig  # noqa: E402
from benchmark.spec import CONDITIONAL_MODEL_NAMES, MODEL_NAMES, get_spec  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TOLERANCE = 1e-5
BATCH = 8
NARROW = 8
NOISE_ROWS = 16
EXPORTED = MODEL_NAMES + CONDITIONAL_MODEL_NAMES

# Run in the Keras child (argv: the folder), after the source of ``tiny_spec`` and ``export_run`` below: its own
# exports, then the PyTorch ones drawn.
KERAS_SIDE = """
folder = Path(sys.argv[1])
uncompiled = lambda spec, config: make_trainer(spec, config, compile_step=False)
for name in EXPORTED:
    own = export_run(uncompiled, folder / "keras" / name, name, "keras")
    noise, labels = generator_inputs(own.spec)
    loaded = keras.saving.load_model(folder / "keras" / name / "export" / "generator.keras")
    other, _ = sampling.load_exported(folder / "pytorch" / name, uncompiled)
    native = loaded(noise) if labels is None else loaded([noise, labels])
    np.savez(folder / f"keras-{name}.npz", own=own.generate(noise, labels), native=np.asarray(native)[..., 0],
             other=other.generate(noise, labels))
"""


def tiny_spec(name: str):
    """The preset at batch 8 with hidden widths / 8 (``probes.narrow``: the same layers, so the same export and load
    code for every layer kind, at a fraction of the arithmetic) and one critic batch per iteration (the exported
    generator is the subject; Keras traces each critic update of an iteration apart)."""
    spec = probes.narrow(get_spec(name), NARROW)
    return dataclasses.replace(spec, training=dataclasses.replace(spec.training, batch_size=BATCH),
                               objective=dataclasses.replace(spec.objective, n_critic=1))


def generator_inputs(spec):
    """The first evaluation noise vectors, and their evaluation labels for a conditional model (None otherwise)."""
    noise = evaluation_noise(NOISE_ROWS, spec.training.noise_dim)
    return noise, evaluation_labels(NOISE_ROWS, spec.conditioning.num_classes) if spec.conditional else None


def export_run(make_trainer, run_dir: Path, name: str, framework: str):
    """A run folder holding only what ``load_exported`` reads: config.json and the export after one iteration.
    Keras' run has another seed than PyTorch's (other weights: the comparison could fail) and runs as a plain
    TensorFlow graph (no XLA compilation: what is tested is the export, not the step)."""
    spec, seed = tiny_spec(name), {"pytorch": 0, "keras": 1}[framework]
    config = RunConfig(model=name, seed=seed, device="cpu", mode="graph" if framework == "keras" else None,
                       backend="tensorflow")
    trainer = make_trainer(spec, config)
    rng = np.random.default_rng(1)
    images, labels = rng.integers(0, 256, (64, 28, 28), dtype=np.uint8), rng.integers(0, 10, 64)
    classes = spec.conditioning.num_classes if spec.conditional else None
    stream = TrainingStream(images, BATCH, spec.training.noise_dim, seed, spec.objective.n_critic,
                            labels=labels if classes else None, num_classes=classes)
    trainer.train_step(trainer.feed(stream)(0))
    trainer.export_generator(run_dir / exports.FOLDER)
    runs.write_json(run_dir / runs.CONFIG, {"framework": framework, "model": name, "seed": seed,
                                            "backend": "tensorflow" if framework == "keras" else None,
                                            "spec": dataclasses.asdict(spec)})
    return trainer


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """PyTorch's exports and generations (this process), then the Keras child's: ``(folder, {model: arrays})``."""
    from pytorch_impl.train import make_trainer

    folder = tmp_path_factory.mktemp("exports")
    torch_side = {name: export_run(make_trainer, folder / "pytorch" / name, name, "pytorch") for name in EXPORTED}
    source = "\n".join(["import dataclasses, sys", "from pathlib import Path", "import keras",
                         "import numpy as np", "from benchmark import exports, runs, sampling",
                         "from benchmark.data import TrainingStream, evaluation_labels, evaluation_noise",
                         "from benchmark.parity import probes",
                         "from benchmark.run_config import RunConfig",
                         "from benchmark.spec import CONDITIONAL_MODEL_NAMES, MODEL_NAMES, get_spec",
                         "EXPORTED = MODEL_NAMES + CONDITIONAL_MODEL_NAMES",
                         "from tensorflow_impl.train import make_trainer",
                         f"BATCH, NARROW, NOISE_ROWS = {BATCH}, {NARROW}, {NOISE_ROWS}", inspect.getsource(tiny_spec),
                         inspect.getsource(generator_inputs),
                         inspect.getsource(export_run), KERAS_SIDE])
    child = subprocess.run([sys.executable, "-c", source, str(folder)], cwd=ROOT, capture_output=True, text=True,
                           env={**os.environ, "PYTHONPATH": str(ROOT), "KERAS_BACKEND": "tensorflow"}, timeout=900)
    assert child.returncode == 0, child.stderr[-3000:]
    return folder, torch_side


@pytest.mark.parametrize("name", EXPORTED)
def test_a_generator_draws_the_same_images_in_the_other_framework(name, exported):
    import torch
    from pytorch_impl.train import make_trainer

    folder, torch_side = exported
    keras = dict(np.load(folder / f"keras-{name}.npz"))
    own = torch_side[name]
    noise, labels = generator_inputs(own.spec)
    from_keras, _ = sampling.load_exported(folder / "keras" / name, make_trainer)
    program = torch.export.load(folder / "pytorch" / name / exports.FOLDER / "generator.pt2").module()
    with torch.no_grad():
        inputs = (torch.from_numpy(noise),) if labels is None else (torch.from_numpy(noise), torch.from_numpy(labels))
        native = program(*inputs).squeeze(1).numpy()
    torch_own = own.generate(noise, labels)
    assert torch_own.shape == keras["own"].shape == (NOISE_ROWS, 28, 28)
    assert np.abs(keras["other"] - torch_own).max() <= TOLERANCE  # PyTorch's generator drawn by Keras
    assert np.abs(from_keras.generate(noise, labels) - keras["own"]).max() <= TOLERANCE  # Keras' drawn by PyTorch
    assert np.abs(native - torch_own).max() <= TOLERANCE and np.abs(keras["native"] - keras["own"]).max() <= TOLERANCE
    assert np.abs(torch_own - keras["own"]).max() > 100 * TOLERANCE  # two different generators: the check can fail


@pytest.mark.parametrize("name", ["dcgan", "cdcgan"])
def test_the_keras_file_holds_built_in_layers_only(name, exported):
    """``generator.keras`` loads without this project's code: every class in its config is Keras' own."""
    import json

    folder, _ = exported
    with zipfile.ZipFile(folder / "keras" / name / exports.FOLDER / "generator.keras") as archive:
        config = json.loads(archive.read("config.json"))
    modules = {layer["module"] for layer in config["config"]["layers"]}
    assert config["module"].startswith("keras") and modules and all(m.startswith("keras.") for m in modules), modules


def test_sample_from_run_cli_draws_the_other_frameworks_generator(exported, tmp_path):
    folder, _ = exported
    out = tmp_path / "images.npz"
    result = subprocess.run([sys.executable, "-m", "pytorch_impl.sample", "--from-run", str(folder / "keras" / "dcgan"),
                             "--n", str(NOISE_ROWS), "--out", str(tmp_path / "grid.png"), "--images-out", str(out)],
                            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    keras_own = np.load(folder / "keras-dcgan.npz")["own"]
    assert np.abs(np.load(out)["images"] - keras_own).max() <= TOLERANCE and (tmp_path / "grid.png").exists()


def test_a_run_without_an_export_is_refused_in_one_line(tmp_path):
    with pytest.raises(runs.RunError, match="generator_layers.npz not found"):
        exports.read_layers(tmp_path)
