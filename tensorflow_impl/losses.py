"""GAN losses as small pure functions of the discriminator's raw outputs (``[B, 1]`` tensors), in
backend-neutral ``keras.ops``.

The same names, arguments and formulas as ``pytorch_impl/losses.py``.
"""
from __future__ import annotations

from functools import partial
from typing import Callable, Sequence

from keras import ops

from benchmark.spec import Objective
from tensorflow_impl.backend_ops import input_gradient


def nonsaturating_d(real, fake):
    """BCE on logits, real = 1, fake = 0: mean(softplus(-real)) + mean(softplus(fake))."""
    return ops.mean(ops.softplus(-real)) + ops.mean(ops.softplus(fake))


def nonsaturating_g(fake):
    """Non-saturating generator loss (Goodfellow et al. 2014): mean(softplus(-fake)) = -mean(log sigmoid(fake))."""
    return ops.mean(ops.softplus(-fake))


def least_squares_d(real, fake, fake_target: float = 0.0, real_target: float = 1.0):
    """LSGAN: 0.5 * mean((real - b)^2) + 0.5 * mean((fake - a)^2)."""
    return 0.5 * ops.mean((real - real_target) ** 2) + 0.5 * ops.mean((fake - fake_target) ** 2)


def least_squares_g(fake, target: float = 1.0):
    """LSGAN: 0.5 * mean((fake - c)^2)."""
    return 0.5 * ops.mean((fake - target) ** 2)


def wasserstein_d(real, fake):
    """Critic loss mean(fake) - mean(real): minus the Wasserstein estimate."""
    return ops.mean(fake) - ops.mean(real)


def wasserstein_g(fake):
    return -ops.mean(fake)


def gradient_penalty(critic: Callable, real, fake, weight):
    """mean((||grad_x critic(x)||_2 - 1)^2) at x = w * real + (1 - w) * fake, w [B] ~ U(0, 1) per sample
    (Gulrajani et al. 2017); the norm is over all of a sample's pixels. ``critic`` maps images to scores;
    the gradient is taken so that the penalty itself stays differentiable (double backpropagation)."""
    w = ops.reshape(weight, (-1,) + (1,) * (len(real.shape) - 1))
    mixed = w * real + (1 - w) * fake
    grad = input_gradient(critic, mixed)
    norm = ops.sqrt(ops.sum(ops.reshape(grad, (grad.shape[0], -1)) ** 2, axis=1))
    return ops.mean((norm - 1) ** 2)


def clip_weights(variables: Sequence, clip_value: float) -> list:
    """WGAN weight clipping of every critic parameter (batch-norm scale and offset included) to [-c, c];
    pure: takes and returns the critic's trainable values."""
    return [ops.clip(value, -clip_value, clip_value) for value in variables]


def objective_losses(objective: Objective) -> tuple[Callable, Callable]:
    """(discriminator loss, generator loss) for the spec's objective."""
    fake_target, real_target, target = objective.ls_targets or (0.0, 1.0, 1.0)
    return {
        "nonsaturating": (nonsaturating_d, nonsaturating_g),
        "least_squares": (partial(least_squares_d, fake_target=fake_target, real_target=real_target),
                          partial(least_squares_g, target=target)),
        "wasserstein": (wasserstein_d, wasserstein_g),
        "wasserstein_gp": (wasserstein_d, wasserstein_g),
    }[objective.loss]
