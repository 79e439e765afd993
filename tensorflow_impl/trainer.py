"""``KerasGAN``: the Keras half of a run (models, losses, optimisers, one compiled training iteration).

Imported only after ``seeding.select_backend`` has set ``KERAS_BACKEND`` (``tensorflow_impl.train`` does).

The iteration is one pure function of (state, inputs) -> (state, losses), written once in
``keras.ops`` with ``stateless_call`` and ``stateless_apply``; only gradients, compilation and synchronisation
differ by backend (``backend_ops``). ``backend_ops.compile_step`` makes it a step that updates the models' and
optimisers' ``keras.Variable``s in place: on TensorFlow one ``tf.function(jit_compile=True)`` reads and assigns
the captured variables inside the graph; on JAX ``jax.jit`` donates the old state's buffers. An explicit step is
used rather than ``Model.fit`` with a custom ``train_step`` because the shared driver feeds each iteration
``n_critic`` critic batches plus one generator batch (``StepInputs``) and the parity tests need the exact
PyTorch update order; between steps the state lives in the variables, so saving, sampling and weight transfer
use ordinary Keras objects.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import keras
import numpy as np
from keras import ops

from benchmark import exports, initial_weights, runs, training
from benchmark.data import StagedFeed, StepInputs, TrainingStream
from benchmark.spec import GANSpec, SpecError
from tensorflow_impl import backend_ops, runtime
from tensorflow_impl.layers import BatchNorm
from tensorflow_impl.losses import clip_weights, gradient_penalty, objective_losses
from tensorflow_impl.export import save_generator
from tensorflow_impl.models import (build_discriminator, build_generator, count_parameters, from_model_layout,
                                    parameter_layers, set_layer_weights, to_model_layout)
from tensorflow_impl.optimizers import build_optimizer
from tensorflow_impl.seeding import seed_everything, set_dtype, set_tf32, tf32_state

def joined(x, labels):
    """A model's input: ``x``, or ``[x, labels]`` for a conditional network."""
    return x if labels is None else [x, labels]


# The initial weights' source, a module attribute so that the parity tests can replace it on the Keras side alone.
draw_initial_weights = initial_weights.draw


def resolve_device(name: str) -> str:
    """``cpu`` or ``gpu``, as ``keras.device`` names them."""
    gpus = backend_ops.gpus()
    if name == "cuda" and not gpus:
        raise training.RunError(f"--device cuda asked for, but Keras ({keras.backend.backend()}) sees no GPU")
    return "gpu" if name == "cuda" or (name == "auto" and gpus) else "cpu"


class DeviceFeed(StagedFeed):
    """``benchmark.data.StagedFeed`` on the Keras backend's device: images staged NHWC (``image_shape``: the spec's),
    rows taken with ``ops.take``."""

    def __init__(self, stream: TrainingStream, device: str, dtype: str, image_shape: tuple[int, ...], chunk: int = 64):
        self.device, self.dtype, self.image_shape = device, dtype, image_shape
        super().__init__(stream, chunk)

    def put(self, array: np.ndarray):
        with keras.device(self.device):
            return ops.convert_to_tensor(array, "int32" if array.dtype.kind in "iu" else self.dtype)

    def stage(self, images: np.ndarray):
        return self.put(to_model_layout(images, self.image_shape))  # [N, H, W, C]

    def take(self, images, rows):
        return ops.take(images, rows, axis=0)


