"""PyTorch's side of a parity comparison: the weight layout Keras reads, the task, and the probe.

Layout: Linear ``[out, in]`` -> Dense ``[in, out]``; Conv2d ``[out, in, k, k]`` and ConvTranspose2d
``[in, out, k, k]`` -> ``[k, k, in, out]`` / ``[k, k, out, in]`` (both ``permute(2, 3, 1, 0)``); batch norm ->
gamma, beta (trainable), then moving mean and variance. The Keras models flatten and reshape in
channels-first order, so no dense kernel needs its rows permuted.
"""
from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from benchmark.data import StepInputs
from benchmark.frameworks import PYTORCH, implementation
from benchmark.parity import probes
from benchmark.spec import GANSpec

TorchGAN = implementation(PYTORCH, "train").TorchGAN
call = implementation(PYTORCH, "train").call
build_optimizer = implementation(PYTORCH, "optimizers").build_optimizer
apply_schedule = implementation(PYTORCH, "optimizers").apply_schedule

models = implementation(PYTORCH, "models")
weighted_modules = models.weighted_modules


_to_keras = models.to_keras_layout
layer_arrays = models.keras_layout


def parameter_arrays(model: nn.Module, gradients: bool = False) -> list[np.ndarray]:
    """The trainable parameters (or their gradients), flat, in the order of Keras' ``trainable_variables``."""
    return [_to_keras(m, p.grad if gradients else p) for m in weighted_modules(model) for p in m.parameters(recurse=False)]


def set_gradients(model: nn.Module, arrays: list[np.ndarray]) -> None:
    pairs = [(m, p) for m in weighted_modules(model) for p in m.parameters(recurse=False)]
    for (module, parameter), array in zip(pairs, arrays, strict=True):
        parameter.grad = models.from_keras_layout(module, array).to(parameter.device, parameter.dtype)


def layer_parameter_counts(model: nn.Module) -> list[int]:
    return [sum(p.numel() for p in m.parameters(recurse=False)) for m in weighted_modules(model)]


def outputs(gan: TorchGAN, noise: np.ndarray, images: np.ndarray,
            labels: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Generator and discriminator outputs in training and inference mode (no state change is kept)."""
    result, labels, image_shape = {}, gan._tensor(labels), gan.spec.architecture.image_shape
    with torch.no_grad():
        for mode in ("train", "eval"):
            generator, discriminator = copy.deepcopy(gan.generator), copy.deepcopy(gan.discriminator)
            getattr(generator, mode)(), getattr(discriminator, mode)()
            fake = call(generator, gan._tensor(noise), labels)
            result[f"g_{mode}"] = models.from_model_layout(fake, image_shape).cpu().numpy()
            real = models.to_model_layout(gan._tensor(images), image_shape)
            result[f"d_{mode}"] = call(discriminator, real, labels).cpu().numpy()
    return result


def make_task(spec: GANSpec, seed: int, steps: list[StepInputs], structure: bool = False) -> tuple[dict, TorchGAN]:
    """A task carrying this seed's PyTorch weights, fixed probe inputs and ``steps`` (``structure``: a task that asks
    for the structure keys only)."""
    gan = TorchGAN(spec, seed, "cpu")
    noise, images = probes.probe_inputs(spec, seed)
    weights = {name: layer_arrays(getattr(gan, name)) for name in probes.NETWORKS}
    return {"spec": spec, "seed": seed, "weights": weights, "noise": noise, "images": images,
            "labels": probes.probe_labels(spec, seed), "steps": steps, "structure": structure}, gan


def _first_update(gan: TorchGAN, inputs: StepInputs) -> dict:
    """Losses and gradients of the first critic update and of a generator update, from the current state."""
    gan = copy.deepcopy(gan)
    real = models.to_model_layout(gan._tensor(inputs.real[0]), gan.spec.architecture.image_shape)
    d_noise = gan._tensor(inputs.d_noise[0])
    real_labels, d_labels = (None, None) if inputs.real_labels is None else \
        (gan._tensor(inputs.real_labels[0]), gan._tensor(inputs.d_labels[0]))
    gan.generator.train(), gan.discriminator.train()
    with torch.no_grad():
        fake = call(gan.generator, d_noise, d_labels)
    total, d_loss, penalty = gan.critic_loss(real, fake, gan._tensor(inputs.gp_weight[0]), real_labels, d_labels)
    total.backward()
    d_gradients = parameter_arrays(gan.discriminator, gradients=True)
    g_loss = gan.generator_loss(gan._tensor(inputs.g_noise), gan._tensor(inputs.g_labels))
    g_loss.backward()
    losses = {"d_loss": d_loss.item(), "g_loss": g_loss.item()}
    if penalty is not None:
        losses["gp"] = penalty.item()
    return {"losses": losses, "gradients": {"discriminator": probes.sketches(d_gradients),
                                            "generator": probes.sketches(parameter_arrays(gan.generator, gradients=True))}}


def _optimizer_trajectory(gan: TorchGAN, network: str, seed: int) -> list[list[np.ndarray]]:
    model, spec = copy.deepcopy(getattr(gan, network)), getattr(gan.spec.objective, f"{network[0]}_optimizer")
    optimizer = build_optimizer(model.parameters(), spec)
    shapes, trajectory = [a.shape for a in parameter_arrays(model)], []
    for step in probes.synthetic_gradients(shapes, probes.OPTIMIZER_STEPS, seed):
        set_gradients(model, step)
        apply_schedule(optimizer, spec)  # as the training updates do
        optimizer.step()
        trajectory.append(probes.sketches(parameter_arrays(model)))
    return trajectory


def probe(gan: TorchGAN, task: dict) -> dict:
    """The probe of ``benchmark.parity.probes`` for the task made from ``gan`` (which it then trains; a structure
    task: only the structure keys, nothing trained)."""
    result = {"layer_parameters": {n: layer_parameter_counts(getattr(gan, n)) for n in probes.NETWORKS},
              "initial": {n: probes.weight_statistics(task["weights"][n]) for n in probes.NETWORKS},
              "initial_digest": {n: probes.digest(task["weights"][n]) for n in probes.NETWORKS}}
    if task.get("structure"):
        return result
    result.update(outputs=outputs(gan, task["noise"], task["images"], task["labels"]),
                  optimizer={n: _optimizer_trajectory(gan, n, task["seed"] + i) for i, n in enumerate(probes.NETWORKS)})
    if task["steps"]:
        result["first"] = _first_update(gan, task["steps"][0])
    result["iterations"] = []
    for inputs in task["steps"]:
        losses = {k: float(v) for k, v in gan.train_step(inputs).items()}
        result["iterations"].append({"losses": losses, **{n: probes.sketches(probes.flat(layer_arrays(getattr(gan, n))))
                                                          for n in probes.NETWORKS}})
    result["outputs_after"] = outputs(gan, task["noise"], task["images"], task["labels"])
    result["generated"] = gan.generate(task["noise"], task["labels"], dtype=gan.spec.training.dtype)
    return result
