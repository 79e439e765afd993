"""``KerasFitTrainer``: the ``fit`` execution mode's half of a run, ``Model.fit`` driving the iterations.

Built like ``KerasGAN`` (same networks, initial weights, optimisers, checkpoints and ``generate``), it trains
through ``tensorflow_impl.fit_model.FitGAN.fit`` over a ``keras.utils.PyDataset`` of the (seed, step)-pure input
stream (host arrays, as a Keras user feeds ``fit``), and supplies ``run_steps`` (``benchmark.training.run_steps``):
one ``fit`` call per run of iterations, a callback handing each iteration's losses to the project's driver, whose
logging, grids, checkpoints and stop requests run there, and which stops ``fit`` when it says so.

Imported only after ``seeding.select_backend`` has set ``KERAS_BACKEND``.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping

import keras
import numpy as np

from benchmark.data import StepInputs, TrainingStream
from benchmark.spec import GANSpec
from tensorflow_impl.fit_model import LOSS_KEYS, build_fit_gan
from tensorflow_impl.models import to_model_layout
from tensorflow_impl.trainer import KerasGAN


class StreamDataset(keras.utils.PyDataset):
    """Iterations ``start`` .. ``stop - 1`` of the input stream, one batch per iteration: a dict of host arrays in
    the run's dtype (images NHWC). ``fit``'s data adapter leaves every array's leading axis unknown to the traced
    step, so each array leads with the critic-update axis (the generator batch with an axis of 1): the batch size
    stays static, as the batch norm's unbiased running variance needs. A conditional model's batches add its labels
    (int32, the generator's with the same leading axis of 1)."""

    def __init__(self, feed: Callable[[int], StepInputs], start: int, stop: int, dtype: str,
                 image_shape: tuple[int, ...], conditional: bool = False):
        super().__init__()
        self.feed, self.start, self.stop, self.dtype, self.conditional = feed, start, stop, dtype, conditional
        self.image_shape = image_shape

    def __len__(self) -> int:
        return self.stop - self.start

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        inputs = self.feed(self.start + index)
        batch = {"real": np.asarray(to_model_layout(inputs.real, self.image_shape), self.dtype),
                 "d_noise": np.asarray(inputs.d_noise, self.dtype),
                 "g_noise": np.asarray(inputs.g_noise[None], self.dtype),
                 "gp_weight": np.asarray(inputs.gp_weight, self.dtype)}
        if self.conditional:
            batch.update(real_labels=np.asarray(inputs.real_labels, np.int32),
                         d_labels=np.asarray(inputs.d_labels, np.int32),
                         g_labels=np.asarray(inputs.g_labels[None], np.int32))
        return batch


class DriverCallback(keras.callbacks.Callback):
    """After each batch: the step's own losses to ``after_step(iterations done, losses)``; stops ``fit`` when it
    returns False."""

    def __init__(self, start: int, after_step: Callable[[int, Mapping[str, Any]], bool]):
        super().__init__()
        self.start, self.after_step = start, after_step

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        losses = {key: value for key, value in (logs or {}).items() if key in LOSS_KEYS}
        if not self.after_step(self.start + batch + 1, losses):
            self.model.stop_training = True


class KerasFitTrainer(KerasGAN):
    """``KerasGAN``'s models trained by ``Model.fit``; the parent's compiled stateless step is not used."""

    def __init__(self, spec: GANSpec, seed: int, device: str = "auto", deterministic: bool = False,
                 jit_compile: bool = True):
        super().__init__(spec, seed, device, deterministic, jit_compile)
        with keras.device(self.device):
            self.model = build_fit_gan(self.generator, self.discriminator, spec.objective)
            self.model.compile(d_optimizer=self.d_optimizer, g_optimizer=self.g_optimizer,
                               d_loss_fn=self.d_loss, g_loss_fn=self.g_loss)

    def feed(self, stream: TrainingStream) -> Callable[[int], StepInputs]:
        return stream.step

    def run_steps(self, feed: Callable[[int], StepInputs], start: int, stop: int,
                  after_step: Callable[[int, Mapping[str, Any]], bool]) -> None:
        dataset = StreamDataset(feed, start, stop, self.spec.training.dtype, self.spec.architecture.image_shape,
                                self.spec.conditional)
        with keras.device(self.device):
            self.model.fit(dataset, epochs=1, verbose=0, shuffle=False, callbacks=[DriverCallback(start, after_step)])

    def train_step(self, inputs: StepInputs) -> dict:
        """One iteration: a ``fit`` of one batch (with ``fit``'s set-up each time; training uses ``run_steps``)."""
        losses: dict = {}
        self.run_steps(lambda step: inputs, 0, 1, lambda step, logs: losses.update(logs) or True)
        return losses

    def sync_variables(self) -> None:
        """Put the state ``fit`` carries as arrays (JAX) back into the variables, for ``generate`` and checkpoints
        between steps; the next step reads them again."""
        if self.backend == "jax":
            self.model.jax_state_sync()

    def generate(self, noise: np.ndarray, labels: np.ndarray | None = None, dtype: str = "float32") -> np.ndarray:
        self.sync_variables()
        return super().generate(noise, labels, dtype)

    def export_generator(self, folder) -> None:
        self.sync_variables()
        super().export_generator(folder)

    def save_checkpoint(self, path, meta: dict) -> None:
        self.sync_variables()
        super().save_checkpoint(path, meta)

    def synchronize(self) -> None:
        """Nothing queued: ``fit`` turns each step's logs into Python numbers for its callbacks (a sync per step)."""

    def describe(self) -> dict:
        return {**super().describe(), "compiler": f"Model.fit (jit_compile={self.model.jit_compile})",
                "compile_seconds": None, "execution_mode": "fit"}
