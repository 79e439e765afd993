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
              "initial": {"generator": weight_statistics(_keras_layer_arrays(gan.generator)),
                          "discriminator": weight_statistics(_keras_layer_arrays(gan.discriminator))}}
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

def weight_statistics(layers: list[list[np.ndarray]]) -> list[list[dict]]:
    """Per layer, per array: size, mean, std and largest magnitude (what an initialiser check needs)."""
    return [[{"shape": a.shape, "size": a.size, "mean": float(a.mean()), "std": float(a.std()),
              "abs_max": float(np.abs(a).max())} for a in arrays] for arrays in layers]


def relative_difference(a: list[list[np.ndarray]], b: list[list[np.ndarray]]) -> float:
    """max over tensors of ||a - b|| / ||b||."""
    return max(float(np.linalg.norm(x - y) / max(np.linalg.norm(y), 1e-12))
               for xs, ys in zip(a, b, strict=True) for x, y in zip(xs, ys, strict=True))


def global_relative_difference(a: list[list[np.ndarray]], b: list[list[np.ndarray]]) -> float:
    """||a - b|| / ||b|| over all arrays together (not dominated by small tensors such as a bias near zero)."""
    pairs = [(x, y) for xs, ys in zip(a, b, strict=True) for x, y in zip(xs, ys, strict=True)]
    return float(np.sqrt(sum(np.sum((x.astype(np.float64) - y) ** 2) for x, y in pairs)
                         / max(sum(np.sum(y.astype(np.float64) ** 2) for _, y in pairs), 1e-24)))


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
    torch_losses, torch_trajectory = [], []
    for step_inputs in inputs:
        torch_losses.append({k: float(v) for k, v in gan.train_step(step_inputs).items()})
        torch_trajectory.append(torch_layer_arrays(gan.generator))
    result = {"model": model, "steps": steps, "batch_size": batch_size, "seed": seed,
              "note": "identical initial weights (PyTorch's, transferred) and identical batches and noise; "
                      "differences come from floating-point order only. generator_rel_diff: ||K - T|| / ||T|| over "
                      "all generator weights and BN statistics; generator_max_tensor_rel_diff: the worst tensor", "torch_losses": torch_losses,
              "backends": {}}
    for backend in backends:
        response = run_keras_worker(backend, {"models": {model: task}})["models"][model]
        per_step = []
        for i, (theirs, ours) in enumerate(zip(response["losses"], torch_losses)):
            per_step.append({"step": i + 1,
                             **{f"{k}_abs_diff": abs(theirs[k] - ours[k]) for k in ours},
                             "generator_rel_diff": global_relative_difference(response["generator_trajectory"][i],
                                                                              torch_trajectory[i]),
                             "generator_max_tensor_rel_diff": relative_difference(response["generator_trajectory"][i],
                                                                                  torch_trajectory[i])})
        result["backends"][backend] = {"keras_losses": response["losses"], "per_step": per_step}
    if out:
        runs.write_json(out, result)
    return result


# ---------------------------------------------------------------------------------------- defaults audit

PADDING_CASES = (("conv", 4, 2, 1, 0), ("conv", 5, 2, 2, 0), ("conv", 3, 2, 1, 0), ("conv_transpose", 4, 2, 1, 0),
                 ("conv_transpose", 5, 2, 2, 1), ("conv_transpose", 3, 2, 1, 1))
SMALL_GRADIENT = 1e-6


def _audit_inputs() -> dict:
    rng = np.random.default_rng(0)
    padding = []
    for kind, k, s, p, q in PADDING_CASES:
        size = 28 if kind == "conv" else 7
        x = rng.standard_normal((2, 3, size, size), dtype=np.float32)
        w = rng.standard_normal((4, 3, k, k) if kind == "conv" else (3, 4, k, k), dtype=np.float32) * 0.1
        padding.append({"kind": kind, "kernel": k, "stride": s, "padding": p, "output_padding": q, "x": x, "w": w})
    return {"padding": padding, "bn_batch": rng.standard_normal((8, 16), dtype=np.float32) * 1.3 + 0.5}


