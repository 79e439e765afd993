"""The only backend-specific code: gradients, the gradient of a function w.r.t. its input (for the
gradient penalty), graph compilation and device synchronisation. Everything else is ``keras.ops``.

Chosen by dictionary on ``keras.backend.backend()``; the TensorFlow functions import TensorFlow and the
JAX functions JAX, each only when called, so the JAX path never imports TensorFlow.
"""
from __future__ import annotations

from typing import Any, Callable

import keras


# ------------------------------------------------------------------------------------------ TensorFlow

def _tf_value_and_grad(fn: Callable) -> Callable:
    import tensorflow as tf

    def wrapped(params, *args):
        with tf.GradientTape() as tape:
            tape.watch(params)
            value, aux = fn(params, *args)
        # A label embedding's gradient is an IndexedSlices (the rows gathered); the optimisers take dense tensors.
        gradients = [tf.convert_to_tensor(g) if isinstance(g, tf.IndexedSlices) else g
                     for g in tape.gradient(value, params)]
        return (value, aux), gradients
    return wrapped


def _tf_input_gradient(fn: Callable, x):
    import tensorflow as tf

    # Nested inside the outer tape of ``value_and_grad``, which records this gradient computation too.
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.reduce_sum(fn(x))
    return tape.gradient(y, x)


def _tf_compile(fn: Callable, jit_compile: bool) -> Callable:
    import tensorflow as tf
    return tf.function(fn, jit_compile=jit_compile, reduce_retracing=True)


def _tf_compile_step(fn: Callable, read_state: Callable, write_state: Callable, jit_compile: bool) -> Callable:
    import tensorflow as tf

    def step(*inputs):  # the variables are captured: read and assigned inside the graph, updated in place
        state, aux = fn(read_state(), *inputs)
        write_state(state)
        return aux
    return tf.function(step, jit_compile=jit_compile, reduce_retracing=True)


def _tf_block(tree: Any) -> None:
    import tensorflow as tf
    for value in tf.nest.flatten(tree):
        if value is not None:
            value.numpy()  # waits for the kernels that produce it


def _tf_gpus() -> list[str]:
    import tensorflow as tf
    return [tf.config.experimental.get_device_details(d).get("device_name", d.name)
            for d in tf.config.list_physical_devices("GPU")]


def _tf_versions() -> dict:
    import tensorflow as tf
    return {"tensorflow": tf.__version__}


def _tf_accelerator() -> dict:
    import tensorflow as tf
    build = tf.sysconfig.get_build_info()
    return {"cuda": build.get("cuda_version"), "cudnn": build.get("cudnn_version")}


# ----------------------------------------------------------------------------------------------- JAX

def _jax_value_and_grad(fn: Callable) -> Callable:
    import jax
    return jax.value_and_grad(fn, has_aux=True)


def _jax_input_gradient(fn: Callable, x):
    import jax
    return jax.grad(lambda inputs: fn(inputs).sum())(x)


def _jax_compile(fn: Callable, jit_compile: bool) -> Callable:
    import jax
    return jax.jit(fn) if jit_compile else fn


def _jax_compile_step(fn: Callable, read_state: Callable, write_state: Callable, jit_compile: bool) -> Callable:
    import jax
    compiled = jax.jit(fn, donate_argnums=0) if jit_compile else fn

    def step(*inputs):
        state, aux = compiled(read_state(), *inputs)  # the old state's buffers are donated: invalid from here on
        write_state(state)
        return aux
    return step


def _jax_block(tree: Any) -> None:
    import jax
    jax.block_until_ready(tree)


def _jax_gpus() -> list[str]:
    import jax
    try:
        return [d.device_kind for d in jax.devices("gpu")]
    except RuntimeError:  # no GPU platform
        return []


def _jax_versions() -> dict:
    import jax
    import jaxlib
    return {"jax": jax.__version__, "jaxlib": jaxlib.__version__}


def _jax_accelerator() -> dict:
    import jax
    return {"cuda": jax.devices()[0].client.platform_version}  # e.g. "cuda 12080" (CUDA and cuDNN of the plugin)


# --------------------------------------------------------------------------------------------- torch
# The torch backend runs eagerly (Keras' default there): "compiled" functions are the functions themselves.

