"""The generator as a ``.keras`` file of Keras' built-in layers only, loadable by ``keras.saving.load_model``
without this project's code.

Training uses layers of its own (``tensorflow_impl.layers``): ``BatchNorm`` (PyTorch's unbiased running
variance, a training-time difference), ``LeakyReLU`` (the slope in the input's precision) and, in a conditional
generator, ``OneHot``. In inference they compute what ``keras.layers.BatchNormalization`` (same epsilon, the same
four arrays), ``keras.layers.LeakyReLU`` and ``keras.layers.CategoryEncoding`` (one-hot) compute, so the exported
copy, for inference, uses those.

On JAX and torch the file is written without importing TensorFlow (their runs never do; ``_tensorflow_hidden``).
"""
from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import keras
from keras.src.utils import module_utils

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


@contextlib.contextmanager
def _tensorflow_hidden():
    """Keras' serialisation asks of every object it writes whether it is a TensorFlow ``TensorShape``, ``DType`` or
    ``TypeSpec``, and to ask, imports TensorFlow whenever it is installed (``module_utils.tensorflow.available``,
    keras 3.15), whatever the backend. A model built on another backend holds no TensorFlow object, so the answer
    is no: on such a backend, while TensorFlow is not imported, the lazy module reports it absent while the file is
    written (the same file: only those three checks read it)."""
    lazy = module_utils.tensorflow
    if keras.backend.backend() == "tensorflow" or "tensorflow" in sys.modules or lazy._available is not None:
        yield
        return
    lazy._available = False
    try:
        yield
    finally:
        lazy._available = None


def save_generator(generator: keras.Model, path: Path) -> None:
    with _tensorflow_hidden():
        inference_copy(generator).save(path)
