"""``FitGAN``: the GAN as the Keras examples write it, for ``Model.fit`` (the ``fit`` execution mode).

A ``keras.Model`` subclass with its own ``compile(d_optimizer, g_optimizer, d_loss_fn, g_loss_fn)``,
``keras.metrics.Mean`` trackers and a ``train_step`` written once per backend, as the keras-io guides
(``custom_train_step_in_tensorflow.py``, ``custom_train_step_in_jax.py``, ``custom_train_step_in_torch.py``) write
it: on TensorFlow stateful layer calls under ``tf.GradientTape`` and ``optimizer.apply_gradients``; on JAX a
stateless ``train_step(state, data)`` with ``stateless_call`` and ``optimizer.stateless_apply``; on torch
``loss.backward()`` and ``optimizer.apply``. It reuses the project's
networks, losses and optimisers (same spec, same initial weights) and the update order of
``tensorflow_impl.trainer.KerasGAN``: ``n_critic`` critic updates (then WGAN's clipping), then one generator update.
A conditional model's batches carry its labels (``real_labels``, ``d_labels``, ``g_labels``), which enter both
networks as in ``KerasGAN`` (``joined``), the gradient penalty's interpolates scored with the real batch's labels.

One wrinkle of two optimisers under JAX: ``fit`` carries the model's variables through each step as arrays, and
only ``self.optimizer``'s among the optimisers'; so both optimisers' variables are tracked as the model's own
non-trainable state (``optimizer_state``), which the JAX step updates and hands back.
"""
from __future__ import annotations

import keras

from benchmark.spec import Objective
from tensorflow_impl.losses import clip_weights, gradient_penalty
from tensorflow_impl.trainer import joined

LOSS_KEYS = ("d_loss", "g_loss", "gp")  # the step's own losses in the logs; the trackers' means are mean_<key>


class FitGAN(keras.Model):
    """The backend-neutral half: networks, trackers, ``compile`` and the logs."""

    def __init__(self, generator: keras.Model, discriminator: keras.Model, objective: Objective):
        super().__init__()
        self.generator, self.discriminator = generator, discriminator
        self.n_critic, self.clip_value, self.gp_weight = objective.n_critic, objective.clip_value, objective.gp_weight
        names = LOSS_KEYS if objective.gp_weight is not None else LOSS_KEYS[:2]
        self.trackers = {name: keras.metrics.Mean(name=f"mean_{name}") for name in names}
        self.built = True  # the networks are built (from the spec's initial weights): fit has nothing to trace

    def compile(self, d_optimizer, g_optimizer, d_loss_fn, g_loss_fn):
        super().compile()
        self.d_optimizer, self.g_optimizer = d_optimizer, g_optimizer
        self.d_loss_fn, self.g_loss_fn = d_loss_fn, g_loss_fn
        self.optimizer_state = [*d_optimizer.variables, *g_optimizer.variables]

    @property
    def metrics(self):
        return list(self.trackers.values())

    def with_penalty(self, d_loss, penalty):
        return d_loss if penalty is None else d_loss + self.gp_weight * penalty


def critic_labels(data: dict, k: int) -> tuple:
    """Critic update ``k``'s (real, fake) labels: (None, None) for an unconditional model's batches."""
    return (data["real_labels"][k], data["d_labels"][k]) if "real_labels" in data else (None, None)


def generator_labels(data: dict):
    """The generator batch's labels (its leading axis of 1 dropped, as ``g_noise``'s), or None."""
    return data["g_labels"][0] if "g_labels" in data else None


