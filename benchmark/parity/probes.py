"""What both sides of a parity comparison compute, and the inputs they share (numpy only).

A *task* is built once on the PyTorch side (``torch_side.make_task``) and sent to Keras:

    {"spec", "seed", "weights": {network: layer arrays in Keras layout}, "noise", "images",
     "labels" (a conditional spec's labels of the noise and the images, else None),
     "steps": [StepInputs] (training iterations)}

A task with ``"structure": True`` asks only for the first three keys below (``STRUCTURE_KEYS``: the full presets'
layers and own initial weights, nothing trained; Keras' side needs no ``weights`` there). A *probe* is what each side
returns, with the same keys; arrays are in Keras' layout and, where a model's weights or gradients are concerned,
``sketch``-ed (flat lists, one sketch per array):

    layer_parameters  {network: [trainable parameters per layer with weights]}
    initial           {network: weight_statistics of the side's own initialisation (before the transfer)}
    initial_digest    {network: ``digest`` of the same arrays: equal on both sides when the runs are paired}
    outputs           {"g_train", "g_eval", "d_train", "d_eval"}: the transferred models on fixed inputs
    first             {"losses": {...}, "gradients": {network: [per parameter]}}: the critic update's and the
                      generator update's loss and gradient from the transferred state, before any optimiser
    optimizer         {network: [step][parameter]}: the network's optimiser, from the transferred weights,
                      applied to ``synthetic_gradients`` (the same on both sides)
    iterations        [{"losses": {...}, network: [weights and batch-norm statistics]}] after each iteration
    outputs_after     the outputs after the iterations (inference mode reads the updated running statistics)
    generated         the trainer's own ``generate`` of ``noise`` after the iterations, in the spec's dtype: the
                      evaluation path (batch norm on the running statistics), not the probe's own model calls

Keras' probe adds, for comparisons between Keras' own execution modes (PyTorch keeps its optimisers' state
otherwise):

    optimizer_state   {network: [the optimiser's variables]} after the iterations
    float_dtypes      the dtypes of the trainer's floating-point variables (networks' and optimisers')
"""
from __future__ import annotations

import dataclasses
import hashlib
import math
from functools import lru_cache
from typing import Iterator

import numpy as np

from benchmark.spec import GANSpec, check_shapes

NETWORKS = ("generator", "discriminator")
OUTPUTS = ("g_train", "g_eval", "d_train", "d_eval")
STRUCTURE_KEYS = ("layer_parameters", "initial", "initial_digest")
ITERATIONS = 3  # enough for Adam's betas and RMSprop's rho to act (a first step does not depend on them)
OPTIMIZER_STEPS = 4
SKETCH_SIZE, SKETCH_SEED = 4096, 20261125
PATTERN = 4093


def probe_spec(spec: GANSpec, batch_size: int, dtype: str = "float64") -> GANSpec:
    """``spec`` at a small batch in ``dtype``: float64 makes the comparison independent of the CPU."""
    return dataclasses.replace(spec, training=dataclasses.replace(spec.training, batch_size=batch_size, dtype=dtype))


