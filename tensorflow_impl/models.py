"""Generator and discriminator built layer by layer from the spec, as ``keras.Sequential`` models.

Images are channels-last (NHWC), Keras' layout. The spec's ``reshape`` to (C, H, W) and ``flatten`` are
channels-first, PyTorch's: a reshape is ``Reshape((C, H, W))`` then ``Permute`` to (H, W, C), and a flatten
``Permute`` to (C, H, W) then ``Flatten``. Dense kernels therefore see features in PyTorch's order, and a
PyTorch checkpoint maps onto these models by transposing kernels alone (``benchmark.parity``).
"""
from __future__ import annotations

import math

import keras

from benchmark import spec as specs
from benchmark.spec import GANSpec, Init, Layer, Network
from tensorflow_impl.layers import BatchNorm, LeakyReLU, convolution, transposed_convolution

ACTIVATIONS = {
    "linear": lambda layer: keras.layers.Identity(),
    "relu": lambda layer: keras.layers.ReLU(),
    # The spec's slope always (Keras' LeakyReLU defaults to 0.3, PyTorch's to 0.01), in the input's precision.
    "leaky_relu": lambda layer: LeakyReLU(layer.negative_slope),
    "tanh": lambda layer: keras.layers.Activation("tanh"),
    "sigmoid": lambda layer: keras.layers.Activation("sigmoid"),
}
INITIALIZERS = {
    "normal": lambda init, seed: keras.initializers.RandomNormal(init.mean, init.std, seed=seed),
    "glorot_uniform": lambda init, seed: keras.initializers.GlorotUniform(seed=seed),
    "constant": lambda init, seed: keras.initializers.Constant(init.value),
}


def initializer(init: Init, seed: keras.random.SeedGenerator | None) -> keras.initializers.Initializer:
    """The spec's initialiser drawing from ``seed``, so Keras' Glorot-uniform / zero defaults never decide."""
    return INITIALIZERS[init.kind](init, seed)


def batch_norm_layer(batch_norm: specs.BatchNorm, seed: keras.random.SeedGenerator | None) -> keras.layers.Layer:
    """PyTorch-convention batch norm (the parity tests replace this function to show a mismatch is caught)."""
    return BatchNorm(batch_norm.momentum, batch_norm.eps,
                     gamma_initializer=initializer(batch_norm.gamma_init, seed),
                     beta_initializer=initializer(batch_norm.beta_init, seed))


def build_layer(layer: Layer, network: Network, seed: keras.random.SeedGenerator | None) -> list[keras.layers.Layer]:
    """The Keras layers of one spec layer: the transform, then batch norm, then the activation."""
    if layer.kind == "flatten":
        return [keras.layers.Permute((3, 1, 2)), keras.layers.Flatten()]
    if layer.kind == "reshape":
        return [keras.layers.Reshape(tuple(layer.shape)), keras.layers.Permute((2, 3, 1))]
    weights = dict(use_bias=layer.bias, kernel_initializer=initializer(network.kernel_init, seed),
                   bias_initializer=initializer(network.bias_init, seed))
    if layer.kind == "dense":
        modules = [keras.layers.Dense(layer.units, **weights)]
    elif layer.kind == "conv":
        modules = convolution(layer, **weights)
    else:
        modules = transposed_convolution(layer, **weights)
    if layer.batch_norm:
        modules.append(batch_norm_layer(layer.batch_norm, seed))
    return modules + [ACTIVATIONS[layer.activation](layer)]


def _keras_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    """Channels-first spec shape -> channels-last Keras shape."""
    return (*shape[1:], shape[0]) if len(shape) == 3 else tuple(shape)


def build_network(network: Network, input_shape: tuple[int, ...], name: str,
                  seed: keras.random.SeedGenerator | None = None) -> keras.Sequential:
    modules = [module for layer in network.layers for module in build_layer(layer, network, seed)]
    # Variables are created here, in layer order: with one SeedGenerator the draws are reproducible.
    return keras.Sequential([keras.Input(_keras_shape(input_shape)), *modules], name=name)


def build_generator(spec: GANSpec, seed: keras.random.SeedGenerator | None = None) -> keras.Sequential:
    """Noise [B, noise_dim] -> images [B, 28, 28, 1] in [-1, 1]."""
    return build_network(spec.architecture.generator, (spec.training.noise_dim,), "generator", seed)


def build_discriminator(spec: GANSpec, seed: keras.random.SeedGenerator | None = None) -> keras.Sequential:
    """Images [B, 28, 28, 1] -> one raw score (logit) per image, [B, 1]."""
    return build_network(spec.architecture.discriminator, tuple(spec.architecture.image_shape), "discriminator",
                         seed)


def parameter_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The layers that hold weights, in order: one per PyTorch module with parameters."""
    return [layer for layer in model.layers if layer.weights]


def count_parameters(model: keras.Model) -> int:
    return sum(math.prod(v.shape) for v in model.trainable_variables)