class TensorFlowFitGAN(FitGAN):
    """``train_step(data)`` with ``tf.GradientTape``."""

    def train_critic(self, real, noise, gp_weight, real_labels=None, fake_labels=None):
        import tensorflow as tf

        fake = self.generator(joined(noise, fake_labels), training=True)  # outside the tape: no gradient to G
        with tf.GradientTape() as tape:
            real_out = self.discriminator(joined(real, real_labels), training=True)
            fake_out = self.discriminator(joined(fake, fake_labels), training=True)
            penalty = None if self.gp_weight is None else gradient_penalty(
                lambda x: self.discriminator(joined(x, real_labels), training=True), real, fake, gp_weight)
            d_loss = self.d_loss_fn(real_out, fake_out)
            total = self.with_penalty(d_loss, penalty)
        weights = self.discriminator.trainable_weights
        self.d_optimizer.apply_gradients(zip(dense_gradients(tape, total, weights), weights))
        if self.clip_value is not None:
            for weight, clipped in zip(weights, clip_weights(weights, self.clip_value)):
                weight.assign(clipped)
        return d_loss, penalty

    def train_generator(self, noise, labels=None):
        import tensorflow as tf

        with tf.GradientTape() as tape:
            fake = self.generator(joined(noise, labels), training=True)
            g_loss = self.g_loss_fn(self.discriminator(joined(fake, labels), training=True))
        weights = self.generator.trainable_weights
        self.g_optimizer.apply_gradients(zip(dense_gradients(tape, g_loss, weights), weights))
        return g_loss

    def train_step(self, data):
        for k in range(self.n_critic):
            d_loss, penalty = self.train_critic(data["real"][k], data["d_noise"][k], data["gp_weight"][k],
                                                *critic_labels(data, k))
        g_loss = self.train_generator(data["g_noise"][0], generator_labels(data))
        return self.track({"d_loss": d_loss, "g_loss": g_loss, "gp": penalty})

    def track(self, losses: dict) -> dict:
        for name, tracker in self.trackers.items():
            tracker.update_state(losses[name])
        return {**{name: losses[name] for name in self.trackers},
                **{tracker.name: tracker.result() for tracker in self.trackers.values()}}


def dense_gradients(tape, loss, weights) -> list:
    """``tape.gradient``, a label embedding's (an ``IndexedSlices`` of the rows gathered) made dense: the project's
    optimisers take dense tensors (as ``backend_ops``' TensorFlow ``value_and_grad``)."""
    import tensorflow as tf

    return [tf.convert_to_tensor(g) if isinstance(g, tf.IndexedSlices) else g for g in tape.gradient(loss, weights)]


class JaxFitGAN(FitGAN):
    """Stateless ``train_step(state, data)``: ``stateless_call``, ``jax.value_and_grad``, ``stateless_apply``."""

    def compile(self, d_optimizer, g_optimizer, d_loss_fn, g_loss_fn):
        super().compile(d_optimizer, g_optimizer, d_loss_fn, g_loss_fn)
        g, d = self.generator, self.discriminator
        self.positions = {
            "trainable": _positions(self.trainable_variables, {"g": g.trainable_variables,
                                                               "d": d.trainable_variables}),
            "non_trainable": _positions(self.non_trainable_variables, {
                "g_state": g.non_trainable_variables, "d_state": d.non_trainable_variables,
                "d_opt": d_optimizer.variables, "g_opt": g_optimizer.variables})}

    def critic_loss(self, d_params, d_state, real, fake, gp_weight, real_labels=None, fake_labels=None):
        critic = self.discriminator
        real_out, d_state = critic.stateless_call(d_params, d_state, joined(real, real_labels), training=True)
        fake_out, d_state = critic.stateless_call(d_params, d_state, joined(fake, fake_labels), training=True)
        penalty = None if self.gp_weight is None else gradient_penalty(
            lambda x: critic.stateless_call(d_params, d_state, joined(x, real_labels), training=True)[0],
            real, fake, gp_weight)
        d_loss = self.d_loss_fn(real_out, fake_out)
        return self.with_penalty(d_loss, penalty), (d_state, d_loss, penalty)

    def generator_loss(self, g_params, g_state, d_params, d_state, noise, labels=None):
        fake, g_state = self.generator.stateless_call(g_params, g_state, joined(noise, labels), training=True)
        fake_out, d_state = self.discriminator.stateless_call(d_params, d_state, joined(fake, labels), training=True)
        return self.g_loss_fn(fake_out), (g_state, d_state)

    def train_step(self, state, data):
        import jax

        trainable, non_trainable, optimizer_variables, metrics_variables = state
        (g_params, d_params), (g_state, d_state, d_opt, g_opt) = (
            _take(trainable, self.positions["trainable"]), _take(non_trainable, self.positions["non_trainable"]))
        for k in range(self.n_critic):
            labels = critic_labels(data, k)
            fake, g_state = self.generator.stateless_call(g_params, g_state, joined(data["d_noise"][k], labels[1]),
                                                          training=True)
            (_, (d_state, d_loss, penalty)), grads = jax.value_and_grad(self.critic_loss, has_aux=True)(
                d_params, d_state, data["real"][k], jax.lax.stop_gradient(fake), data["gp_weight"][k], *labels)
            d_params, d_opt = self.d_optimizer.stateless_apply(d_opt, grads, d_params)
            if self.clip_value is not None:
                d_params = clip_weights(d_params, self.clip_value)
        (g_loss, (g_state, d_state)), grads = jax.value_and_grad(self.generator_loss, has_aux=True)(
            g_params, g_state, d_params, d_state, data["g_noise"][0], generator_labels(data))
        g_params, g_opt = self.g_optimizer.stateless_apply(g_opt, grads, g_params)
        logs, metrics_variables = self.track({"d_loss": d_loss, "g_loss": g_loss, "gp": penalty}, metrics_variables)
        trainable = _put(trainable, self.positions["trainable"], (g_params, d_params))
        non_trainable = _put(non_trainable, self.positions["non_trainable"], (g_state, d_state, d_opt, g_opt))
        return logs, (trainable, non_trainable, optimizer_variables, metrics_variables)

    def track(self, losses: dict, metrics_variables: list) -> tuple[dict, list]:
        logs, new_variables = {name: losses[name] for name in self.trackers}, []
        for name, tracker in self.trackers.items():
            values = metrics_variables[len(new_variables):len(new_variables) + len(tracker.variables)]
            values = tracker.stateless_update_state(values, losses[name])
            logs[tracker.name] = tracker.stateless_result(values)
            new_variables += values
        return logs, new_variables