class KerasGAN:
    """Models, losses and optimisers of one spec, and one training iteration.

    Every forward pass in training mode updates batch-norm running statistics, the generator's during
    critic steps included; the discriminator sees real and fake batches in separate passes (as PyTorch).
    """

    checkpoint_suffix = ".npz"

    def __init__(self, spec: GANSpec, seed: int, device: str = "auto", deterministic: bool = False,
                 jit_compile: bool = True):
        self.spec, self.backend, self.jit_compile = spec, keras.backend.backend(), jit_compile
        self.device = resolve_device(device)
        self.determinism = seed_everything(seed, deterministic)
        set_tf32(spec.training.allow_tf32)
        set_dtype(spec.training.dtype)
        # The PyTorch run of this seed starts from the same arrays (drawn with numpy, in spec.training.dtype).
        weights = draw_initial_weights(spec, seed)
        self.initial_weights = initial_weights.describe(weights)
        objective = spec.objective
        with keras.device(self.device):
            self.generator = build_generator(spec, weights["generator"])
            self.discriminator = build_discriminator(spec, weights["discriminator"])
            self.g_optimizer = build_optimizer(self.generator.trainable_variables, objective.g_optimizer)
            self.d_optimizer = build_optimizer(self.discriminator.trainable_variables, objective.d_optimizer)
        if objective.gp_weight is not None and any(isinstance(layer, BatchNorm) for layer in self.discriminator.layers):
            raise SpecError("a gradient penalty on a batch-normalised critic is not supported (Gulrajani et al. "
                            "drop batch norm from the critic; the spec's wasserstein_gp does)")
        self.d_loss, self.g_loss = objective_losses(objective)
        self._step = backend_ops.compile_step(self.iteration, self.state, self.set_state, jit_compile)
        self._generate = backend_ops.compile_function(self.infer, jit_compile)
        self.compile_seconds: float | None = None
        self._last = None

    def restart(self, seed: int) -> None:
        """Start again from ``seed``'s initial weights with fresh optimisers (every slot and the update count at
        zero), keeping the compiled step: the toy runner trains many seeds in one process
        (``benchmark.toy_training``)."""
        self.determinism = seed_everything(seed, self.determinism == "deterministic")
        weights = draw_initial_weights(self.spec, seed)
        self.initial_weights = initial_weights.describe(weights)
        set_layer_weights(self.generator, weights["generator"])
        set_layer_weights(self.discriminator, weights["discriminator"])
        for variable in [*self.g_optimizer.variables, *self.d_optimizer.variables]:
            variable.assign(ops.zeros(variable.shape, variable.dtype))

    # ------------------------------------------------------------------------------ state <-> variables

    def _variables(self) -> tuple[list, ...]:
        g, d = self.generator, self.discriminator
        return (g.trainable_variables, g.non_trainable_variables, d.trainable_variables, d.non_trainable_variables,
                self.g_optimizer.variables, self.d_optimizer.variables)

    def state(self) -> tuple[list, ...]:
        return tuple([v.value for v in group] for group in self._variables())

    def set_state(self, state) -> None:
        for group, values in zip(self._variables(), state):
            for variable, value in zip(group, values):
                variable.assign(value)

    # ------------------------------------------------------------------------------------ the iteration

    def critic_loss(self, d_params, d_state, real, fake, gp_weight, real_labels=None, fake_labels=None):
        """(total, (new critic state, loss, penalty)): real and fake in separate training-mode passes (a
        conditional critic scores the gradient penalty's interpolates with the real batch's labels)."""
        critic = self.discriminator
        real_out, d_state = critic.stateless_call(d_params, d_state, joined(real, real_labels), training=True)
        fake_out, d_state = critic.stateless_call(d_params, d_state, joined(fake, fake_labels), training=True)
        d_loss = self.d_loss(real_out, fake_out)
        if self.spec.objective.gp_weight is None:
            return d_loss, (d_state, d_loss, None)
        penalty = gradient_penalty(
            lambda x: critic.stateless_call(d_params, d_state, joined(x, real_labels), training=True)[0],
            real, fake, gp_weight)
        return d_loss + self.spec.objective.gp_weight * penalty, (d_state, d_loss, penalty)

    def generator_loss(self, g_params, g_state, d_params, d_state, noise, labels=None):
        fake, g_state = self.generator.stateless_call(g_params, g_state, joined(noise, labels), training=True)
        fake_out, d_state = self.discriminator.stateless_call(d_params, d_state, joined(fake, labels), training=True)
        g_loss = self.g_loss(fake_out)
        return g_loss, (g_state, d_state)

    def critic_update(self, k, carry, real, d_noise, gp_weight, real_labels=None, d_labels=None):
        """One critic update on batch ``k`` (then weight clipping for WGAN); ``carry`` is
        (g_params, g_state, d_params, d_state, d_opt, d_loss, penalty)."""
        g_params, g_state, d_params, d_state, d_opt, _, _ = carry
        labels = (None, None) if real_labels is None else (real_labels[k], d_labels[k])
        fake, g_state = self.generator.stateless_call(g_params, g_state, joined(d_noise[k], labels[1]), training=True)
        fake = ops.stop_gradient(fake)
        (_, (d_state, d_loss, penalty)), grads = backend_ops.value_and_grad(self.critic_loss)(
            d_params, d_state, real[k], fake, gp_weight[k], *labels)
        d_params, d_opt = self.d_optimizer.stateless_apply(d_opt, grads, d_params)
        if self.spec.objective.clip_value is not None:
            d_params = clip_weights(d_params, self.spec.objective.clip_value)
        return g_params, g_state, d_params, d_state, d_opt, d_loss, ops.zeros(()) if penalty is None else penalty

    def iteration(self, state, real, d_noise, g_noise, gp_weight, real_labels=None, d_labels=None, g_labels=None):
        """Pure: ``n_critic`` critic updates, then one generator update. ``real`` [n_critic, B, 28, 28, 1],
        ``d_noise`` [n_critic, B, z], ``g_noise`` [B, z], ``gp_weight`` [n_critic, B]; a conditional model's labels
        ``real_labels`` and ``d_labels`` [n_critic, B], ``g_labels`` [B] (``StepInputs``). The critic loop is
        unrolled when traced (n_critic <= 5): an ``ops.fori_loop`` compiles faster but, measured on CPU, ran
        WGAN-GP steps several times slower on TensorFlow-XLA (the loop carries every weight and slot)."""
        g_params, g_state, d_params, d_state, g_opt, d_opt = state
        objective = self.spec.objective
        carry = (g_params, g_state, d_params, d_state, d_opt, ops.zeros(()), ops.zeros(()))
        for k in range(objective.n_critic):
            carry = self.critic_update(k, carry, real, d_noise, gp_weight, real_labels, d_labels)
        g_params, g_state, d_params, d_state, d_opt, d_loss, penalty = carry
        (g_loss, (g_state, d_state)), grads = backend_ops.value_and_grad(self.generator_loss)(
            g_params, g_state, d_params, d_state, g_noise, g_labels)
        g_params, g_opt = self.g_optimizer.stateless_apply(g_opt, grads, g_params)
        losses = {"d_loss": d_loss, "g_loss": g_loss}
        if objective.gp_weight is not None:
            losses["gp"] = penalty
        return (g_params, g_state, d_params, d_state, g_opt, d_opt), losses

    def infer(self, g_params, g_state, noise, labels=None):
        return self.generator.stateless_call(g_params, g_state, joined(noise, labels), training=False)[0]

    # ------------------------------------------------------------------------------ GANTrainer protocol

    def _inputs(self, inputs: StepInputs) -> tuple:
        """The step's tensors: a ``DeviceFeed``'s as they are, host arrays converted (images to NHWC, labels to
        int32); a conditional model's labels follow the four arrays of every model."""
        arrays = (inputs.real, inputs.d_noise, inputs.g_noise, inputs.gp_weight)
        labels = (inputs.real_labels, inputs.d_labels, inputs.g_labels) if self.spec.conditional else ()
        if not isinstance(inputs.real, np.ndarray):
            return (*arrays, *labels)
        real = to_model_layout(inputs.real, self.spec.architecture.image_shape)  # images [k, B, ...] -> NHWC
        floats = tuple(ops.convert_to_tensor(np.ascontiguousarray(a, self.spec.training.dtype))
                       for a in (real, *arrays[1:]))
        return (*floats, *(ops.convert_to_tensor(np.asarray(a, np.int32)) for a in labels))

    def compile(self, inputs: StepInputs) -> float:
        """Trace and compile the step on ``inputs``' shapes, outside the timed steps. The step updates the
        variables, so their values are copied before and put back after. Returns and records the seconds it took."""
        saved = [[ops.convert_to_numpy(v.value) for v in group] for group in self._variables()]
        with keras.device(self.device):
            start = time.perf_counter()
            backend_ops.block_until_ready(self._step(*self._inputs(inputs)))
            self.compile_seconds = time.perf_counter() - start
            self.set_state(saved)
        return self.compile_seconds

    def feed(self, stream: TrainingStream) -> DeviceFeed:
        return DeviceFeed(stream, self.device, self.spec.training.dtype, self.spec.architecture.image_shape)

    def train_step(self, inputs: StepInputs) -> dict:
        with keras.device(self.device):
            self._last = self._step(*self._inputs(inputs))
        return self._last

    def generate(self, noise: np.ndarray, labels: np.ndarray | None = None, dtype: str = "float32") -> np.ndarray:
        g = self.generator
        with keras.device(self.device):
            images = self._generate([v.value for v in g.trainable_variables],
                                    [v.value for v in g.non_trainable_variables],
                                    ops.convert_to_tensor(np.asarray(noise, self.spec.training.dtype)),
                                    None if labels is None else ops.convert_to_tensor(np.asarray(labels, np.int32)))
        return from_model_layout(np.asarray(ops.convert_to_numpy(images), dtype), self.spec.architecture.image_shape)

    def export_generator(self, folder: Path) -> None:
        """The generator in Keras' own format, ``generator.keras`` (built-in layers only, loadable on every Keras
        backend: ``tensorflow_impl.export``), and its arrays in the neutral layout (``benchmark.exports``)."""
        folder.mkdir(parents=True, exist_ok=True)
        save_generator(self.generator, folder / "generator.keras")
        exports.write_layers(folder, [[ops.convert_to_numpy(w.value) for w in layer.weights]
                                      for layer in parameter_layers(self.generator)], "keras")

    def load_generator_layers(self, arrays: list[list[np.ndarray]]) -> None:
        """The generator's weights and batch-norm statistics from arrays in the neutral (Keras) layout."""
        set_layer_weights(self.generator, [[np.asarray(a, self.spec.training.dtype) for a in layer]
                                           for layer in arrays])

    def discriminate(self, samples: np.ndarray) -> np.ndarray:
        """The discriminator in inference mode: samples in ``generate``'s layout [N, ...] -> raw scores, float64 [N]."""
        with keras.device(self.device):
            images = to_model_layout(np.asarray(samples, self.spec.training.dtype), self.spec.architecture.image_shape)
            scores = self.discriminator(ops.convert_to_tensor(images), training=False)
        return np.asarray(ops.convert_to_numpy(scores), np.float64)[:, 0]

    def _checkpoint_groups(self) -> dict[str, list]:
        return {"generator": self.generator.variables, "discriminator": self.discriminator.variables,
                "g_optimizer": self.g_optimizer.variables, "d_optimizer": self.d_optimizer.variables}

    def save_checkpoint(self, path: Path, meta: dict) -> None:
        arrays = {f"{group}/{i}": ops.convert_to_numpy(variable.value)
                  for group, variables in self._checkpoint_groups().items() for i, variable in enumerate(variables)}
        meta = {**meta, "backend": self.backend}
        runs.write_npz(path, compressed=False, meta=np.array(json.dumps(meta, sort_keys=True)), **arrays)

    def load_checkpoint(self, path: Path, expected: dict) -> dict:
        with np.load(path, allow_pickle=False) as data:
            stored = dict(data)
        meta = json.loads(str(stored.pop("meta")))
        # The stored meta went through JSON (tuples became lists); compare like with like.
        training.check_checkpoint_meta(meta, json.loads(json.dumps(expected)))
        if meta.get("backend") != self.backend:
            raise training.RunError(f"checkpoint was written with Keras backend {meta.get('backend')!r}, this run "
                                    f"uses {self.backend!r}; pass --backend {meta.get('backend')} or use another --out")
        for group, variables in self._checkpoint_groups().items():
            arrays = [stored[f"{group}/{i}"] for i in range(len(variables))]
            for variable, array in zip(variables, arrays):
                if tuple(variable.shape) != array.shape:
                    raise training.RunError(f"{path}: {group} variable {variable.path} has shape {array.shape}, "
                                            f"the model expects {tuple(variable.shape)}")
            for variable, array in zip(variables, arrays):
                variable.assign(array)
        return meta

    def parameter_counts(self) -> dict[str, int]:
        return {"generator": count_parameters(self.generator), "discriminator": count_parameters(self.discriminator)}

    def synchronize(self) -> None:
        if self._last is not None:
            backend_ops.block_until_ready(self._last)

    def describe(self) -> dict:
        gpus = backend_ops.gpus()
        return {"framework": "keras", "backend": self.backend,
                "versions": {**backend_ops.versions(), "numpy": np.__version__},
                "device": "cuda" if self.device == "gpu" else "cpu",
                "device_name": gpus[0] if self.device == "gpu" else runs.cpu_model(),
                "accelerator": runtime.accelerator_stack(self.device),
                "determinism": self.determinism, "initial_weights": self.initial_weights, "compiled": True,
                "compiler": ("tf.function(jit_compile=True) (XLA)" if self.jit_compile else "tf.function")
                if self.backend == "tensorflow" else "jax.jit (XLA)",
                "compile_seconds": self.compile_seconds, "execution_mode": runtime.mode_of(self.jit_compile),
                "threads": runtime.thread_state(),
                "precision": {"dtype": self.spec.training.dtype, **tf32_state()}}
