"""The generator as a ``.keras`` file of Keras' built-in layers only, loadable by ``keras.saving.load_model``
without this project's code.

Training uses layers of its own (``tensorflow_impl.layers``): ``BatchNorm`` (PyTorch's unbiased running
variance, a training-time difference), ``LeakyReLU`` (the slope in the input's precision) and, in a conditional
generator, ``OneHot``. In inference they compute what ``keras.layers.BatchNormalization`` (same epsilon, the same
four arrays), ``keras.layers.LeakyReLU`` and ``keras.layers.CategoryEncoding`` (one-hot) compute, so the exported
copy, for inference, uses those.
"""
from __future__ import annotations

from pathlib import Path

import keras

from tensorflow_impl.layers import BatchNorm, LeakyReLU, OneHot


def _built_in(layer: keras.layers.Layer) -> keras.layers.Layer:
    if isinstance(layer, BatchNorm):
        return keras.layers.BatchNormalization(epsilon=layer.epsilon, name=layer.name)
    if isinstance(layer, LeakyReLU):
        return keras.layers.LeakyReLU(negative_slope=layer.negative_slope, name=layer.name)
    if isinstance(layer, OneHot):
        return keras.layers.CategoryEncoding(num_tokens=layer.num_classes, output_mode="one_hot", name=layer.name)
    return layer.__class__.from_config(layer.get_config())


def inference_copy(model: keras.Model) -> keras.Model:
    """``model`` rebuilt from built-in layers, with its weights and batch-norm statistics."""
    copy = keras.models.clone_model(model, clone_function=_built_in)
    for source, target in zip(model.layers, copy.layers, strict=True):
        target.set_weights(source.get_weights())
    return copy


def save_generator(generator: keras.Model, path: Path) -> None:
    inference_copy(generator).save(path)