def _torch_measurements(inputs: dict) -> dict:
    import torch
    import torch.nn.functional as F
    from torch import nn

    padding = []
    for case in inputs["padding"]:
        x, w = torch.from_numpy(case["x"]), torch.from_numpy(case["w"])
        if case["kind"] == "conv":
            y = F.conv2d(x, w, stride=case["stride"], padding=case["padding"])
        else:
            y = F.conv_transpose2d(x, w, stride=case["stride"], padding=case["padding"],
                                   output_padding=case["output_padding"])
        padding.append(y.detach().numpy())
    bn = nn.BatchNorm1d(16)
    bn(torch.from_numpy(inputs["bn_batch"]))
    optimizers = {}
    for name, make in (("adam", lambda p: torch.optim.Adam([p], lr=2e-4, betas=(0.5, 0.999), eps=1e-8)),
                       ("rmsprop", lambda p: torch.optim.RMSprop([p], lr=5e-5, alpha=0.9, eps=1e-7))):
        p = torch.zeros(1, requires_grad=True)
        optimizer = make(p)
        for _ in range(3):
            p.grad = torch.full((1,), SMALL_GRADIENT)
            optimizer.step()
        optimizers[name] = float(p.detach()[0])
    torch.manual_seed(0)
    linear = nn.Linear(1024, 1024)
    return {"padding": padding,
            "batch_norm": {"momentum": bn.momentum, "eps": bn.eps, "running_var": bn.running_var.detach().numpy().tolist()},
            "optimizers": optimizers,
            "defaults": {"adam_eps": torch.optim.Adam([torch.zeros(1)]).defaults["eps"],
                         "rmsprop_eps": torch.optim.RMSprop([torch.zeros(1)]).defaults["eps"],
                         "rmsprop_rho": torch.optim.RMSprop([torch.zeros(1)]).defaults["alpha"],
                         "leaky_relu_slope": nn.LeakyReLU().negative_slope},
            "init": {"dense_kernel_std": float(linear.weight.detach().std()),
                     "dense_bias_abs_max": float(linear.bias.detach().abs().max()),
                     "kind": "kaiming_uniform(a=sqrt(5)) kernel, uniform(+-1/sqrt(fan_in)) bias"},
            "tf32": _torch_tf32_defaults()}


def _torch_tf32_defaults() -> dict:
    """In a fresh process: this one may already have set the flags (``pytorch_impl.seeding.set_tf32``)."""
    code = "import json, torch; b = torch.backends; print(json.dumps({'matmul': b.cuda.matmul.allow_tf32, " \
           "'cudnn_conv': b.cudnn.allow_tf32}))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300)
    return json.loads(result.stdout.strip().splitlines()[-1])


