"""The defaults audit: each PyTorch/Keras default difference that decides a GAN comparison, measured on the
installed versions, and whether the spec and the implementations neutralise it.

``python -m benchmark.parity audit [--out results/parity/defaults_audit.json]``. PyTorch is measured here,
Keras in a worker process (``keras_measurements`` runs there and never imports torch).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from benchmark import runs
from benchmark.parity import worker

OUT = worker.ROOT / "results" / "parity" / "defaults_audit.json"

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
    from benchmark.frameworks import KERAS, implementation
    keras_layers, keras_optimizers = implementation(KERAS, "layers"), implementation(KERAS, "optimizers")
    BatchNorm, convolution, transposed_convolution = (keras_layers.BatchNorm, keras_layers.convolution,
                                                      keras_layers.transposed_convolution)
    Adam, RMSprop = keras_optimizers.Adam, keras_optimizers.RMSprop

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
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=worker.ROOT,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}, timeout=600)
    return {"first_import": first, "exit_code": result.returncode, "ok": result.returncode == 0}


def defaults_audit(out: Path | None = OUT, shared_process: bool = True) -> dict:
    """Measure, on the installed versions, each PyTorch/Keras difference that decides a GAN comparison and
    whether the spec and the implementations neutralise it. Written as JSON for the report."""
    inputs = _audit_inputs()
    torch_side = _torch_measurements(inputs)
    keras_side = worker.run("tensorflow", {"audit": inputs})
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
