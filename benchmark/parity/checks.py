"""The comparison of two probes (``benchmark.parity.probes``), as named checks with a measured value and a limit.

Every check is made in float64, where the two frameworks differ by summation order alone: measured on CPU over
every model and both backends, at most 1.3e-11 after three iterations (WGAN-GP on JAX; 9e-13 on TensorFlow), 3e-13
for the trainers' ``generate`` after them (dcgan on TensorFlow) and 2e-14 for outputs, losses, gradients and
optimiser steps, so these limits leave three to four orders of magnitude; every mutation (``mutations``) exceeds at
least one of them by four orders of magnitude or more.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from benchmark.parity.probes import NETWORKS, OUTPUTS, global_relative_difference, relative_difference
from benchmark.spec import GANSpec, network_body, network_shapes

LIMITS = {
    "outputs": 1e-10,  # max |keras - torch| / (max |torch| + 1e-12), per output
    "losses": 1e-10,  # relative
    "gradients": 1e-9,  # per tensor ||keras - torch|| / ||torch||
    "optimizer": 1e-10,  # per tensor, after each step on identical gradients
    "iterations": 1e-8,  # per tensor (weights and batch-norm statistics), after each full iteration
    "outputs_after": 1e-8,
    "generate": 1e-8,  # the trainers' own generate after the iterations, as outputs_after
}


@dataclass(frozen=True)
class Check:
    name: str
    value: float  # the measured difference (inf for a structural mismatch)
    limit: float
    detail: str = ""

    @property
    def passed(self) -> bool:
        return self.value <= self.limit

    def __str__(self) -> str:
        return f"{self.name}: {self.value:.3g} (limit {self.limit:.0e}){' ' + self.detail if self.detail else ''}"


def _output_difference(a: np.ndarray, b: np.ndarray) -> float:
    if a.shape != b.shape:
        return math.inf
    return float(np.abs(a - b).max() / (np.abs(b).max() + 1e-12))


def _loss_difference(a: dict, b: dict) -> tuple[float, str]:
    if a.keys() != b.keys():
        return math.inf, f"terms {sorted(a)} vs {sorted(b)}"
    worst = max(a, key=lambda k: abs(a[k] - b[k]) / (abs(b[k]) + 1e-12))
    return abs(a[worst] - b[worst]) / (abs(b[worst]) + 1e-12), worst


def _tensors(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    if len(a) != len(b) or any(x.shape != y.shape for x, y in zip(a, b)):
        return math.inf
    return relative_difference(a, b)


def compare_structure(keras: dict, torch: dict) -> list[Check]:
    """The checks a structure probe holds: the layers' parameter counts and each side's own initial weights."""
    checks = [Check("layer_parameters", 0.0 if keras["layer_parameters"] == torch["layer_parameters"] else math.inf, 0)]
    # Paired runs: each side's own initial weights, before the transfer, are bitwise the same.
    return checks + [Check(f"initial/{n}", 0.0 if keras["initial_digest"][n] == torch["initial_digest"][n] else math.inf,
                           0, "own initial weights bitwise identical") for n in NETWORKS]


def compare(keras: dict, torch: dict) -> list[Check]:
    """Every check of Keras' probe against PyTorch's (the reference)."""
    checks = compare_structure(keras, torch)
    checks += [Check(f"outputs/{key}", _output_difference(keras["outputs"][key], torch["outputs"][key]),
                     LIMITS["outputs"]) for key in OUTPUTS]
    if "first" in torch:
        value, term = _loss_difference(keras["first"]["losses"], torch["first"]["losses"])
        checks.append(Check("losses", value, LIMITS["losses"], term))
        checks += [Check(f"gradients/{n}", _tensors(keras["first"]["gradients"][n], torch["first"]["gradients"][n]),
                         LIMITS["gradients"]) for n in NETWORKS]
    for network in NETWORKS:
        steps = [_tensors(k, t) for k, t in zip(keras["optimizer"][network], torch["optimizer"][network], strict=True)]
        checks.append(Check(f"optimizer/{network}", max(steps), LIMITS["optimizer"],
                            "per step " + ", ".join(f"{s:.2g}" for s in steps)))
    for index, (k, t) in enumerate(zip(keras["iterations"], torch["iterations"], strict=True), start=1):
        value, term = _loss_difference(k["losses"], t["losses"])
        checks.append(Check(f"iteration {index}/losses", value, LIMITS["iterations"], term))
        checks += [Check(f"iteration {index}/{n}", _tensors(k[n], t[n]), LIMITS["iterations"],
                         f"global {global_relative_difference(k[n], t[n]):.2g}") for n in NETWORKS]
    checks += [Check(f"outputs_after/{key}", _output_difference(keras["outputs_after"][key], torch["outputs_after"][key]),
                     LIMITS["outputs_after"]) for key in OUTPUTS]
    checks.append(Check("generate", _output_difference(keras["generated"], torch["generated"]), LIMITS["generate"],
                        "the trainers' generate (evaluation samples) after the iterations"))
    return checks


def failures(checks: list[Check]) -> list[str]:
    return [str(check) for check in checks if not check.passed]


# ------------------------------------------------------------------------------------ initialisation

def fans(spec: GANSpec, network: str) -> list[tuple[int, int]]:
    """(fan_in, fan_out) of each weighted layer, computed from the spec (as Glorot defines them)."""
    start, net = network_body(spec, network)
    shapes, result = [start] + network_shapes(net, start), []
    for layer, shape in zip(net.layers, shapes):
        if layer.kind == "dense":
            result.append((math.prod(shape), layer.units))
        elif layer.kind in ("conv", "conv_transpose"):
            result.append((shape[0] * layer.kernel ** 2, layer.units * layer.kernel ** 2))
    return result


def initialisation_problems(statistics: list[list[dict]], network: str, spec: GANSpec) -> list[str]:
    """Compare each array's mean and std with the spec's initialiser; the list of violations.

    Tolerances are four standard errors of the estimates: a Kaiming-uniform (PyTorch) or Glorot-uniform
    (Keras) default where the spec says N(0, 0.02), or a non-zero bias, fails it."""
    problems = []
    net = network_body(spec, network)[1]
    layers = [layer for layer in net.layers if layer.kind in ("dense", "conv", "conv_transpose")]
    stats = iter(statistics)
    if spec.conditional and spec.conditioning.encoding == "embedding":
        init = spec.conditioning.embedding_init
        problems += _compare(f"{network} label embedding", next(stats)[0], init.std, init.mean)
    for layer, (fan_in, fan_out) in zip(layers, fans(spec, network)):
        init = net.kernel_init
        kernel, *rest = next(stats)
        expected = (init.std, init.mean) if init.kind == "normal" else (math.sqrt(2 / (fan_in + fan_out)), 0.0)
        problems += _compare(f"{network} {layer.kind} kernel", kernel, *expected)
        if init.kind == "glorot_uniform" and kernel["abs_max"] > math.sqrt(6 / (fan_in + fan_out)):
            problems.append(f"{network} {layer.kind} kernel exceeds the Glorot-uniform limit")
        if rest and abs(rest[0]["abs_max"]) != 0.0:
            problems.append(f"{network} {layer.kind} bias is not the spec's zero")
        if layer.batch_norm:
            gamma, beta, *_ = next(stats)
            problems += _compare(f"{network} batch-norm gamma", gamma, layer.batch_norm.gamma_init.std,
                                 layer.batch_norm.gamma_init.mean)
            if beta["abs_max"] != 0.0:
                problems.append(f"{network} batch-norm beta is not zero")
    return problems


def _compare(what: str, stat: dict, std: float, mean: float) -> list[str]:
    n, problems = stat["size"], []
    if abs(stat["std"] - std) > 4 * std / math.sqrt(2 * n) + 1e-7:
        problems.append(f"{what}: std {stat['std']:.5f}, spec {std:.5f}")
    if abs(stat["mean"] - mean) > 4 * std / math.sqrt(n) + 1e-7:
        problems.append(f"{what}: mean {stat['mean']:.5f}, spec {mean:.5f}")
    return problems


def all_failures(keras: dict, torch: dict, spec: GANSpec) -> list[str]:
    """Every failed comparison and every initialisation problem of Keras' own weights."""
    return failures(compare(keras, torch)) + [problem for network in NETWORKS
                                              for problem in initialisation_problems(keras["initial"][network],
                                                                                     network, spec)]
