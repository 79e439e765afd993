"""PyTorch vs Keras parity, for every model on both Keras backends.

PyTorch runs in this process; Keras runs in one worker process per backend (``benchmark.parity``), which
receives PyTorch's weights in Keras' layout, so the two frameworks never share a process.
"""
import importlib.util
import math
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
if importlib.util.find_spec("keras") is None:  # not imported here: Keras runs in the worker processes
    pytest.skip("keras not installed", allow_module_level=True)

from benchmark import parity  # noqa: E402
from benchmark.data import TrainingStream  # noqa: E402
from benchmark.spec import MODEL_NAMES, get_spec, parameter_count  # noqa: E402

BATCH = 8
SEED = 0
BACKENDS = [pytest.param(b, marks=pytest.mark.skipif(importlib.util.find_spec(b) is None, reason=f"{b} not installed"))
            for b in parity.BACKENDS]
OUTPUT_TOLERANCE = dict(rtol=1e-5, atol=1e-5)
PARAMETER_TOLERANCE = 1e-4  # relative (tensor norm), after one full iteration


def spec_of(name):
    return parity.with_batch_size(get_spec(name), BATCH)


def step_inputs(name):
    images = np.random.default_rng(1).integers(0, 256, (200, 28, 28), dtype=np.uint8)
    spec = spec_of(name)
    return TrainingStream(images, BATCH, spec.training.noise_dim, SEED, spec.objective.n_critic).step(0)


class Torch:
    """PyTorch's side of every model: outputs before and after one iteration, weights and initial stats."""

    def __init__(self, name):
        self.task, gan = parity.model_request(spec_of(name), SEED, [step_inputs(name)])
        self.layer_parameters = {"generator": parity.torch_layer_parameter_counts(gan.generator),
                                 "discriminator": parity.torch_layer_parameter_counts(gan.discriminator)}
        self.initial = {k: parity.weight_statistics(v) for k, v in self.task["weights"].items()}
        self.outputs = parity.torch_outputs(gan, self.task["noise"], self.task["images"])
        self.losses = {k: float(v) for k, v in gan.train_step(self.task["steps"][0]).items()}
        self.after = {"generator": parity.torch_layer_arrays(gan.generator),
                      "discriminator": parity.torch_layer_arrays(gan.discriminator)}
        self.outputs_after = parity.torch_outputs(gan, self.task["noise"], self.task["images"])


@pytest.fixture(scope="module")
def torch_side():
    return {name: Torch(name) for name in MODEL_NAMES}


@pytest.fixture(scope="module")
def keras_side(torch_side):
    """Start one worker per available backend (and one with Keras' BN defaults) at once; collect them all."""
    requests = {backend: {"models": {name: t.task for name, t in torch_side.items()}}
                for backend in parity.BACKENDS if importlib.util.find_spec(backend)}
    requests["mismatch"] = {"models": {"dcgan": torch_side["dcgan"].task}, "variant": "keras_batch_norm_defaults"}
    with tempfile.TemporaryDirectory() as folder:
        started = {}
        for key, request in requests.items():
            path = Path(folder) / key
            path.mkdir()
            (path / "request.pkl").write_bytes(parity.pickle.dumps(request))
            backend = "tensorflow" if key == "mismatch" else key
            started[key] = parity.start_keras_worker(backend, path / "request.pkl", path / "response.pkl")
        return {key: parity.finish_keras_worker(process, Path(folder) / key / "response.pkl")
                for key, process in started.items()}


def keras_model(keras_side, backend, name):
    if backend not in keras_side:
        pytest.skip(f"Keras backend {backend} not available")
    return keras_side[backend]["models"][name]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_parameter_counts_are_equal_per_layer(name, backend, torch_side, keras_side):
    keras = keras_model(keras_side, backend, name)["layer_parameters"]
    assert keras == torch_side[name].layer_parameters
    spec = get_spec(name)
    assert sum(keras["generator"]) == parameter_count(spec.architecture.generator, (spec.training.noise_dim,))
    assert sum(keras["discriminator"]) == parameter_count(spec.architecture.discriminator, (1, 28, 28))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", MODEL_NAMES)
