"""The framework registry: every (framework, Keras backend, execution mode) the benchmark can train and time.

A core module (no harness import, no framework import): the suite, the speed phase, the train CLIs and the
report all read it. An entry's ``label`` names it on the command line (``pytorch-compile``, ``keras-tf-xla``);
its ``name`` is what run folders and reports call it: the short, historical names for the defaults as users
run them (``pytorch``, ``keras-tensorflow``, ``keras-jax``), the label otherwise, so that
``dcgan-pytorch-seed0`` stays the default PyTorch run and ``dcgan-pytorch-compile-seed0`` is the compiled one.
"""
from __future__ import annotations

import importlib
import os
import sys
from dataclasses import dataclass
from types import ModuleType

PYTORCH, KERAS = "pytorch", "keras"
KERAS_BACKENDS = ("tensorflow", "jax")
# The interpreter of a family's child processes, when it is not this one: on a GPU machine the Makefile installs
# the Keras family into a virtual environment of its own (torch's CUDA 13 wheels and TensorFlow's CUDA 12 ones
# write the same cuDNN and NCCL files, README "GPU install") and points GANBENCH_KERAS_PYTHON at it.
PYTHON_ENV = {PYTORCH: "GANBENCH_PYTORCH_PYTHON", KERAS: "GANBENCH_KERAS_PYTHON"}


class FrameworkError(ValueError):
    """An unknown framework label or mode; the message lists the valid ones."""


@dataclass(frozen=True)
class Framework:
    label: str
    family: str  # PYTORCH or KERAS
    module: str  # the training module, run with ``python -m``
    backend: str | None  # the Keras backend; None for PyTorch
    mode: str  # the execution mode (``--mode`` of the train CLIs)
    default: bool  # the framework's default as users run it
    color: str  # for plots
    pretty: str  # a short human name, for legends and tables
    description: str
    requires_gpu: bool = False

    @property
    def name(self) -> str:
        """The name in run folders, suite files and reports (see the module docstring)."""
        return short_name(self.family, self.backend) if self.default else self.label

    @property
    def python(self) -> str:
        """The interpreter that runs this framework's children: ``$GANBENCH_<FAMILY>_PYTHON``, else this one."""
        return os.environ.get(PYTHON_ENV[self.family]) or sys.executable

    @property
    def package(self) -> str:
        """The implementation package (``pytorch_impl``): the top of ``module``."""
        return self.module.split(".")[0]


FRAMEWORKS: dict[str, Framework] = {}
ALIASES: dict[str, str] = {}  # short name -> label


def short_name(family: str, backend: str | None) -> str:
    return PYTORCH if family == PYTORCH else f"keras-{backend}"


def register_framework(framework: Framework) -> Framework:
    """Add ``framework``; a second entry with its label, or a second default for its family and backend,
    is refused."""
    if framework.label in FRAMEWORKS or framework.label in ALIASES:
        raise FrameworkError(f"framework {framework.label!r} is registered twice")
    if framework.default:
        alias = short_name(framework.family, framework.backend)
        if alias in ALIASES:
            raise FrameworkError(f"{alias!r} already has a default mode ({ALIASES[alias]!r})")
        ALIASES[alias] = framework.label
    FRAMEWORKS[framework.label] = framework
    return framework


# Short names resolved on the chosen Keras backend (``run_all --keras-backend``): name -> mode (None: the default).
KERAS_SHORT_NAMES = {KERAS: None, "keras-fit": "fit"}


def valid_names() -> list[str]:
    return [PYTORCH, *KERAS_SHORT_NAMES, *(a for a in ALIASES if a != PYTORCH), *FRAMEWORKS]


def get_framework(name: str, keras_backend: str = "tensorflow") -> Framework:
    """The entry for a label or a short name (``keras`` means the default mode on ``keras_backend``, ``keras-fit``
    its ``fit`` mode)."""
    if keras_backend not in KERAS_BACKENDS:
        raise FrameworkError(f"unknown Keras backend {keras_backend!r}; valid: {', '.join(KERAS_BACKENDS)}")
    if name in KERAS_SHORT_NAMES and name != KERAS:
        return find(KERAS, keras_backend, KERAS_SHORT_NAMES[name])
    label = ALIASES.get(f"keras-{keras_backend}" if name == KERAS else name, name)
    try:
        return FRAMEWORKS[label]
    except KeyError:
        raise FrameworkError(f"unknown framework {name!r}; valid: {', '.join(valid_names())}") from None


def modes(family: str, backend: str | None = None) -> list[str]:
    """The execution modes a framework (and Keras backend) accepts, its default first."""
    entries = [f for f in FRAMEWORKS.values() if f.family == family and f.backend == backend]
    return [f.mode for f in sorted(entries, key=lambda f: not f.default)]


def find(family: str, backend: str | None = None, mode: str | None = None) -> Framework:
    """The entry of ``mode`` (None: the default) for a framework and Keras backend; an unknown mode raises
    with the valid ones."""
    valid = modes(family, backend)
    if not valid:
        raise FrameworkError(f"no framework {short_name(family, backend)!r} is registered")
    mode = mode or valid[0]
    for framework in FRAMEWORKS.values():
        if (framework.family, framework.backend, framework.mode) == (family, backend, mode):
            return framework
    raise FrameworkError(f"unknown mode {mode!r} for {short_name(family, backend)}; valid: {', '.join(valid)}")


