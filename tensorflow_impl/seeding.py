"""Choose the Keras backend, seed every RNG Keras uses and, on request, switch on deterministic kernels.

``select_backend`` must run before the first ``import keras``: Keras reads ``KERAS_BACKEND`` once, at import.
Nothing here imports TensorFlow on the JAX backend (the GPU path runs where TensorFlow is not installed).
"""
from __future__ import annotations

import os
import random
import sys

import numpy as np

from benchmark.training import RunError

BACKENDS = ("tensorflow", "jax", "torch")  # torch: the keras-torch-fit mode only (``benchmark.frameworks``)


def select_backend(name: str | None) -> str:
    """Set ``KERAS_BACKEND`` (default ``tensorflow``); refuse when Keras was already imported with another one."""
    name = name or os.environ.get("KERAS_BACKEND") or "tensorflow"
    if name not in BACKENDS:
        raise RunError(f"unknown Keras backend {name!r}; valid: {', '.join(BACKENDS)}")
    if "keras" in sys.modules:
        current = sys.modules["keras"].backend.backend()
        if current != name:
            raise RunError(f"Keras is already imported with the {current} backend in this process; "
                           f"start a new process for --backend {name}")
    os.environ["KERAS_BACKEND"] = name
    return name


def seed_everything(seed: int, deterministic: bool = False) -> str:
    """Seed Python and numpy; return the determinism level now in force. The initial weights are not drawn by
    Keras: both frameworks load the same numpy draw for the seed (``benchmark.initial_weights``).

    ``keras.utils.set_random_seed`` is not used: it imports TensorFlow whenever TensorFlow is installed,
    whatever the backend, which the JAX path must not do.

    ``"seeded"``: same initial weights; GPU kernels may still reorder floating-point sums.
    ``"deterministic"``: additionally deterministic kernels (TensorFlow op determinism; XLA's deterministic
    GPU reductions on JAX), slower on GPU.
    """
    import keras

    random.seed(seed)
    np.random.seed(seed)
    if deterministic:
        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf
            tf.config.experimental.enable_op_determinism()
        elif keras.backend.backend() == "torch":
            import torch
            torch.use_deterministic_algorithms(True)
        else:  # read by XLA when it compiles, which happens after this
            flags = os.environ.get("XLA_FLAGS", "")
            if "--xla_gpu_deterministic_ops" not in flags:
                os.environ["XLA_FLAGS"] = f"{flags} --xla_gpu_deterministic_ops=true".strip()
    return "deterministic" if deterministic else "seeded"


def set_dtype(dtype: str) -> None:
    """Make ``dtype`` Keras' float type for every layer, variable and constant built from now on.

    float64 on JAX needs JAX's 64-bit mode, without which arrays are silently float32, and Keras' type
    promotion (``keras.backend.result_type``) demotes float64 to float32 on every backend but TensorFlow to
    mirror JAX's default, which would turn ``ops.tanh`` or ``ops.mean`` of a float64 tensor into float32:
    with the 64-bit mode on, float64 promotes to itself."""
    import keras

    if keras.backend.backend() != "tensorflow":
        from keras.src.backend.common import dtypes

        dtypes.BIT64_TO_BIT32_DTYPE["float64"] = "float64" if dtype == "float64" else "float32"
    if keras.backend.backend() == "jax":
        import jax
        jax.config.update("jax_enable_x64", dtype == "float64")
    keras.config.set_floatx(dtype)


def set_tf32(allowed: bool) -> None:
    """State TF32 explicitly: TensorFlow enables it by default on Ampere and newer GPUs; JAX's default matmul
    precision may use it too. Off means full float32 matmuls and convolutions."""
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf
        tf.config.experimental.enable_tensor_float_32_execution(allowed)
    elif keras.backend.backend() == "torch":
        import torch
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = allowed
    else:
        import jax
        jax.config.update("jax_default_matmul_precision", "tensorfloat32" if allowed else "float32")


def tf32_state() -> dict:
    """The TF32 settings in force, as ``describe()`` reports them."""
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf
        enabled = tf.config.experimental.tensor_float_32_execution_enabled()
        return {"tf32_matmul": enabled, "tf32_conv": enabled}
    if keras.backend.backend() == "torch":
        import torch
        return {"tf32_matmul": torch.backends.cuda.matmul.allow_tf32, "tf32_conv": torch.backends.cudnn.allow_tf32}
    import jax
    precision = str(jax.config.jax_default_matmul_precision)
    return {"tf32_matmul": precision == "tensorfloat32", "tf32_conv": precision == "tensorfloat32",
            "jax_default_matmul_precision": precision}