@pytest.mark.parametrize("output", ["g_train", "g_eval", "d_train", "d_eval"])
def test_transferred_weights_give_equal_outputs(name, backend, output, torch_side, keras_side):
    keras = keras_model(keras_side, backend, name)["outputs"][output]
    np.testing.assert_allclose(keras, torch_side[name].outputs[output], **OUTPUT_TOLERANCE)


# WGAN family: the clipped or penalised critic passes the generator gradients that are largely rounding
# noise, and the first Adam / RMSprop update is about lr * sign(g) (lr / sqrt(1 - rho) for RMSprop) whatever
# the gradient's size, so elements whose gradient is noise move by a full step in either direction, on
# TensorFlow more often than on JAX. Measured: up to 0.46 relative on a small batch-norm offset (wgan,
# TensorFlow), 3e-4..6e-3 on JAX. For these, every element must agree to within two such steps per update.
SIGN_NOISE_MODELS = {"wgan", "wgan-gp"}


def largest_first_step(optimizer) -> float:
    return optimizer.lr / math.sqrt(1 - optimizer.rho) if optimizer.name == "rmsprop" else optimizer.lr


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_one_training_iteration_gives_equal_parameters(name, backend, torch_side, keras_side):
    """n_critic critic steps (with clipping or the gradient penalty) and one generator step, from identical
    weights and inputs: every weight, bias and batch-norm statistic, and the losses, agree."""
    keras, torch, objective = keras_model(keras_side, backend, name), torch_side[name], get_spec(name).objective
    for network, optimizer, updates in (("generator", objective.g_optimizer, 1),
                                        ("discriminator", objective.d_optimizer, objective.n_critic)):
        if name in SIGN_NOISE_MODELS:
            worst = max(float(np.abs(a - b).max()) for xs, ys in zip(keras["after"][network], torch.after[network])
                        for a, b in zip(xs, ys))
            assert worst <= 2 * updates * largest_first_step(optimizer)
        else:
            assert parity.relative_difference(keras["after"][network], torch.after[network]) <= PARAMETER_TOLERANCE
    noisy = name in SIGN_NOISE_MODELS
    assert keras["losses"][0] == pytest.approx(torch.losses, rel=5e-3 if noisy else 1e-4, abs=1e-6)
    for output in ("g_eval", "d_eval"):  # inference mode reads the running statistics updated by the step
        np.testing.assert_allclose(keras["outputs_after"][output], torch.outputs_after[output], rtol=1e-4,
                                   atol=1e-2 if noisy else 1e-4)


def check_initialisation(statistics, network, spec):
    """Compare each array's mean and std with the spec's initialiser; returns the list of violations.

    Tolerances are four standard errors of the estimates: a Kaiming-uniform (PyTorch) or Glorot-uniform
    (Keras) default where the spec says N(0, 0.02), or a non-zero bias, fails it."""
    problems, shapes = [], parity_shapes(spec, network)
    layers = [layer for layer in getattr(spec.architecture, network).layers if layer.kind in ("dense", "conv", "conv_transpose")]
    stats = iter(statistics)
    for layer, (fan_in, fan_out) in zip(layers, shapes):
        init = getattr(spec.architecture, network).kernel_init
        kernel, *rest = next(stats)
        expected = (init.std, init.mean) if init.kind == "normal" else (math.sqrt(2 / (fan_in + fan_out)), 0.0)
        problems += _compare(f"{network} {layer.kind} kernel", kernel, *expected)
        if init.kind == "glorot_uniform" and kernel["abs_max"] > math.sqrt(6 / (fan_in + fan_out)):
            problems.append(f"{network} {layer.kind} kernel exceeds the Glorot-uniform limit")
        if rest and abs(rest[0]["abs_max"]) != 0.0:
            problems.append(f"{network} {layer.kind} bias is not the spec's zero")
        if layer.batch_norm:
            gamma, beta, *_ = next(stats)
            problems += _compare(f"{network} batch-norm gamma", gamma, layer.batch_norm.gamma_init.std,
                                 layer.batch_norm.gamma_init.mean)
            if beta["abs_max"] != 0.0:
                problems.append(f"{network} batch-norm beta is not zero")
    return problems