def implementation(family: str, submodule: str = "train") -> ModuleType:
    """A module of the implementation registered for ``family`` (``implementation(KERAS, "models")``): the one way
    the harness (parity, speed) reaches an implementation's internals (``benchmark/layering.py``). Importing it
    imports the framework."""
    packages = {f.package for f in FRAMEWORKS.values() if f.family == family}
    if len(packages) != 1:
        raise FrameworkError(f"no single implementation is registered for {family!r} ({sorted(packages)}); "
                             f"valid: {', '.join(sorted({f.family for f in FRAMEWORKS.values()}))}")
    return importlib.import_module(f"{packages.pop()}.{submodule}")


def by_name(name: str) -> Framework | None:
    """The entry whose run-folder ``name`` is ``name`` (``pytorch``, ``pytorch-compile``), else None."""
    return next((f for f in FRAMEWORKS.values() if f.name == name), None)


register_framework(Framework(
    "pytorch-eager", PYTORCH, "pytorch_impl.train", None, "eager", True, "#ee4c2c", "PyTorch",
    "PyTorch eager execution, as PyTorch runs by default: the optimisers' default implementation (a for-loop over "
    "the parameters on CPU), except fused Adam on CUDA"))
register_framework(Framework(
    "pytorch-fused", PYTORCH, "pytorch_impl.train", None, "fused", False, "#c51b7d", "PyTorch (fused optimisers)",
    "PyTorch eager execution with fused optimisers on every device, CPU included: Adam(fused=True), one kernel "
    "updating every parameter; RMSprop (WGAN) has no fused implementation in torch 2.14, so RMSprop(foreach=True)"))
register_framework(Framework(
    "pytorch-compile", PYTORCH, "pytorch_impl.train", None, "compile", False, "#f5a35c", "PyTorch (compile)",
    "torch.compile (Inductor) of the generator's and discriminator's forward passes only (AOTAutograd compiles "
    "their backward); the losses, the optimiser steps (pytorch-eager's implementation) and WGAN-GP's gradient "
    "penalty stay eager; compile time = the first iteration"))
register_framework(Framework(
    "pytorch-compile-step", PYTORCH, "pytorch_impl.train", None, "compile-step", False, "#6a3d9a",
    "PyTorch (compiled step)",
    "torch.compile (Inductor) of each whole update, the critic's and the generator's: forward passes, loss, "
    "backward and optimiser step (WGAN: and weight clipping), with pytorch-fused's optimisers; compile time = the "
    "first iteration. Dynamo splits an update where it cannot trace, so these stay eager: zero_grad, backward() "
    "itself (the autograd engine runs the backward graphs AOTAutograd compiled with each forward graph), Adam's "
    "step (Dynamo does not trace its fused kernel; WGAN's foreach RMSprop step is compiled), WGAN-GP's gradient "
    "penalty (a double backward) and the loop over the n_critic updates"))
register_framework(Framework(
    "pytorch-reduce-overhead", PYTORCH, "pytorch_impl.train", None, "reduce-overhead", False, "#9c2a12",
    "PyTorch (CUDA graphs)",
    "torch.compile(mode='reduce-overhead') of the forward passes, as pytorch-compile: Inductor plus CUDA graphs "
    "(GPU only)",
    requires_gpu=True))
register_framework(Framework(
    "keras-tf-xla", KERAS, "tensorflow_impl.train", "tensorflow", "xla", True, "#1f77b4", "Keras (TensorFlow)",
    "Keras 3 on TensorFlow, the iteration in tf.function(jit_compile=True) (XLA)"))
register_framework(Framework(
    "keras-tf-graph", KERAS, "tensorflow_impl.train", "tensorflow", "graph", False, "#7fb2dc",
    "Keras (TensorFlow graph)", "Keras 3 on TensorFlow, the iteration in tf.function without XLA"))
register_framework(Framework(
    "keras-jax-jit", KERAS, "tensorflow_impl.train", "jax", "jit", True, "#2ca02c", "Keras (JAX)",
    "Keras 3 on JAX, the iteration in jax.jit (XLA)"))
register_framework(Framework(
    "keras-tf-fit", KERAS, "tensorflow_impl.train", "tensorflow", "fit", False, "#17becf", "Keras fit (TensorFlow)",
    "Keras 3 on TensorFlow as the Keras examples write a GAN: a keras.Model with compile(d_optimizer, g_optimizer) "
    "and a train_step with tf.GradientTape and apply_gradients, keras.metrics.Mean trackers, Model.fit over a "
    "keras.utils.PyDataset of host arrays, callbacks for logging and checkpoints; compiled as fit compiles it "
    "(jit_compile='auto': XLA), compile time inside the first iteration"))
register_framework(Framework(
    "keras-jax-fit", KERAS, "tensorflow_impl.train", "jax", "fit", False, "#98df8a", "Keras fit (JAX)",
    "Keras 3 on JAX as the Keras examples write a GAN: a keras.Model with compile(d_optimizer, g_optimizer) and "
    "a stateless train_step(state, data) with stateless_call and optimizer.stateless_apply, keras.metrics.Mean "
    "trackers, Model.fit over a keras.utils.PyDataset of host arrays, callbacks for logging and checkpoints; "
    "jax.jit as fit compiles it, compile time inside the first iteration"))
register_framework(Framework(
    "keras-torch-fit", KERAS, "tensorflow_impl.train", "torch", "fit", False, "#8c564b", "Keras fit (torch)",
    "Keras 3 on its torch backend as the Keras examples write a GAN: a keras.Model with compile(d_optimizer, "
    "g_optimizer) and a train_step with zero_grad, loss.backward() and optimizer.apply, keras.metrics.Mean trackers, "
    "Model.fit over a keras.utils.PyDataset of host arrays, callbacks for logging and checkpoints; eager, as fit runs "
    "on torch (jit_compile='auto' does not compile there); the process never imports TensorFlow"))
