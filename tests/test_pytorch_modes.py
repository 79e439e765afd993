"""PyTorch's execution modes in one process: what each one fuses and compiles, that the fused and the whole-step
compiled modes train as eager does, and checkpoints across modes. Comparisons run in float64 (PARITY-NOTES §7):
the modes only change the optimisers' implementation and the kernels, so they agree up to rounding."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from torch._dynamo.utils import counters

from benchmark import frameworks
from benchmark.data import TrainingStream
from benchmark.parity import probes
from benchmark.spec import MODEL_NAMES, OBJECTIVES, GANSpec, get_spec
from pytorch_impl import runtime
from pytorch_impl.train import TorchGAN

# Relative to a tensor's largest value. Measured after 2 iterations: fused vs eager ≤ 4e-9 (batch 2), whole-step
# compiled with Inductor vs eager ≤ 2e-10 (batch 4, every preset): Adam's update g / (sqrt(v) + eps) amplifies
# rounding in the batch-norm offsets, whose gradients are almost 0. A wrong hyper-parameter or a skipped update
# moves weights by ≥ 1e-3.
TOLERANCE = 1e-6


def float64(name: str, batch_size: int = 2) -> GANSpec:
    spec = get_spec(name)
    return dataclasses.replace(spec, training=dataclasses.replace(spec.training, batch_size=batch_size,
                                                                  dtype="float64"))


def trainer(spec: GANSpec, mode: str) -> TorchGAN:
    gan = TorchGAN(spec, seed=0, device="cpu")
    gan.set_execution_mode(mode)
    return gan


def train(gan: TorchGAN, steps: range) -> TorchGAN:
    images = np.random.default_rng(0).integers(0, 256, (64, 28, 28), dtype=np.uint8)
    stream = TrainingStream(images, gan.spec.training.batch_size, gan.spec.training.noise_dim, 0,
                            gan.spec.objective.n_critic)
    for step in steps:
        gan.train_step(stream.step(step))
    return gan


def weights(gan: TorchGAN) -> dict[str, torch.Tensor]:
    """Both models' state (parameters and batch-norm statistics)."""
    models = {"generator": gan.generator, "discriminator": gan.discriminator}
    return {f"{name}.{key}": value for name, model in models.items() for key, value in model.state_dict().items()}


def assert_same_weights(expected: TorchGAN, actual: TorchGAN) -> None:
    a, b = weights(expected), weights(actual)
    assert a.keys() == b.keys()
    for key in a:
        if a[key].is_floating_point():
            difference = (a[key] - b[key]).abs().max() / a[key].abs().max().clamp_min(1e-30)
            assert difference <= TOLERANCE, f"{key}: relative difference {difference:.2e}"


@pytest.fixture
def aot_eager(monkeypatch):
    """torch.compile without Inductor's code generation (seconds instead of a minute per model on a CPU): Dynamo's
    graphs and graph breaks and AOTAutograd's compiled backward, what ``compile-step`` adds around Inductor, stay.
    Dynamo's caches are reset around the test, so that no earlier trainer's compilations count."""
    compile_ = torch.compile
    monkeypatch.setattr(torch, "compile", lambda function, mode=None: compile_(function, backend="aot_eager"))
    torch._dynamo.reset()
    counters.clear()
    yield
    torch._dynamo.reset()


def test_every_pytorch_mode_has_an_execution_and_the_registry_says_what_it_compiles():
    assert set(frameworks.modes(frameworks.PYTORCH)) == set(runtime.EXECUTIONS)
    describe = {mode: frameworks.find(frameworks.PYTORCH, None, mode).description for mode in runtime.EXECUTIONS}
    assert "fused=True" in describe["fused"] and "RMSprop(foreach=True)" in describe["fused"]
    assert "forward passes only" in describe["compile"]
    for words in ("forward passes, loss, backward and optimiser step", "pytorch-fused's optimisers",
                  "stay eager", "gradient penalty", "backward() itself", "Adam's step"):
        assert words in describe["compile-step"]


@pytest.mark.parametrize("mode, compiled, scope, adam", [
    ("eager", False, None, "adam default"), ("fused", False, None, "adam fused"),
    ("compile", True, "forward passes", "adam default"), ("compile-step", True, "whole updates", "adam fused")])
def test_describe_records_what_a_mode_fuses_and_compiles(mode, compiled, scope, adam):
    described = trainer(get_spec("vanilla"), mode).describe()
    assert (described["execution_mode"], described["compiled"], described["compiled_scope"]) == (mode, compiled, scope)
    assert described["optimizers"] == {"generator": adam, "discriminator": adam}
    rmsprop = "rmsprop foreach" if runtime.EXECUTIONS[mode].fused else "rmsprop default"
    assert trainer(get_spec("mlp+wasserstein"), mode).describe()["optimizers"]["discriminator"] == rmsprop


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_fused_optimisers_train_as_eager(objective):
    """Every objective's losses, optimiser, clipping and penalty, two iterations on the (cheap) MLP: only the
    optimisers' implementation differs, which the layers do not change."""
    spec = float64(f"mlp+{objective}")
    assert_same_weights(train(trainer(spec, "eager"), range(2)), train(trainer(spec, "fused"), range(2)))


@pytest.mark.parametrize("model", MODEL_NAMES)
def test_compile_step_trains_every_preset_as_eager(model, aot_eager):
    """Two iterations, or one of WGAN's five critic updates: compiled updates that create the optimiser state,
    then ones that use it. Hidden widths / 8 (``probes.narrow``): the same layers, losses and optimisers, so the
    same traced graphs, at a fraction of the arithmetic."""
    spec = probes.narrow(float64(model), 8)
    steps = range(2 if spec.objective.n_critic == 1 else 1)
    compiled = train(trainer(spec, "compile-step"), steps)
    assert counters["stats"]["unique_graphs"] >= 2  # the critic's and the generator's update: really compiled
    assert compiled.compile_seconds > 0
    assert_same_weights(train(trainer(spec, "eager"), steps), compiled)


def test_a_checkpoint_of_another_mode_loads_and_keeps_this_modes_optimisers(tmp_path, aot_eager):
    """An eager run's checkpoint continued by a whole-step compiled trainer equals two eager iterations; the
    state_dict keys are the same in every mode, and loading keeps the loading trainer's fused optimisers (PyTorch's
    load_state_dict would take the checkpoint's flags)."""
    spec, meta = float64("vanilla"), {"model": "vanilla", "seed": 0}
    train(trainer(spec, "eager"), range(1)).save_checkpoint(tmp_path / "last.pt", meta)
    resumed = trainer(spec, "compile-step")
    resumed.load_checkpoint(tmp_path / "last.pt", meta)
    assert resumed.describe()["optimizers"] == {"generator": "adam fused", "discriminator": "adam fused"}
    assert_same_weights(train(trainer(spec, "eager"), range(2)), train(resumed, range(1, 2)))