def _compare(what, stat, std, mean):
    n = stat["size"]
    problems = []
    if abs(stat["std"] - std) > 4 * std / math.sqrt(2 * n) + 1e-7:
        problems.append(f"{what}: std {stat['std']:.5f}, spec {std:.5f}")
    if abs(stat["mean"] - mean) > 4 * std / math.sqrt(n) + 1e-7:
        problems.append(f"{what}: mean {stat['mean']:.5f}, spec {mean:.5f}")
    return problems


def parity_shapes(spec, network):
    """(fan_in, fan_out) of each weighted layer, computed from the spec (as Glorot defines them)."""
    from benchmark.spec import network_shapes
    net = getattr(spec.architecture, network)
    start = (spec.training.noise_dim,) if network == "generator" else tuple(spec.architecture.image_shape)
    shapes, fans = [start] + network_shapes(net, start), []
    for layer, shape in zip(net.layers, shapes):
        if layer.kind == "dense":
            fans.append((math.prod(shape), layer.units))
        elif layer.kind in ("conv", "conv_transpose"):
            fans.append((shape[0] * layer.kernel ** 2, layer.units * layer.kernel ** 2))
    return fans


@pytest.mark.parametrize("framework", ["pytorch"] + [b.values[0] for b in BACKENDS])
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_initial_weights_follow_the_spec_distribution(name, framework, torch_side, keras_side):
    statistics = torch_side[name].initial if framework == "pytorch" else keras_model(keras_side, framework, name)["initial"]
    for network in ("generator", "discriminator"):
        assert check_initialisation(statistics[network], network, get_spec(name)) == []


def test_the_initialisation_check_rejects_framework_defaults():
    import torch
    from torch import nn

    torch.manual_seed(0)
    spec = get_spec("dcgan")
    layers = [nn.Linear(100, 1024, bias=False), nn.BatchNorm1d(1024), nn.Linear(1024, 6272, bias=False),
              nn.BatchNorm1d(6272), nn.ConvTranspose2d(128, 64, 4, 2, 1, bias=False), nn.BatchNorm2d(64),
              nn.ConvTranspose2d(64, 1, 4, 2, 1)]  # PyTorch's default initialisers
    statistics = parity.weight_statistics(parity.torch_layer_arrays(nn.Sequential(*layers)))
    problems = check_initialisation(statistics, "generator", spec)
    assert any("kernel: std" in p for p in problems) and any("gamma: std" in p for p in problems)
    assert any("bias is not" in p for p in problems)


def test_keras_batch_norm_defaults_are_detected(torch_side, keras_side):
    """The deliberate mismatch: Keras' own BatchNormalization (momentum 0.99, biased running variance).
    Training-mode outputs still agree, but after one step the running statistics, hence inference-mode
    outputs, do not: the parity checks must fail."""
    keras, torch = keras_side["mismatch"]["models"]["dcgan"], torch_side["dcgan"]
    np.testing.assert_allclose(keras["outputs"]["g_train"], torch.outputs["g_train"], **OUTPUT_TOLERANCE)
    assert parity.relative_difference(keras["after"]["generator"], torch.after["generator"]) > 100 * PARAMETER_TOLERANCE
    with pytest.raises(AssertionError):
        np.testing.assert_allclose(keras["outputs_after"]["g_eval"], torch.outputs_after["g_eval"], rtol=1e-4, atol=1e-4)


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax not installed")
def test_the_jax_backend_never_imports_tensorflow(keras_side):
    assert keras_side["jax"]["tensorflow_imported"] is False


def test_lockstep_run_records_the_drift_per_step(tmp_path):
    out = tmp_path / "lockstep.json"
    backends = tuple(b for b in parity.BACKENDS if importlib.util.find_spec(b))
    result = parity.lockstep("vanilla", steps=3, batch_size=BATCH, backends=backends, out=out)
    assert parity.runs.read_json(out)["steps"] == 3
    for backend in backends:
        per_step = result["backends"][backend]["per_step"]
        assert [row["step"] for row in per_step] == [1, 2, 3]
        assert all(math.isfinite(value) for row in per_step for value in row.values())
        # identical start: the first step agrees to float precision (later steps are measured, not asserted)
        assert per_step[0]["d_loss_abs_diff"] == pytest.approx(0.0, abs=1e-5)
