"""PyTorch <-> Keras parity helpers: weight transfer, a Keras worker process, the lockstep drift run and
the defaults audit.

The two frameworks never share a process here (PARITY-NOTES §1): PyTorch runs in the caller, Keras in a
``python -m benchmark.parity keras-worker`` subprocess per backend, and they exchange numpy arrays
through pickle files in a temporary folder. Weights cross in Keras' layout, one list of arrays per layer
with parameters (``torch_layer_arrays``): Linear ``[out, in]`` -> Dense ``[in, out]``; Conv2d
``[out, in, k, k]`` and ConvTranspose2d ``[in, out, k, k]`` -> ``[k, k, in, out]`` / ``[k, k, out, in]``
(both ``transpose(2, 3, 1, 0)``); batch norm -> gamma, beta, moving mean, moving variance. The Keras
models flatten and reshape in channels-first order, so no dense kernel needs its rows permuted.

    python -m benchmark.parity lockstep [--model dcgan --steps 20 --out results/parity/lockstep.json]
    python -m benchmark.parity audit [--out results/parity/defaults_audit.json]
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pickle
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from benchmark import runs
from benchmark.data import StepInputs, TrainingStream, load_mnist
from benchmark.spec import GANSpec, get_spec

ROOT = Path(__file__).resolve().parent.parent
BACKENDS = ("tensorflow", "jax")
LOCKSTEP_OUT = ROOT / "results" / "parity" / "lockstep.json"
AUDIT_OUT = ROOT / "results" / "parity" / "defaults_audit.json"


def with_batch_size(spec: GANSpec, batch_size: int) -> GANSpec:
    return dataclasses.replace(spec, training=dataclasses.replace(spec.training, batch_size=batch_size))


# ------------------------------------------------------------------------------------------- PyTorch

def torch_layer_arrays(model) -> list[list[np.ndarray]]:
    """Every PyTorch module with parameters, in order, as its Keras-layout arrays."""
    from torch import nn

    layers = []
    for module in model.modules():
        if isinstance(module, nn.Linear):
            arrays = [module.weight.T]
        elif isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
            arrays = [module.weight.permute(2, 3, 1, 0)]
        elif isinstance(module, nn.modules.batchnorm._BatchNorm):
            layers.append([t.detach().numpy().copy() for t in (module.weight, module.bias, module.running_mean,
                                                               module.running_var)])
            continue
        else:
            continue
        if module.bias is not None:
            arrays.append(module.bias)
        layers.append([np.ascontiguousarray(t.detach().numpy()).copy() for t in arrays])
    return layers


def torch_layer_parameter_counts(model) -> list[int]:
    return [sum(p.numel() for p in m.parameters(recurse=False)) for m in model.modules()
            if list(m.parameters(recurse=False))]


def torch_gan(spec: GANSpec, seed: int):
    from pytorch_impl.train import TorchGAN
    return TorchGAN(spec, seed, "cpu")


def torch_outputs(gan, noise: np.ndarray, images: np.ndarray) -> dict[str, np.ndarray]:
    """Generator and discriminator outputs in training and inference mode (no state changes kept)."""
    import copy

    import torch

    result = {}
    with torch.no_grad():
        for mode in ("train", "eval"):
            generator, discriminator = copy.deepcopy(gan.generator), copy.deepcopy(gan.discriminator)
            getattr(generator, mode)(), getattr(discriminator, mode)()
            result[f"g_{mode}"] = generator(torch.from_numpy(noise)).squeeze(1).numpy()
            result[f"d_{mode}"] = discriminator(torch.from_numpy(images)[:, None]).numpy()
    return result


# --------------------------------------------------------------------------------------------- Keras

def run_keras_worker(backend: str, request: dict, timeout: float = 1200) -> dict:
    """Run ``request`` in a fresh Keras process on ``backend``; return its response (raises on failure)."""
    with tempfile.TemporaryDirectory() as folder:
        request_path, response_path = Path(folder) / "request.pkl", Path(folder) / "response.pkl"
        request_path.write_bytes(pickle.dumps(request))
        process = start_keras_worker(backend, request_path, response_path)
        return finish_keras_worker(process, response_path, timeout)


def start_keras_worker(backend: str, request_path: Path, response_path: Path) -> subprocess.Popen:
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.Popen([sys.executable, "-m", "benchmark.parity", "keras-worker", "--backend", backend,
                             "--request", str(request_path), "--response", str(response_path)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish_keras_worker(process: subprocess.Popen, response_path: Path, timeout: float = 1200) -> dict:
    output, _ = process.communicate(timeout=timeout)
    if process.returncode != 0 or not Path(response_path).exists():
        raise RuntimeError(f"Keras worker failed (exit {process.returncode}):\n{output[-4000:]}")
    return pickle.loads(Path(response_path).read_bytes())


def _keras_layer_arrays(model) -> list[list[np.ndarray]]:
    from keras import ops
    from tensorflow_impl.models import parameter_layers
    return [[np.asarray(ops.convert_to_numpy(w.value)) for w in layer.weights] for layer in parameter_layers(model)]


def _set_keras_layer_arrays(model, arrays: list[list[np.ndarray]]) -> None:
    from tensorflow_impl.models import parameter_layers
    layers = parameter_layers(model)
    if len(layers) != len(arrays):
        raise ValueError(f"{model.name}: {len(layers)} Keras layers with weights, {len(arrays)} PyTorch modules")
    for layer, values in zip(layers, arrays):
        for weight, value in zip(layer.weights, values, strict=True):
            if tuple(weight.shape) != value.shape:
                raise ValueError(f"{weight.path}: Keras shape {tuple(weight.shape)}, PyTorch {value.shape}")
            weight.assign(value)


def _keras_outputs(gan, noise: np.ndarray, images: np.ndarray) -> dict[str, np.ndarray]:
    from keras import ops
    result = {}
    for mode, training in (("train", True), ("eval", False)):
        for key, model, x in (("g", gan.generator, noise), ("d", gan.discriminator, images[..., None])):
            out = model.stateless_call([v.value for v in model.trainable_variables],
                                       [v.value for v in model.non_trainable_variables],
                                       ops.convert_to_tensor(x), training=training)[0]
            out = np.asarray(ops.convert_to_numpy(out))
            result[f"{key}_{mode}"] = out[..., 0] if key == "g" else out
    return result


def _keras_model_task(task: dict) -> dict:
    """One model: parameter counts, outputs from transferred weights, one iteration, initial-weight stats."""
    from tensorflow_impl.models import parameter_layers
    from tensorflow_impl.trainer import KerasGAN

    spec = task["spec"]
    gan = KerasGAN(spec, task["seed"], "cpu")
    result = {"layer_parameters": {name: [sum(int(np.prod(w.shape)) for w in layer.trainable_weights)
                                          for layer in parameter_layers(model)]
                                   for name, model in (("generator", gan.generator),
                                                       ("discriminator", gan.discriminator))},
              "initial": {"generator": _keras_layer_arrays(gan.generator),
                          "discriminator": _keras_layer_arrays(gan.discriminator)} if task.get("initial") else None}
    if "weights" in task:
        _set_keras_layer_arrays(gan.generator, task["weights"]["generator"])
        _set_keras_layer_arrays(gan.discriminator, task["weights"]["discriminator"])
        result["outputs"] = _keras_outputs(gan, task["noise"], task["images"])
    losses = []
    for inputs in task.get("steps", []):
        losses.append({k: float(v) for k, v in gan.train_step(inputs).items()})
        if task.get("record_every_step"):
            result.setdefault("generator_trajectory", []).append(_keras_layer_arrays(gan.generator))
    if task.get("steps"):
        result["losses"] = losses
        result["after"] = {"generator": _keras_layer_arrays(gan.generator),
                           "discriminator": _keras_layer_arrays(gan.discriminator)}
        result["outputs_after"] = _keras_outputs(gan, task["noise"], task["images"])
    return result


VARIANTS = {}


def _variant(name):
    def register(function):
        VARIANTS[name] = function
        return function
    return register


@_variant("keras_batch_norm_defaults")
def _keras_batch_norm_defaults() -> None:
    """Keras' own BatchNormalization (momentum 0.99 in its convention, biased running variance) with only
    epsilon and the initialisers taken from the spec: the deliberate mismatch the parity tests must catch."""
    import keras
    from tensorflow_impl import models

    models.batch_norm_layer = lambda bn, seed: keras.layers.BatchNormalization(
        epsilon=bn.eps, gamma_initializer=models.initializer(bn.gamma_init, seed),
        beta_initializer=models.initializer(bn.beta_init, seed))


def keras_worker(backend: str, request_path: str, response_path: str) -> None:
    from tensorflow_impl.seeding import select_backend
    select_backend(backend)
    request = pickle.loads(Path(request_path).read_bytes())
    if request.get("variant"):
        VARIANTS[request["variant"]]()
    if request.get("audit"):
        response = keras_measurements(request["audit"])
    else:
        response = {"models": {key: _keras_model_task(task) for key, task in request["models"].items()}}
    response["tensorflow_imported"] = "tensorflow" in sys.modules
    Path(response_path).write_bytes(pickle.dumps(response))


# ------------------------------------------------------------------------------------ measurements

def relative_difference(a: list[list[np.ndarray]], b: list[list[np.ndarray]]) -> float:
    """max over tensors of ||a - b|| / ||b||."""
    return max(float(np.linalg.norm(x - y) / max(np.linalg.norm(y), 1e-12))
               for xs, ys in zip(a, b, strict=True) for x, y in zip(xs, ys, strict=True))


def model_request(spec: GANSpec, seed: int, steps: list[StepInputs], gan=None, **extra) -> tuple[dict, Any]:
    """A worker task with ``spec``'s PyTorch weights (seeded by ``seed``) and fixed probe inputs."""
    gan = gan or torch_gan(spec, seed)
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((spec.training.batch_size, spec.training.noise_dim), dtype=np.float32)
    images = rng.uniform(-1, 1, (spec.training.batch_size, 28, 28)).astype(np.float32)
    task = {"spec": spec, "seed": seed, "noise": noise, "images": images, "steps": steps,
            "weights": {"generator": torch_layer_arrays(gan.generator),
                        "discriminator": torch_layer_arrays(gan.discriminator)}, **extra}
    return task, gan


