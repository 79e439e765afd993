"""The Keras layers whose defaults would otherwise decide: PyTorch-convention batch normalisation, a LeakyReLU
with its slope in the input's precision, and explicitly padded (transposed) convolutions. Channels-last
(NHWC), Keras' layout."""
from __future__ import annotations

import math

import keras
from keras import ops

from benchmark.spec import Layer, SpecError


class BatchNorm(keras.layers.Layer):
    """Batch normalisation as ``torch.nn.BatchNorm1d/2d`` computes it, over every axis but the last.

    Training: normalise with the batch mean and biased variance, and update
    ``running = (1 - momentum) * running + momentum * batch`` with the *unbiased* (n - 1) batch variance.
    Inference: normalise with the running statistics. ``momentum`` is PyTorch's (0.1), i.e. one minus
    Keras' ``BatchNormalization(momentum=...)``; Keras' layer also updates with the biased variance and
    defaults to epsilon 1e-3 (PARITY-NOTES §3).
    """

    def __init__(self, momentum: float, epsilon: float, gamma_initializer="ones", beta_initializer="zeros",
                 **kwargs):
        super().__init__(**kwargs)
        self.momentum, self.epsilon = momentum, epsilon
        self.gamma_initializer = keras.initializers.get(gamma_initializer)
        self.beta_initializer = keras.initializers.get(beta_initializer)

    def build(self, input_shape):
        shape = (input_shape[-1],)
        self.gamma = self.add_weight(shape=shape, initializer=self.gamma_initializer, name="gamma")
        self.beta = self.add_weight(shape=shape, initializer=self.beta_initializer, name="beta")
        self.moving_mean = self.add_weight(shape=shape, initializer="zeros", trainable=False, name="moving_mean")
        self.moving_variance = self.add_weight(shape=shape, initializer="ones", trainable=False,
                                               name="moving_variance")

    def call(self, inputs, training=False):
        axes = tuple(range(len(inputs.shape) - 1))
        if training:
            # Not ops.moments: on TensorFlow that is tf.nn.moments, which stops the gradient through the mean
            # inside the variance (exact in theory); this keeps one graph, PyTorch's, on every backend.
            mean = ops.mean(inputs, axis=axes)
            variance = ops.mean(ops.square(inputs - mean), axis=axes)
            count = math.prod(inputs.shape[axis] for axis in axes)
            unbiased = variance * (count / (count - 1))
            self.moving_mean.assign(self.moving_mean * (1 - self.momentum) + mean * self.momentum)
            self.moving_variance.assign(self.moving_variance * (1 - self.momentum) + unbiased * self.momentum)
        else:
            mean, variance = self.moving_mean, self.moving_variance
        return (inputs - mean) * ops.rsqrt(variance + self.epsilon) * self.gamma + self.beta

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "epsilon": self.epsilon,
                "gamma_initializer": keras.initializers.serialize(self.gamma_initializer),
                "beta_initializer": keras.initializers.serialize(self.beta_initializer)}


class LeakyReLU(keras.layers.Layer):
    """``torch.nn.LeakyReLU``: x where x > 0, else ``negative_slope`` * x, in the input's precision.

    Keras' own layer on TensorFlow calls ``tf.nn.leaky_relu``, whose slope is a float32 attribute: 0.2 becomes
    0.2000000030, so float64 outputs differ from PyTorch's by ~1e-8, enough to flip the sign of Adam's first
    step on near-zero gradients in the float64 parity tests. In float32 both are the same number."""

    def __init__(self, negative_slope: float, **kwargs):
        super().__init__(**kwargs)
        self.negative_slope = negative_slope

    def call(self, inputs):
        return ops.where(inputs > 0, inputs, inputs * self.negative_slope)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "negative_slope": self.negative_slope}


def convolution(layer: Layer, **kwargs) -> list[keras.layers.Layer]:
    """``nn.Conv2d(padding=p)``: symmetric zero padding of p, then a "valid" convolution.

    Keras' ``padding="same"`` pads the extra row and column at the bottom and right when the total is
    odd, which differs from PyTorch for odd kernels with stride 2 (PARITY-NOTES §2)."""
    padding = [keras.layers.ZeroPadding2D(layer.padding)] if layer.padding else []
    return padding + [keras.layers.Conv2D(layer.units, layer.kernel, strides=layer.stride, padding="valid", **kwargs)]


def transposed_convolution(layer: Layer, **kwargs) -> list[keras.layers.Layer]:
    """``nn.ConvTranspose2d(padding=p, output_padding=q)``: the full ("valid") transposed convolution,
    (H - 1) * s + k wide, cropped by p at the top and left and by p - q at the bottom and right."""
    p, q = layer.padding, layer.output_padding
    if q > p:
        raise SpecError(f"output_padding {q} > padding {p} is not supported by the Keras implementation")
    crop = [keras.layers.Cropping2D(((p, p - q), (p, p - q)))] if p or q else []
    return [keras.layers.Conv2DTranspose(layer.units, layer.kernel, strides=layer.stride, padding="valid",
                                         **kwargs)] + crop


class OneHot(keras.layers.Layer):
    """Labels int [B] -> one-hot vectors [B, num_classes] in the layer's float dtype (no weights)."""

    def __init__(self, num_classes: int, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = num_classes

    def call(self, labels):
        return ops.one_hot(ops.cast(labels, "int32"), self.num_classes, dtype=self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return (*input_shape, self.num_classes)

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes}


class LabelMaps(keras.layers.Layer):
    """(images [B, H, W, C], label vectors [B, E]) -> [B, H, W, C + E]: each label feature as a constant map after
    the image channels (PyTorch's ``Conditioned`` joins maps at channel index C, the same order)."""

    def call(self, inputs):
        images, vectors = inputs
        shape = ops.shape(images)
        maps = ops.broadcast_to(vectors[:, None, None, :], (shape[0], shape[1], shape[2], ops.shape(vectors)[-1]))
        return ops.concatenate([images, ops.cast(maps, images.dtype)], axis=-1)

    def compute_output_shape(self, input_shape):
        images, vectors = input_shape
        return (*images[:-1], images[-1] + vectors[-1])