def _torch_value_and_grad(fn: Callable) -> Callable:
    import torch

    def wrapped(params, *args):
        params = [p.detach().requires_grad_(True) for p in params]
        value, aux = fn(params, *args)
        return (value, aux), list(torch.autograd.grad(value, params))
    return wrapped


def _torch_input_gradient(fn: Callable, x):
    import torch

    x = x.detach().requires_grad_(True)
    return torch.autograd.grad(fn(x).sum(), x, create_graph=True)[0]  # differentiable: the penalty's gradient


def _torch_compile(fn: Callable, jit_compile: bool) -> Callable:
    return fn


def _torch_compile_step(fn: Callable, read_state: Callable, write_state: Callable, jit_compile: bool) -> Callable:
    def step(*inputs):
        state, aux = fn(read_state(), *inputs)
        write_state(state)
        return aux
    return step


def _torch_block(tree: Any) -> None:
    import torch
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _torch_gpus() -> list[str]:
    import torch
    return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]


def _torch_versions() -> dict:
    import torch
    return {"torch": torch.__version__}


def _torch_accelerator() -> dict:
    import torch
    return {"cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version()}


BACKEND_OPS = {
    "tensorflow": dict(value_and_grad=_tf_value_and_grad, input_gradient=_tf_input_gradient, compile=_tf_compile,
                       compile_step=_tf_compile_step, block=_tf_block, gpus=_tf_gpus, versions=_tf_versions,
                       accelerator=_tf_accelerator),
    "jax": dict(value_and_grad=_jax_value_and_grad, input_gradient=_jax_input_gradient, compile=_jax_compile,
                compile_step=_jax_compile_step, block=_jax_block, gpus=_jax_gpus, versions=_jax_versions,
                accelerator=_jax_accelerator),
    "torch": dict(value_and_grad=_torch_value_and_grad, input_gradient=_torch_input_gradient, compile=_torch_compile,
                  compile_step=_torch_compile_step, block=_torch_block, gpus=_torch_gpus, versions=_torch_versions,
                  accelerator=_torch_accelerator),
}


def _op(name: str) -> Callable:
    backend = keras.backend.backend()
    if backend not in BACKEND_OPS:
        raise RuntimeError(f"Keras backend {backend!r} is not supported; valid: {', '.join(BACKEND_OPS)}")
    return BACKEND_OPS[backend][name]


def value_and_grad(fn: Callable) -> Callable:
    """``fn(params, *args) -> (value, aux)`` becomes ``(params, *args) -> ((value, aux), d value / d params)``."""
    return _op("value_and_grad")(fn)


def input_gradient(fn: Callable, x):
    """d sum(fn(x)) / dx, itself differentiable (for a penalty on it)."""
    return _op("input_gradient")(fn, x)


def compile_function(fn: Callable, jit_compile: bool = True) -> Callable:
    """A compiled graph of the pure function ``fn``: ``tf.function`` (XLA when ``jit_compile``) or ``jax.jit``."""
    return _op("compile")(fn, jit_compile)


def compile_step(fn: Callable, read_state: Callable, write_state: Callable, jit_compile: bool = True) -> Callable:
    """``(*inputs) -> aux``: the pure ``fn(state, *inputs) -> (new state, aux)`` compiled, with the state read by
    ``read_state()`` and the new state left by ``write_state(new)``, updated in place where the backend can.

    TensorFlow: one ``tf.function`` around read, ``fn`` and write; the variables are captured, so the call passes
    only the inputs and the assignments run inside the compiled graph, not one per variable from Python.
    JAX: ``jax.jit(fn)`` with the state donated, so XLA may write the new state into the old buffers; the
    variables then hold the new arrays (no copy), and nothing may read the old ones.
    """
    return _op("compile_step")(fn, read_state, write_state, jit_compile)


def block_until_ready(tree: Any) -> None:
    """Wait until the device has computed every array in ``tree`` (for timing)."""
    _op("block")(tree)


def gpus() -> list[str]:
    """Names of the GPUs the backend sees (empty on a CPU machine)."""
    return _op("gpus")()


def accelerator() -> dict:
    """The CUDA (and cuDNN) versions the backend's GPU support was built with or runs."""
    return _op("accelerator")()


def versions() -> dict:
    return {"keras": keras.__version__, **_op("versions")()}