def lockstep(model: str = "dcgan", steps: int = 20, batch_size: int = 16, seed: int = 0,
             backends: tuple[str, ...] = BACKENDS, out: Path | None = LOCKSTEP_OUT) -> dict:
    """Train PyTorch and Keras side by side from identical weights on identical inputs; record per step
    how far their losses and generator weights drift apart. Measured, not asserted."""
    spec = with_batch_size(get_spec(model), batch_size)
    images, _ = load_mnist("train")
    stream = TrainingStream(images, batch_size, spec.training.noise_dim, seed, spec.objective.n_critic,
                            spec.training.noise)
    inputs = [stream.step(i) for i in range(steps)]
    task, gan = model_request(spec, seed, inputs, record_every_step=True)
    task["initial"] = False
    torch_losses, torch_trajectory = [], []
    for step_inputs in inputs:
        torch_losses.append({k: float(v) for k, v in gan.train_step(step_inputs).items()})
        torch_trajectory.append(torch_layer_arrays(gan.generator))
    result = {"model": model, "steps": steps, "batch_size": batch_size, "seed": seed,
              "note": "identical initial weights (PyTorch's, transferred) and identical batches and noise; "
                      "differences come from floating-point order only", "torch_losses": torch_losses,
              "backends": {}}
    for backend in backends:
        response = run_keras_worker(backend, {"models": {model: task}})["models"][model]
        per_step = []
        for i, (theirs, ours) in enumerate(zip(response["losses"], torch_losses)):
            per_step.append({"step": i + 1,
                             **{f"{k}_abs_diff": abs(theirs[k] - ours[k]) for k in ours},
                             "generator_rel_diff": relative_difference(response["generator_trajectory"][i],
                                                                       torch_trajectory[i])})
        result["backends"][backend] = {"keras_losses": response["losses"], "per_step": per_step}
    if out:
        runs.write_json(out, result)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmark.parity", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    step = commands.add_parser("lockstep", help="PyTorch vs Keras loss drift per step (JSON)")
    step.add_argument("--model", default="dcgan")
    step.add_argument("--steps", type=int, default=20)
    step.add_argument("--batch-size", type=int, default=16)
    step.add_argument("--seed", type=int, default=0)
    step.add_argument("--out", type=Path, default=LOCKSTEP_OUT)
    audit = commands.add_parser("audit", help="measured PyTorch vs Keras defaults (JSON)")
    audit.add_argument("--out", type=Path, default=AUDIT_OUT)
    worker = commands.add_parser("keras-worker", help=argparse.SUPPRESS)
    worker.add_argument("--backend", choices=BACKENDS, required=True)
    worker.add_argument("--request", required=True)
    worker.add_argument("--response", required=True)
    args = parser.parse_args(argv)
    if args.command == "keras-worker":
        keras_worker(args.backend, args.request, args.response)
    elif args.command == "lockstep":
        lockstep(args.model, args.steps, args.batch_size, args.seed, out=args.out)
        print(f"wrote {args.out}", file=sys.stderr)
    else:
        defaults_audit(args.out)
        print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