def keras_measurements(inputs: dict) -> dict:
    """The same measurements with Keras' defaults and with this project's layers and optimisers."""
    import keras
    from keras import ops

    from benchmark.spec import Layer
    from tensorflow_impl.layers import BatchNorm, convolution, transposed_convolution
    from tensorflow_impl.optimizers import Adam, RMSprop

    def run(layers, x):
        for layer in layers:
            x = layer(x)
        return np.transpose(np.asarray(ops.convert_to_numpy(x)), (0, 3, 1, 2))

    padding = []
    for case in inputs["padding"]:
        x = np.transpose(case["x"], (0, 2, 3, 1))
        kernel = np.transpose(case["w"], (2, 3, 1, 0))
        spec_layer = Layer(case["kind"], units=4, kernel=case["kernel"], stride=case["stride"],
                           padding=case["padding"], output_padding=case["output_padding"], bias=False)
        init = keras.initializers.Constant(kernel)
        if case["kind"] == "conv":
            same = [keras.layers.Conv2D(4, case["kernel"], case["stride"], "same", use_bias=False,
                                        kernel_initializer=init)]
            explicit = convolution(spec_layer, use_bias=False, kernel_initializer=init)
        else:
            same = [keras.layers.Conv2DTranspose(4, case["kernel"], case["stride"], "same", use_bias=False,
                                                 kernel_initializer=init)]
            explicit = transposed_convolution(spec_layer, use_bias=False, kernel_initializer=init)
        padding.append({"same": run(same, x), "explicit": run(explicit, x)})
    batch = inputs["bn_batch"]
    default_bn, spec_bn = keras.layers.BatchNormalization(momentum=0.9), BatchNorm(0.1, 1e-5)
    default_bn(batch, training=True), spec_bn(batch, training=True)
    optimizers = {}
    for name, default, ours in (("adam", keras.optimizers.Adam(2e-4, beta_1=0.5, beta_2=0.999, epsilon=1e-8),
                                 Adam(2e-4, 0.5, 0.999, 1e-8)),
                                ("rmsprop", keras.optimizers.RMSprop(5e-5, rho=0.9, epsilon=1e-7),
                                 RMSprop(5e-5, 0.9, 1e-7))):
        for label, optimizer in (("keras", default), ("ours", ours)):
            p = keras.Variable(np.zeros(1, np.float32))
            optimizer.build([p])
            for _ in range(3):
                optimizer.apply([np.full(1, SMALL_GRADIENT, np.float32)], [p])
            optimizers[f"{name}_{label}"] = float(np.asarray(ops.convert_to_numpy(p.value))[0])
    dense = keras.layers.Dense(1024)
    dense.build((None, 1024))
    tf32 = {}
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf
        tf32["tensorflow_tf32_enabled_by_default"] = tf.config.experimental.tensor_float_32_execution_enabled()
    defaults = keras.layers.BatchNormalization()
    return {"padding": padding,
            "batch_norm": {"keras_default_momentum": defaults.momentum, "keras_default_eps": defaults.epsilon,
                           "keras_running_var": np.asarray(ops.convert_to_numpy(default_bn.moving_variance.value)).tolist(),
                           "ours_running_var": np.asarray(ops.convert_to_numpy(spec_bn.moving_variance.value)).tolist()},
            "optimizers": optimizers,
            "defaults": {"adam_eps": keras.optimizers.Adam().epsilon, "rmsprop_eps": keras.optimizers.RMSprop().epsilon,
                         "rmsprop_rho": keras.optimizers.RMSprop().rho,
                         "leaky_relu_slope": keras.layers.LeakyReLU().negative_slope},
            "init": {"dense_kernel_std": float(np.std(ops.convert_to_numpy(dense.kernel.value))),
                     "dense_bias_abs_max": float(np.abs(ops.convert_to_numpy(dense.bias.value)).max()),
                     "kind": "glorot_uniform kernel, zero bias"},
            "tf32": tf32}


def _shared_process(first: str) -> dict:
    """Import TensorFlow and torch in one process (``first`` decides the order), then take an optimiser step."""
    imports = {"tensorflow": "import tensorflow, torch", "torch._dynamo": "import torch._dynamo, tensorflow, torch"}
    code = f"{imports[first]}\np = torch.zeros(1, requires_grad=True)\np.grad = torch.ones(1)\n" \
           f"torch.optim.Adam([p]).step()\nprint('ok')"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}, timeout=600)
    return {"first_import": first, "exit_code": result.returncode, "ok": result.returncode == 0}