def narrow(spec: GANSpec, factor: int) -> GANSpec:
    """``spec`` with every hidden width divided by ``factor``: the same layers, kernels, strides, activations,
    batch norm, losses and optimisers, so the same code paths, at a fraction of the arithmetic (the mutation
    checks build one model per mutation). Each network's last weighted layer, a reshape to the image shape
    and the dense layer that feeds a reshape keep the sizes the data needs."""
    image = tuple(spec.architecture.image_shape)

    def layers(network) -> tuple:
        last = max(i for i, layer in enumerate(network.layers) if layer.units)
        result = list(network.layers)
        for i, layer in enumerate(result):
            if layer.kind == "reshape" and tuple(layer.shape) != image:
                result[i] = dataclasses.replace(layer, shape=(layer.shape[0] // factor, *layer.shape[1:]))
        for i, layer in enumerate(result):
            following = result[i + 1] if i + 1 < len(result) else None
            if following is not None and following.kind == "reshape":
                result[i] = dataclasses.replace(layer, units=math.prod(following.shape))
            elif layer.units and i != last:
                result[i] = dataclasses.replace(layer, units=max(1, layer.units // factor))
        return tuple(result)

    arch = spec.architecture
    networks = {name: dataclasses.replace(net, layers=layers(net))
                for name, net in (("generator", arch.generator), ("discriminator", arch.discriminator))}
    narrowed = dataclasses.replace(spec, architecture=dataclasses.replace(arch, **networks))
    check_shapes(narrowed)
    return narrowed


def probe_inputs(spec: GANSpec, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Fixed noise [B, z] and images [B, *sample_shape] in [-1, 1] ([B, H, W] for one channel, [B, H, W, C] for
    more, a 1-D data set's points [B]) on which the models' outputs are compared."""
    rng = np.random.default_rng(seed)
    batch, sample = spec.training.batch_size, spec.architecture.sample_shape
    noise = rng.standard_normal((batch, spec.training.noise_dim))
    images = rng.uniform(-1, 1, (batch, *sample))
    return noise.astype(spec.training.dtype), images.astype(spec.training.dtype)


def probe_labels(spec: GANSpec, seed: int) -> np.ndarray | None:
    """A conditional spec's labels [B] of the probe's noise and images (every class where B allows), else None."""
    if not spec.conditional:
        return None
    rng = np.random.default_rng([seed, 1])
    return rng.permutation(np.arange(spec.training.batch_size) % spec.conditioning.num_classes)


def synthetic_gradients(shapes: list[tuple[int, ...]], steps: int, seed: int) -> Iterator[list[np.ndarray]]:
    """Per step, one gradient per parameter: random signs and magnitudes spread log-uniformly over 1e-10..1
    (small gradients are where epsilon's placement decides the update), one element in ten exactly zero.
    Drawn step by step from ``seed`` on each side, so that no gradient crosses the process boundary. The
    optimisers act element by element, so each tensor repeats a pattern of ``PATTERN`` draws (a prime, so
    that rows and columns do not line up), which keeps a million-element layer cheap."""
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        step = []
        for shape in shapes:
            pattern = rng.choice([-1.0, 1.0], PATTERN) * 10.0 ** rng.uniform(-10, 0, PATTERN)
            pattern[rng.uniform(size=PATTERN) < 0.1] = 0.0
            step.append(np.resize(pattern, shape))
        yield step


@lru_cache(maxsize=8)
def _sketch_plan(size: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng([SKETCH_SEED, size])
    return rng.integers(0, SKETCH_SIZE, size), rng.choice([-1.0, 1.0], size)


def sketch(array: np.ndarray) -> np.ndarray:
    """A linear fingerprint of ``array`` that keeps norms: arrays of up to ``SKETCH_SIZE`` elements as they are,
    larger ones as a count sketch (each element added, with a random sign, to one of ``SKETCH_SIZE`` buckets).
    Linear, so the sketch of a difference is the difference of the sketches, and its norm estimates the
    difference's norm to a few per cent (exactly when the difference sits in one element). It keeps the probes
    of million-parameter float64 models small enough to send between processes."""
    values = np.asarray(array, np.float64).reshape(-1)
    if values.size <= SKETCH_SIZE:
        return values
    buckets, signs = _sketch_plan(values.size)
    return np.bincount(buckets, weights=signs * values, minlength=SKETCH_SIZE)


def sketches(arrays: list[np.ndarray]) -> list[np.ndarray]:
    return [sketch(array) for array in arrays]


def flat(layers: list[list[np.ndarray]]) -> list[np.ndarray]:
    return [array for arrays in layers for array in arrays]


def weight_statistics(layers: list[list[np.ndarray]]) -> list[list[dict]]:
    """Per layer, per array: size, mean, std and largest magnitude (what an initialiser check needs)."""
    return [[{"shape": a.shape, "size": a.size, "mean": float(a.mean()), "std": float(a.std()),
              "abs_max": float(np.abs(a).max())} for a in arrays] for arrays in layers]


def digest(layers: list[list[np.ndarray]]) -> str:
    """SHA-256 of every array's shape, dtype and bytes, in order: equal exactly when the arrays are identical."""
    hashed = hashlib.sha256()
    for array in flat(layers):
        array = np.ascontiguousarray(array)
        hashed.update(f"{array.shape}{array.dtype.str};".encode())
        hashed.update(array.tobytes())
    return hashed.hexdigest()


def relative_difference(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    """max over arrays of ||a - b|| / ||b||: the worst array, so that a small one (a bias) counts too."""
    return max(float(np.linalg.norm(np.asarray(x, np.float64) - y) / max(np.linalg.norm(y), 1e-30))
               for x, y in zip(a, b, strict=True))


def global_relative_difference(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    """||a - b|| / ||b|| over all arrays together (not dominated by small tensors such as a bias near zero)."""
    pairs = list(zip(a, b, strict=True))
    return float(np.sqrt(sum(np.sum((np.asarray(x, np.float64) - y) ** 2) for x, y in pairs)
                         / max(sum(np.sum(np.asarray(y, np.float64) ** 2) for _, y in pairs), 1e-300)))
