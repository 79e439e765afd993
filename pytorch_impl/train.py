"""Train one GAN of the spec with PyTorch: ``python -m pytorch_impl.train --model dcgan --seed 0 --out RUN_DIR``.

``TorchGAN`` is the framework half of a run; the loop, logging, timing and resume around it are
``benchmark.training``'s, shared with the Keras implementation.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

if __name__ == "__main__":  # before torch loads (seconds): a Ctrl-C meanwhile must stop the run, not be lost
    from benchmark.interrupts import StopRequest
    StopRequest.install()

import numpy as np  # noqa: E402
import torch  # noqa: E402

from benchmark import exports, initial_weights, runs, training  # noqa: E402
from benchmark.data import StagedFeed, StepInputs, TrainingStream  # noqa: E402
from benchmark.run_config import RunConfig  # noqa: E402
from benchmark.spec import GANSpec  # noqa: E402
from pytorch_impl import models, runtime  # noqa: E402
from pytorch_impl.losses import clip_weights, gradient_penalty, objective_losses  # noqa: E402
from pytorch_impl.models import build_discriminator, build_generator, load_keras_layout  # noqa: E402
from pytorch_impl.optimizers import apply_schedule, build_optimizer, implementation, load_state  # noqa: E402
from pytorch_impl.seeding import seed_everything, set_tf32  # noqa: E402

# The gradient penalty is a gradient of the critic that the critic's update differentiates again; compiled graphs
# cannot be differentiated twice, so it always runs eagerly, inside a compiled update too (a graph break).
eager_gradient_penalty = torch.compiler.disable(gradient_penalty, reason="double backward")


def call(model: torch.nn.Module, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
    """``model(x)``, or ``model(x, labels)`` for a conditional network."""
    return model(x) if labels is None else model(x, labels)


def resolve_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise training.RunError("--device cuda asked for, but PyTorch sees no CUDA device")
    return torch.device("cuda" if name == "auto" and torch.cuda.is_available() else name.replace("auto", "cpu"))


def to_device(array: np.ndarray, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """One host-to-device copy of ``array``, cast to ``dtype`` on arrival. On CUDA from pinned memory, without
    blocking: a pageable copy makes the host wait for the GPU (PyTorch keeps the pinned block until the copy ends)."""
    tensor = torch.from_numpy(np.ascontiguousarray(array))
    if device.type == "cuda":
        tensor = tensor.pin_memory()
    return tensor.to(device, dtype, non_blocking=True)


class DeviceFeed(StagedFeed):
    """``benchmark.data.StagedFeed`` on a torch device: copies through ``to_device``, rows taken by indexing."""

    def __init__(self, stream: TrainingStream, device: torch.device, dtype: torch.dtype, chunk: int = 64):
        self.device, self.dtype = device, dtype
        super().__init__(stream, chunk)

    def put(self, array: np.ndarray) -> torch.Tensor:
        return to_device(array, self.device, torch.long if array.dtype.kind in "iu" else self.dtype)

    def stage(self, images: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(images).to(self.device, self.dtype)  # once: pinning 200 MB would cost more

    def take(self, images: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        return images[rows]


class TorchGAN:
    """Models, losses and optimisers of one spec, and one training iteration.

    Every forward pass in training mode updates batch-norm running statistics, the generator's during
    critic steps included; the discriminator sees real and fake batches in separate passes.
    """

    checkpoint_suffix = ".pt"
    mode = "eager"  # the execution mode (``set_execution_mode``)
    compile_seconds: float | None = None  # compiled modes: the first iteration, compilation included

    def __init__(self, spec: GANSpec, seed: int, device: str = "auto", deterministic: bool = False):
        self.spec, self.device = spec, resolve_device(device)
        self.determinism = seed_everything(seed, deterministic)
        set_tf32(spec.training.allow_tf32)
        self.dtype = getattr(torch, spec.training.dtype)
        # The Keras run of this seed starts from the same arrays (drawn with numpy, in spec.training.dtype).
        weights = initial_weights.draw(spec, seed)
        self.initial_weights = initial_weights.describe(weights)
        self.generator = build_generator(spec, weights["generator"]).to(self.device, self.dtype)
        self.discriminator = build_discriminator(spec, weights["discriminator"]).to(self.device, self.dtype)
        self.build_optimizers(fused=self.device.type == "cuda")
        self.d_loss, self.g_loss = objective_losses(spec.objective)

    def restart(self, seed: int) -> None:
        """Start again from ``seed``'s initial weights with fresh optimisers, in this execution mode (the toy
        runner trains many seeds in one process: ``benchmark.toy_training``)."""
        self.determinism = seed_everything(seed, self.determinism == "deterministic")
        weights = initial_weights.draw(self.spec, seed)
        self.initial_weights = initial_weights.describe(weights)
        load_keras_layout(self.generator, weights["generator"])
        load_keras_layout(self.discriminator, weights["discriminator"])
        self.build_optimizers(fused=self.device.type == "cuda" or runtime.EXECUTIONS[self.mode].fused)

    def build_optimizers(self, fused: bool) -> None:
        """The spec's optimisers; ``fused``: their fused implementation, or foreach where there is none."""
        objective = self.spec.objective
        self.g_optimizer = build_optimizer(self.generator.parameters(), objective.g_optimizer, fused)
        self.d_optimizer = build_optimizer(self.discriminator.parameters(), objective.d_optimizer, fused)

    def set_execution_mode(self, mode: str | None) -> None:
        """A mode of ``runtime.EXECUTIONS``, before the first iteration: ``eager`` (default), ``fused`` (fused
        optimisers on every device), ``compile`` (torch.compile of both models' forward), ``reduce-overhead`` (the
        same plus CUDA graphs) or ``compile-step`` (torch.compile of each critic and generator update: forward,
        backward and optimiser step, with fused optimisers). The gradient penalty stays eager in every mode
        (``eager_gradient_penalty``)."""
        self.mode = runtime.check_mode(mode, self.device)
        execution = runtime.EXECUTIONS[self.mode]
        if execution.fused:
            self.build_optimizers(fused=True)
        runtime.compile_module(self.generator, self.mode)
        runtime.compile_module(self.discriminator, self.mode)
        if execution.scope == runtime.STEP:  # Dynamo splits each update where it cannot trace (see the registry)
            self.critic_update = torch.compile(self.critic_update, mode=execution.compile)
            self.generator_update = torch.compile(self.generator_update, mode=execution.compile)

    def _tensor(self, array: np.ndarray | torch.Tensor | None) -> torch.Tensor | None:
        """A host array copied to the device (labels as int64), a ``DeviceFeed`` tensor as it is, None as None."""
        if array is None or isinstance(array, torch.Tensor):
            return array
        return to_device(array, self.device, torch.long if array.dtype.kind in "iu" else self.dtype)

    def feed(self, stream: TrainingStream) -> DeviceFeed:
        return DeviceFeed(stream, self.device, self.dtype)

    def critic_loss(self, real: torch.Tensor, fake: torch.Tensor, gp_weight: torch.Tensor,
                    real_labels: torch.Tensor | None = None, fake_labels: torch.Tensor | None = None,
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """(total, loss, penalty): real and fake in separate training-mode passes, plus the gradient penalty (a
        conditional critic scores the interpolates with the real batch's labels)."""
        d_loss = self.d_loss(call(self.discriminator, real, real_labels), call(self.discriminator, fake, fake_labels))
        if self.spec.objective.gp_weight is None:
            return d_loss, d_loss, None
        # The critic's eager ``forward`` (not a ``compile`` mode's compiled one): see ``eager_gradient_penalty``.
        forward = self.discriminator.forward
        critic = forward if real_labels is None else (lambda x: forward(x, real_labels))
        penalty = eager_gradient_penalty(critic, real, fake, gp_weight)
        return d_loss + self.spec.objective.gp_weight * penalty, d_loss, penalty

    def generator_loss(self, noise: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.g_loss(call(self.discriminator, call(self.generator, noise, labels), labels))

    def generator_update(self, noise: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """One generator update; returns its loss. (``zero_grad`` first: a compiled update breaks its graph there.)"""
        self.g_optimizer.zero_grad(set_to_none=True)
        g_loss = self.generator_loss(noise, labels)
        g_loss.backward()
        apply_schedule(self.g_optimizer, self.spec.objective.g_optimizer)
        self.g_optimizer.step()
        return g_loss

    def critic_update(self, real: torch.Tensor, noise: torch.Tensor, gp_weight: torch.Tensor,
                      real_labels: torch.Tensor | None = None,
                      fake_labels: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """One critic update (then weight clipping for WGAN); returns (loss, penalty)."""
        self.d_optimizer.zero_grad(set_to_none=True)
        with torch.no_grad():
            fake = call(self.generator, noise, fake_labels)
        total, d_loss, penalty = self.critic_loss(real, fake, gp_weight, real_labels, fake_labels)
        total.backward()
        apply_schedule(self.d_optimizer, self.spec.objective.d_optimizer)
        self.d_optimizer.step()
        if self.spec.objective.clip_value is not None:
            clip_weights(self.discriminator, self.spec.objective.clip_value)
        return d_loss, penalty

    def train_step(self, inputs: StepInputs) -> dict[str, torch.Tensor]:
        if self.mode == "reduce-overhead":
            torch.compiler.cudagraph_mark_step_begin()
        if runtime.EXECUTIONS[self.mode].compile is None or self.compile_seconds is not None:
            return self._iteration(inputs)
        start = time.perf_counter()  # torch.compile compiles on the first calls: time that iteration apart
        losses = self._iteration(inputs)
        self.synchronize()
        self.compile_seconds = time.perf_counter() - start
        return losses

    def _iteration(self, inputs: StepInputs) -> dict[str, torch.Tensor]:
        """``n_critic`` critic updates, then one generator update."""
        real = models.to_model_layout(self._tensor(inputs.real), self.spec.architecture.image_shape)
        d_noise = self._tensor(inputs.d_noise)
        gp_weight = self._tensor(inputs.gp_weight)
        real_labels, d_labels = self._tensor(inputs.real_labels), self._tensor(inputs.d_labels)
        self.generator.train(), self.discriminator.train()
        for k in range(self.spec.objective.n_critic):
            labels = (None, None) if real_labels is None else (real_labels[k], d_labels[k])
            d_loss, penalty = self.critic_update(real[k], d_noise[k], gp_weight[k], *labels)
        g_loss = self.generator_update(self._tensor(inputs.g_noise), self._tensor(inputs.g_labels))
        losses = {"d_loss": d_loss.detach(), "g_loss": g_loss.detach()}
        if penalty is not None:
            losses["gp"] = penalty.detach()
        return losses

    @torch.no_grad()
    def generate(self, noise: np.ndarray, labels: np.ndarray | None = None, dtype: str = "float32") -> np.ndarray:
        self.generator.eval()
        fake = call(self.generator, self._tensor(noise), self._tensor(labels))
        images = models.from_model_layout(fake, self.spec.architecture.image_shape).to(getattr(torch, dtype))
        images = images.cpu().numpy()
        self.generator.train()
        return images

    def export_generator(self, folder: Path) -> None:
        """The generator in PyTorch's own formats: its ``state_dict`` (for code that builds the same network) and a
        ``torch.export`` program (loadable with ``torch.export.load(path).module()``, no model code, any batch
        size), in inference mode; and its arrays in the neutral layout (``benchmark.exports``)."""
        from torch.export import Dim, export

        folder.mkdir(parents=True, exist_ok=True)
        self.generator.eval()
        try:
            torch.save(self.generator.state_dict(), folder / "generator_state_dict.pt")
            batch = Dim("batch", min=1)
            example = (torch.zeros(2, self.spec.training.noise_dim, device=self.device, dtype=self.dtype),)
            if self.spec.conditional:  # a conditional generator takes (noise, int64 labels)
                example += (torch.zeros(2, dtype=torch.int64, device=self.device),)
            program = export(self.generator, example, dynamic_shapes=tuple({0: batch} for _ in example))
            torch.export.save(program, folder / "generator.pt2")
        finally:
            self.generator.train()
        exports.write_layers(folder, models.keras_layout(self.generator), "pytorch")

    def load_generator_layers(self, arrays: list[list[np.ndarray]]) -> None:
        """The generator's weights and batch-norm statistics from arrays in the neutral (Keras) layout."""
        models.load_keras_layout(self.generator, [[np.asarray(a, self.spec.training.dtype) for a in layer]
                                                  for layer in arrays])
        self.generator.to(self.device)

    @torch.no_grad()
    def discriminate(self, samples: np.ndarray) -> np.ndarray:
        """The discriminator in inference mode: samples in ``generate``'s layout [N, ...] -> raw scores, float64 [N]."""
        self.discriminator.eval()
        images = models.to_model_layout(self._tensor(np.asarray(samples)), self.spec.architecture.image_shape)
        scores = self.discriminator(images)[:, 0].double().cpu().numpy()
        self.discriminator.train()
        return scores

    def save_checkpoint(self, path: Path, meta: dict) -> None:
        state = {"meta": meta, "generator": self.generator.state_dict(),
                 "discriminator": self.discriminator.state_dict(),
                 "g_optimizer": self.g_optimizer.state_dict(), "d_optimizer": self.d_optimizer.state_dict(),
                 "torch_rng": torch.get_rng_state()}
        runs.atomic_write(path, lambda f: torch.save(state, f))

    def load_checkpoint(self, path: Path, expected: dict) -> dict:
        state = torch.load(path, map_location=self.device, weights_only=True)
        training.check_checkpoint_meta(state["meta"], expected)
        self.generator.load_state_dict(state["generator"])
        self.discriminator.load_state_dict(state["discriminator"])
        load_state(self.g_optimizer, state["g_optimizer"])
        load_state(self.d_optimizer, state["d_optimizer"])
        torch.set_rng_state(state["torch_rng"].cpu())
        return state["meta"]

    def parameter_counts(self) -> dict[str, int]:
        return {name: sum(p.numel() for p in model.parameters() if p.requires_grad)
                for name, model in (("generator", self.generator), ("discriminator", self.discriminator))}

    def synchronize(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def describe(self) -> dict:
        cuda, execution = self.device.type == "cuda", runtime.EXECUTIONS[self.mode]
        return {"framework": "pytorch", "backend": None, "versions": {"torch": torch.__version__,
                                                                      "numpy": np.__version__},
                "device": self.device.type,
                "device_name": torch.cuda.get_device_name(self.device) if cuda else runs.cpu_model(),
                "determinism": self.determinism, "initial_weights": self.initial_weights,
                "compiled": execution.compile is not None, "compiled_scope": execution.scope,
                "execution_mode": self.mode,
                "compile_seconds": self.compile_seconds, "threads": runtime.thread_state(),
                "accelerator": runtime.accelerator_stack(self.device),
                "cudnn_benchmark": torch.backends.cudnn.benchmark,
                "optimizers": {"generator": implementation(self.g_optimizer),
                               "discriminator": implementation(self.d_optimizer)},
                "precision": {"dtype": self.spec.training.dtype, "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
                              "tf32_conv": torch.backends.cudnn.allow_tf32}}


def make_trainer(spec: GANSpec, config: RunConfig) -> TorchGAN:
    runtime.set_threads()
    trainer = TorchGAN(spec, config.seed, config.device, config.deterministic)
    runtime.check_on_gpu(trainer.generator, trainer.device)
    trainer.set_execution_mode(config.mode)
    return trainer


def main(argv: list[str] | None = None) -> int:
    return training.main(argv, "pytorch_impl", make_trainer)


if __name__ == "__main__":
    sys.exit(main())
