"""Initial weights drawn once, with numpy, from the spec's initialisers: both frameworks load the same arrays.

A seed therefore names one starting point, shared by the PyTorch and the Keras run of a pair; what differs
between them afterwards is the frameworks' arithmetic, not their random number generators.

Layout: Keras' (the canonical one), one entry per layer with weights, in the order both implementations hold
them (``tensorflow_impl.models.parameter_layers``, the modules with parameters in ``pytorch_impl``):

    dense            [kernel [in, out], bias [out]]
    conv             [kernel [k, k, in, out], bias [out]]
    conv_transpose   [kernel [k, k, out, in], bias [out]]
    batch norm       [gamma, beta, moving mean (0), moving variance (1)]   (its own entry, after its layer)

A conditional spec with a label ``embedding`` puts its table ``[num_classes, embedding_dim]`` first, as its own
entry; the layers then read the input with the label vector joined (``spec.network_body``).
The bias is left out where the spec says ``bias=False``. Each array is drawn from its own generator,
``np.random.default_rng([seed, network index, entry index, array index])``, so any one layer is reproducible
on its own; it is drawn in float64 and cast to ``spec.training.dtype``.

Glorot-uniform: U(-limit, limit) with limit = sqrt(6 / (fan_in + fan_out)) and the fans read from the kernel as
Keras' ``GlorotUniform`` reads it: receptive field = k * k, fan_in = shape[-2] * receptive, fan_out =
shape[-1] * receptive. For a transposed convolution that is fan_in = out_channels * k * k and fan_out =
in_channels * k * k, which is also what PyTorch's ``xavier_uniform_`` computes from its ``[in, out, k, k]``
weight (it reads dimension 1 as fan_in); the limit depends on the sum alone in any case.
"""
from __future__ import annotations

import hashlib
import math

import numpy as np

from benchmark.spec import GANSpec, Init, Layer, network_body, network_shapes

NETWORKS = ("generator", "discriminator")
SOURCE = "numpy-shared"  # how config.json names this way of initialising (environment.initial_weights.source)
WEIGHTED_KINDS = ("dense", "conv", "conv_transpose")


def kernel_shape(layer: Layer, input_shape: tuple[int, ...]) -> tuple[int, ...]:
    """The Keras kernel shape of a weighted layer for a channels-first ``input_shape``."""
    if layer.kind == "dense":
        return (math.prod(input_shape), layer.units)
    if layer.kind == "conv":
        return (layer.kernel, layer.kernel, input_shape[0], layer.units)
    return (layer.kernel, layer.kernel, layer.units, input_shape[0])


def glorot_fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """(fan_in, fan_out) of a Keras-layout kernel, as Keras' and PyTorch's Glorot initialisers compute them."""
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


def sample(init: Init, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """One array from ``init`` in float64; Glorot's fans come from ``shape`` (a kernel's)."""
    if init.kind == "normal":
        return rng.normal(init.mean, init.std, shape)
    if init.kind == "glorot_uniform":
        limit = math.sqrt(6.0 / sum(glorot_fans(shape)))
        return rng.uniform(-limit, limit, shape)
    return np.full(shape, init.value, np.float64)


def network_input_shape(spec: GANSpec, network: str) -> tuple[int, ...]:
    return (spec.training.noise_dim,) if network == "generator" else tuple(spec.architecture.image_shape)


def draw_network(spec: GANSpec, network: str, seed: int) -> list[list[np.ndarray]]:
    """The initial arrays of ``network`` ("generator" or "discriminator") for ``seed``, one list per weighted
    layer, in Keras' layout and ``spec.training.dtype``."""
    if network not in NETWORKS:
        raise ValueError(f"unknown network {network!r}; valid: {', '.join(NETWORKS)}")
    start, net = network_body(spec, network)
    shapes = [start] + network_shapes(net, start)

    def rng(entry: int, array: int) -> np.random.Generator:
        return np.random.default_rng([seed, NETWORKS.index(network), entry, array])

    layers: list[list[np.ndarray]] = []
    conditioning = spec.conditioning
    if conditioning is not None and conditioning.encoding == "embedding":
        table = (conditioning.num_classes, conditioning.embedding_dim)
        layers.append([sample(conditioning.embedding_init, table, rng(0, 0))])
    for layer, shape in zip(net.layers, shapes):
        if layer.kind not in WEIGHTED_KINDS:
            continue
        kernel = kernel_shape(layer, shape)
        arrays = [sample(net.kernel_init, kernel, rng(len(layers), 0))]
        if layer.bias:
            arrays.append(sample(net.bias_init, (layer.units,), rng(len(layers), 1)))
        layers.append(arrays)
        if layer.batch_norm:
            bn, units = layer.batch_norm, (layer.units,)
            layers.append([sample(bn.gamma_init, units, rng(len(layers), 0)),
                           sample(bn.beta_init, units, rng(len(layers), 1)),
                           np.zeros(units), np.ones(units)])
    dtype = np.dtype(spec.training.dtype)
    return [[np.ascontiguousarray(array, dtype) for array in arrays] for arrays in layers]


def draw(spec: GANSpec, seed: int) -> dict[str, list[list[np.ndarray]]]:
    """``{network: [[arrays per weighted layer]]}`` for both networks (``draw_network``)."""
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    return {network: draw_network(spec, network, seed) for network in NETWORKS}


def fingerprint(weights: dict[str, list[list[np.ndarray]]]) -> str:
    """SHA-256 over every array in order (network, layer, array), each as its name, shape and float32
    little-endian bytes: equal for two runs exactly when they started from the same weights (whatever their
    dtype, since float64 weights are drawn as float32's are)."""
    digest = hashlib.sha256()
    for network in NETWORKS:
        for i, arrays in enumerate(weights[network]):
            for j, array in enumerate(arrays):
                array = np.asarray(array)
                digest.update(f"{network}/{i}/{j}:{array.shape};".encode())
                digest.update(np.ascontiguousarray(array, "<f4").tobytes())
    return digest.hexdigest()


def describe(weights: dict[str, list[list[np.ndarray]]]) -> dict:
    """What a run records under ``config.json -> environment.initial_weights``."""
    return {"source": SOURCE, "sha256": fingerprint(weights)}
