"""Generator and discriminator built layer by layer from the spec, as ``keras.Sequential`` models.

Images are channels-last (NHWC), Keras' layout. The spec's ``reshape`` to (C, H, W) and ``flatten`` are
channels-first, PyTorch's: a reshape is ``Reshape((C, H, W))`` then ``Permute`` to (H, W, C), and a flatten
``Permute`` to (C, H, W) then ``Flatten``. Dense kernels therefore see features in PyTorch's order, and a
PyTorch checkpoint maps onto these models by transposing kernels alone (``benchmark.parity``).

The models start from the initial weights both frameworks share (``benchmark.initial_weights``, drawn with
numpy in Keras' layout): layers are built with zero kernels and biases, then assigned those arrays.
"""
from __future__ import annotations

import math

import keras
import numpy as np

from benchmark import spec as specs
from benchmark.spec import GANSpec, Layer, Network
from tensorflow_impl.layers import BatchNorm, LeakyReLU, convolution, transposed_convolution

ACTIVATIONS = {
    "linear": lambda layer: keras.layers.Identity(),
    "relu": lambda layer: keras.layers.ReLU(),
    # The spec's slope always (Keras' LeakyReLU defaults to 0.3, PyTorch's to 0.01), in the input's precision.
    "leaky_relu": lambda layer: LeakyReLU(layer.negative_slope),
    "tanh": lambda layer: keras.layers.Activation("tanh"),
    "sigmoid": lambda layer: keras.layers.Activation("sigmoid"),
}


def batch_norm_layer(batch_norm: specs.BatchNorm) -> keras.layers.Layer:
    """PyTorch-convention batch norm (the parity tests replace this function to show a mismatch is caught)."""
    return BatchNorm(batch_norm.momentum, batch_norm.eps)


def build_layer(layer: Layer) -> list[keras.layers.Layer]:
    """The Keras layers of one spec layer: the transform, then batch norm, then the activation. Kernels and
    biases start at zero (no random draw): ``build_network`` assigns the shared initial weights."""
    if layer.kind == "flatten":
        return [keras.layers.Permute((3, 1, 2)), keras.layers.Flatten()]
    if layer.kind == "reshape":
        return [keras.layers.Reshape(tuple(layer.shape)), keras.layers.Permute((2, 3, 1))]
    weights = dict(use_bias=layer.bias, kernel_initializer="zeros", bias_initializer="zeros")
    if layer.kind == "dense":
        modules = [keras.layers.Dense(layer.units, **weights)]
    elif layer.kind == "conv":
        modules = convolution(layer, **weights)
    else:
        modules = transposed_convolution(layer, **weights)
    if layer.batch_norm:
        modules.append(batch_norm_layer(layer.batch_norm))
    return modules + [ACTIVATIONS[layer.activation](layer)]


def _keras_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    """Channels-first spec shape -> channels-last Keras shape."""
    return (*shape[1:], shape[0]) if len(shape) == 3 else tuple(shape)


def build_network(network: Network, input_shape: tuple[int, ...], name: str,
                  weights: list[list[np.ndarray]]) -> keras.Sequential:
    modules = [module for layer in network.layers for module in build_layer(layer)]
    model = keras.Sequential([keras.Input(_keras_shape(input_shape)), *modules], name=name)
    set_layer_weights(model, weights)
    return model


def build_generator(spec: GANSpec, weights: list[list[np.ndarray]]) -> keras.Sequential:
    """Noise [B, noise_dim] -> images [B, 28, 28, 1] in [-1, 1]; ``weights``: ``initial_weights`` of "generator"."""
    return build_network(spec.architecture.generator, (spec.training.noise_dim,), "generator", weights)


def build_discriminator(spec: GANSpec, weights: list[list[np.ndarray]]) -> keras.Sequential:
    """Images [B, 28, 28, 1] -> one raw score (logit) per image, [B, 1]; ``weights`` of "discriminator"."""
    return build_network(spec.architecture.discriminator, tuple(spec.architecture.image_shape), "discriminator",
                         weights)


def parameter_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The layers that hold weights, in order: one per PyTorch module with parameters."""
    return [layer for layer in model.layers if layer.weights]


def set_layer_weights(model: keras.Model, weights: list[list[np.ndarray]]) -> None:
    """Assign one entry of Keras-layout arrays to each layer with weights, in order (``parameter_layers``)."""
    layers = parameter_layers(model)
    if len(layers) != len(weights):
        raise ValueError(f"{model.name}: {len(layers)} layers with weights, {len(weights)} weight entries")
    for layer, arrays in zip(layers, weights):
        for variable, array in zip(layer.weights, arrays, strict=True):
            if tuple(variable.shape) != np.shape(array):
                raise ValueError(f"{variable.path}: shape {tuple(variable.shape)}, weights {np.shape(array)}")
            variable.assign(array)


def count_parameters(model: keras.Model) -> int:
    return sum(math.prod(v.shape) for v in model.trainable_variables)