def defaults_audit(out: Path | None = AUDIT_OUT, shared_process: bool = True) -> dict:
    """Measure, on the installed versions, each PyTorch/Keras difference that decides a GAN comparison and
    whether the spec and the implementations neutralise it. Written as JSON for the report."""
    inputs = _audit_inputs()
    torch_side = _torch_measurements(inputs)
    keras_side = run_keras_worker("tensorflow", {"audit": inputs})
    padding = []
    for case, reference, keras_case in zip(inputs["padding"], torch_side["padding"], keras_side["padding"]):
        row = {k: case[k] for k in ("kind", "kernel", "stride", "padding", "output_padding")}
        for label in ("same", "explicit"):
            ours = keras_case[label]
            row[f"keras_{label}_max_abs_diff"] = (float(np.abs(ours - reference).max()) if ours.shape == reference.shape
                                                  else f"shape {ours.shape[2:]} vs {reference.shape[2:]}")
        padding.append(row)
    torch_var = np.array(torch_side["batch_norm"]["running_var"])
    bn = keras_side["batch_norm"]
    optimizer_rows = {name: {"pytorch": torch_side["optimizers"][name],
                             "keras_default": keras_side["optimizers"][f"{name}_keras"],
                             "ours": keras_side["optimizers"][f"{name}_ours"]} for name in ("adam", "rmsprop")}
    report = {
        "versions": _versions(),
        "padding": {"rows": padding, "neutralised_by": "spec states symmetric PyTorch padding; Keras pads explicitly "
                                                       "(ZeroPadding2D / Cropping2D) instead of 'same'"},
        "batch_norm": {"pytorch": {"momentum": torch_side["batch_norm"]["momentum"], "eps": torch_side["batch_norm"]["eps"],
                                   "running_var_mean": float(torch_var.mean())},
                       "keras_default": {"momentum": bn["keras_default_momentum"], "eps": bn["keras_default_eps"],
                                         "running_var_mean_at_momentum_0.9": float(np.mean(bn["keras_running_var"]))},
                       "ours_running_var_max_abs_diff": float(np.abs(np.array(bn["ours_running_var"]) - torch_var).max()),
                       "neutralised_by": "tensorflow_impl.layers.BatchNorm: momentum in PyTorch's convention, "
                                         "unbiased running variance, eps from the spec"},
        "optimizers": {"gradient": SMALL_GRADIENT, "steps": 3, "parameter_after": optimizer_rows,
                       "defaults": {"pytorch": {k: v for k, v in torch_side["defaults"].items() if k != "leaky_relu_slope"},
                                    "keras": {k: v for k, v in keras_side["defaults"].items() if k != "leaky_relu_slope"}},
                       "neutralised_by": "tensorflow_impl.optimizers (epsilon outside sqrt, after bias correction); "
                                         "every hyper-parameter stated in the spec"},
        "initializers": {"dense_1024x1024": {"pytorch_default": torch_side["init"], "keras_default": keras_side["init"]},
                         "leaky_relu_default_slope": {"pytorch": torch_side["defaults"]["leaky_relu_slope"],
                                                      "keras": keras_side["defaults"]["leaky_relu_slope"]},
                         "neutralised_by": "spec states every initialiser and slope; both builders pass them"},
        "tf32": {"pytorch_defaults": torch_side["tf32"], "keras": keras_side["tf32"],
                 "neutralised_by": "Training.allow_tf32 = False applied by both (torch flags; "
                                   "tf.config enable_tensor_float_32_execution(False); jax matmul precision float32)",
                 "note": "TF32 only acts on Ampere+ GPUs; on CPU it is measured as the flags alone"},
        "keras_imports_tensorflow_on_jax": "keras.utils.set_random_seed imports TensorFlow when installed, "
                                           "whatever the backend; tensorflow_impl does not call it",
    }
    if shared_process:
        report["shared_process"] = {"runs": [_shared_process("tensorflow"), _shared_process("torch._dynamo")],
                                    "neutralised_by": "frameworks in separate processes (parity worker); "
                                                      "tests/conftest.py imports torch._dynamo first"}
    if out:
        runs.write_json(out, report)
    return report


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version
    found = {}
    for name in ("torch", "tensorflow", "keras", "jax", "numpy"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


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
