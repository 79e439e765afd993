"""GAN losses as small pure functions of the discriminator's raw outputs (``[B, 1]`` tensors).

The same names, arguments and formulas as ``tensorflow_impl/losses.py``.
"""
from __future__ import annotations

from functools import partial
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.spec import Objective


def nonsaturating_d(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """BCE on logits, real = 1, fake = 0: mean(softplus(-real)) + mean(softplus(fake))."""
    return F.softplus(-real).mean() + F.softplus(fake).mean()


def nonsaturating_g(fake: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator loss (Goodfellow et al. 2014): mean(softplus(-fake)) = -mean(log sigmoid(fake))."""
    return F.softplus(-fake).mean()


def least_squares_d(real: torch.Tensor, fake: torch.Tensor, fake_target: float = 0.0,
                    real_target: float = 1.0) -> torch.Tensor:
    """LSGAN: 0.5 * mean((real - b)^2) + 0.5 * mean((fake - a)^2)."""
    return 0.5 * ((real - real_target) ** 2).mean() + 0.5 * ((fake - fake_target) ** 2).mean()


def least_squares_g(fake: torch.Tensor, target: float = 1.0) -> torch.Tensor:
    """LSGAN: 0.5 * mean((fake - c)^2)."""
    return 0.5 * ((fake - target) ** 2).mean()


def wasserstein_d(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Critic loss mean(fake) - mean(real): minus the Wasserstein estimate."""
    return fake.mean() - real.mean()


def wasserstein_g(fake: torch.Tensor) -> torch.Tensor:
    return -fake.mean()


def gradient_penalty(critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, fake: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """mean((||grad_x critic(x)||_2 - 1)^2) at x = w * real + (1 - w) * fake, w [B] ~ U(0, 1) per sample
    (Gulrajani et al. 2017); the norm is over all of a sample's pixels."""
    w = weight.view(-1, *([1] * (real.dim() - 1)))
    mixed = (w * real + (1 - w) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(mixed).sum(), mixed, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()


@torch.no_grad()
def clip_weights(critic: nn.Module, clip_value: float) -> None:
    """WGAN weight clipping of every critic parameter (batch-norm scale and offset included) to [-c, c]."""
    for parameter in critic.parameters():
        parameter.clamp_(-clip_value, clip_value)


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
