"""How Keras executes a run: thread counts, the execution mode (XLA, graph, jax.jit) and the check that a
``--device cuda`` run really computes on the GPU.

Imported after ``seeding.select_backend``; the process's entry point has pinned it already
(``benchmark.threads.pin``: variables and CPU affinity, read by TensorFlow and XLA when they start), so
``set_threads`` only restates the count.
"""
from __future__ import annotations

import os

import keras

from benchmark import threads
from benchmark.frameworks import KERAS, FrameworkError, find
from benchmark.training import RunError
from tensorflow_impl import backend_ops

# execution mode -> compile_function's jit_compile (``fit``: for generate; fit compiles its step as Keras chooses)
JIT_COMPILE = {"xla": True, "graph": False, "jit": True, "fit": True}
COMPILED_BY_FIT = ("fit",)


def check_mode(mode: str | None) -> str:
    """The registry's mode for the current backend (default: its default mode)."""
    try:
        return find(KERAS, keras.backend.backend(), mode).mode
    except FrameworkError as error:
        raise RunError(str(error)) from None


def mode_of(jit_compile: bool) -> str:
    """The mode a trainer built with ``jit_compile`` runs in (JAX without jit is plain eager JAX)."""
    if keras.backend.backend() == "tensorflow":
        return "xla" if jit_compile else "graph"
    return "jit" if jit_compile and keras.backend.backend() == "jax" else "eager"


def set_threads() -> None:
    """The process's pinned thread count (``benchmark.threads.pin``) for TensorFlow's pools or torch's; JAX sizes its
    pool from the CPU affinity the pinning set. Nothing when the process was not pinned."""
    pinning = threads.pinned()
    if pinning is not None and keras.backend.backend() == "torch":
        import torch
        torch.set_num_threads(pinning.threads)
    if pinning is None or keras.backend.backend() != "tensorflow":
        return
    import tensorflow as tf
    try:
        tf.config.threading.set_intra_op_parallelism_threads(pinning.threads)
        tf.config.threading.set_inter_op_parallelism_threads(pinning.threads)
    except RuntimeError:  # the runtime is already initialised (in-process tests): the environment applied
        pass


def thread_state() -> dict:
    state = {**threads.state(), "omp_num_threads": os.environ.get("OMP_NUM_THREADS")}
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf
        return {**state, "intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
                "inter_op": tf.config.threading.get_inter_op_parallelism_threads(),
                "tf_num_intraop_threads": os.environ.get("TF_NUM_INTRAOP_THREADS")}
    if keras.backend.backend() == "torch":
        import torch
        return {**state, "intra_op": torch.get_num_threads(), "inter_op": torch.get_num_interop_threads()}
    return {**state, "xla_flags": os.environ.get("XLA_FLAGS")}


def _tf_device_platform() -> str:
    import tensorflow as tf
    if not tf.config.list_physical_devices("GPU"):
        return "cpu"
    with tf.device("/GPU:0"):
        probe = tf.constant(1.0) + 1.0
    return "gpu" if "GPU" in probe.device.upper() else "cpu"


def _jax_device_platform() -> str:
    import jax
    return jax.devices()[0].platform


def _torch_device_platform() -> str:
    import torch
    return "gpu" if torch.cuda.is_available() else "cpu"


DEVICE_PLATFORM = {"tensorflow": _tf_device_platform, "jax": _jax_device_platform, "torch": _torch_device_platform}


def check_on_gpu(device: str) -> None:
    """For ``--device cuda``: a placed op (TensorFlow) or the default device (JAX) must be a GPU."""
    if device != "cuda":
        return
    platform = DEVICE_PLATFORM[keras.backend.backend()]()
    if platform != "gpu":
        raise RunError(f"--device cuda asked for, but Keras ({keras.backend.backend()}) computes on {platform}")



def accelerator_stack(device: str) -> dict | None:
    """On a GPU: the CUDA and cuDNN versions the backend runs with, for the report (None on a CPU)."""
    return backend_ops.accelerator() if device == "gpu" else None