def _positions(variables: list, groups: dict[str, list]) -> list[list[int]]:
    """For each group, the positions of its variables in ``variables`` (the model's flat list)."""
    index = {id(v): i for i, v in enumerate(variables)}
    return [[index[id(v)] for v in group] for group in groups.values()]


def _take(values: list, positions: list[list[int]]) -> list[list]:
    return [[values[i] for i in group] for group in positions]


def _put(values: list, positions: list[list[int]], groups) -> list:
    values = list(values)
    for group, new in zip(positions, groups):
        for i, value in zip(group, new):
            values[i] = value
    return values


class TorchFitGAN(TensorFlowFitGAN):
    """``train_step(data)`` on the torch backend, as the keras-io torch guide (``custom_train_step_in_torch.py``)
    writes it: ``zero_grad``, ``loss.backward()``, the variables' ``.grad``, ``optimizer.apply`` under
    ``torch.no_grad()``. ``train_step`` and ``track`` are TensorFlow's (the same sequence of updates)."""

    def train_critic(self, real, noise, gp_weight, real_labels=None, fake_labels=None):
        import torch

        fake = self.generator(joined(noise, fake_labels), training=True).detach()  # no gradient to G
        self.zero_grad()
        real_out = self.discriminator(joined(real, real_labels), training=True)
        fake_out = self.discriminator(joined(fake, fake_labels), training=True)
        penalty = None if self.gp_weight is None else gradient_penalty(
            lambda x: self.discriminator(joined(x, real_labels), training=True), real, fake, gp_weight)
        d_loss = self.d_loss_fn(real_out, fake_out)
        self.with_penalty(d_loss, penalty).backward()
        weights = self.discriminator.trainable_weights
        with torch.no_grad():
            self.d_optimizer.apply([w.value.grad for w in weights], weights)
            if self.clip_value is not None:
                for weight, clipped in zip(weights, clip_weights(weights, self.clip_value)):
                    weight.assign(clipped)
        return d_loss.detach(), None if penalty is None else penalty.detach()

    def train_generator(self, noise, labels=None):
        import torch

        self.zero_grad()
        fake = self.generator(joined(noise, labels), training=True)
        g_loss = self.g_loss_fn(self.discriminator(joined(fake, labels), training=True))
        g_loss.backward()
        weights = self.generator.trainable_weights
        with torch.no_grad():
            self.g_optimizer.apply([w.value.grad for w in weights], weights)
        return g_loss.detach()


FIT_MODELS = {"tensorflow": TensorFlowFitGAN, "jax": JaxFitGAN, "torch": TorchFitGAN}


def build_fit_gan(generator: keras.Model, discriminator: keras.Model, objective: Objective) -> FitGAN:
    """The backend's ``FitGAN`` (``keras.backend.backend()``)."""
    return FIT_MODELS[keras.backend.backend()](generator, discriminator, objective)

