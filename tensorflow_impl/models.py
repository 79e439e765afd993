"""Generator and discriminator built layer by layer from the spec, as ``keras.Sequential`` models.

Images are channels-last (NHWC), Keras' layout. The spec's ``reshape`` to (C, H, W) and ``flatten`` are
channels-first, PyTorch's: a reshape is ``Reshape((C, H, W))`` then ``Permute`` to (H, W, C), and a flatten
``Permute`` to (C, H, W) then ``Flatten``. Dense kernels therefore see features in PyTorch's order, and a
PyTorch checkpoint maps onto these models by transposing kernels alone (``benchmark.parity``).

The models start from the initial weights both frameworks share (``benchmark.initial_weights``, drawn with
numpy in Keras' layout): layers are built with zero kernels and biases, then assigned those arrays.

A conditional network is a functional ``keras.Model`` of ``[input, labels]``: the label vector (``Embedding``
or ``OneHot``) joined last to the noise, to the flattened image or as maps after the image channels, as
``pytorch_impl.models.Conditioned`` does; its weighted layers are the table (if any) first, then the body's.
"""
from __future__ import annotations

import math

import keras
import numpy as np

from benchmark import spec as specs
from benchmark.spec import Conditioning, GANSpec, Layer, Network, network_body
from tensorflow_impl.layers import BatchNorm, LabelMaps, LeakyReLU, OneHot, convolution, transposed_convolution

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


def label_encoder(conditioning: Conditioning) -> keras.layers.Layer:
    if conditioning.encoding == "embedding":
        return keras.layers.Embedding(conditioning.num_classes, conditioning.embedding_dim,
                                      embeddings_initializer="zeros")
    return OneHot(conditioning.num_classes)


def join_label(x, vector):
    """``x ⊕ label vector`` on the feature axis, the label last (PyTorch's order; the parity tests swap it to show
    that a different layout is caught)."""
    return keras.layers.Concatenate()([x, vector])


def build_conditioned(spec: GANSpec, network: str, weights: list[list[np.ndarray]]) -> keras.Model:
    """``body(input ⊕ encode(labels))`` as a functional model of ``[input, labels]``."""
    input_shape, body = network_body(spec, network)
    own_shape = (spec.training.noise_dim,) if network == "generator" else tuple(spec.architecture.image_shape)
    x_in, labels = keras.Input(_keras_shape(own_shape)), keras.Input((), dtype="int32")
    encoder = label_encoder(spec.conditioning)
    vector = encoder(labels)
    if network == "discriminator" and spec.conditioning.discriminator_input == "maps":
        x = LabelMaps()([x_in, vector])
    else:
        x = x_in
        if network == "discriminator":  # ``flat``: the body starts after the spec's leading flatten
            for module in build_layer(Layer("flatten")):
                x = module(x)
        x = join_label(x, vector)
    body_layers = [module for layer in body.layers for module in build_layer(layer)]
    for module in body_layers:
        x = module(x)
    model = keras.Model([x_in, labels], x, name=network)
    model.weighted_layers = [layer for layer in (encoder, *body_layers) if layer.weights]
    set_layer_weights(model, weights)
    return model


def to_model_layout(images, image_shape: tuple[int, ...]):
    """Samples as numpy holds them (``Architecture.sample_shape``: [..., H, W] for one channel, [..., H, W, C] for
    more; a 1-D data point's [...]) -> the networks' channels-last [..., H, W, C] ([..., 1])."""
    return images[..., None] if image_shape[0] == 1 else images


def from_model_layout(images, image_shape: tuple[int, ...]):
    """The inverse of ``to_model_layout``: a generator's [N, H, W, C] -> [N, H, W] or [N, H, W, C]."""
    return images[..., 0] if image_shape[0] == 1 else images


def build_model(spec: GANSpec, network: str, weights: list[list[np.ndarray]]) -> keras.Model:
    if spec.conditional:
        return build_conditioned(spec, network, weights)
    input_shape, body = network_body(spec, network)
    return build_network(body, input_shape, network, weights)


def build_generator(spec: GANSpec, weights: list[list[np.ndarray]]) -> keras.Model:
    """Noise [B, noise_dim] (and labels [B] if conditional) -> images [B, H, W, C] in [-1, 1]; ``weights``:
    ``initial_weights`` of "generator"."""
    return build_model(spec, "generator", weights)


def build_discriminator(spec: GANSpec, weights: list[list[np.ndarray]]) -> keras.Model:
    """Images [B, H, W, C] (and labels [B] if conditional) -> one raw score (logit) per image, [B, 1];
    ``weights`` of "discriminator"."""
    return build_model(spec, "discriminator", weights)


def parameter_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The layers that hold weights, in order: one per PyTorch module with parameters (a conditional model's
    order is the one it was built in, label table first)."""
    if hasattr(model, "weighted_layers"):
        return model.weighted_layers
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
