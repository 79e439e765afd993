"""Generator and discriminator built layer by layer from the spec (images are NCHW), starting from the initial
weights both frameworks share (``benchmark.initial_weights``, Keras' layout). An unconditional network is an
``nn.Sequential`` of its input; a conditional one a ``Conditioned`` module of (input, labels)."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from benchmark.spec import Conditioning, GANSpec, Layer, Network, layer_output_shape, network_body

ACTIVATIONS = {
    "linear": lambda layer: nn.Identity(),
    "relu": lambda layer: nn.ReLU(),
    "leaky_relu": lambda layer: nn.LeakyReLU(layer.negative_slope),
    "tanh": lambda layer: nn.Tanh(),
    "sigmoid": lambda layer: nn.Sigmoid(),
}


def build_layer(layer: Layer, input_shape: tuple[int, ...]) -> list[nn.Module]:
    """The modules of one spec layer: the transform, then batch norm, then the activation."""
    if layer.kind == "flatten":
        return [nn.Flatten()]
    if layer.kind == "reshape":
        return [nn.Unflatten(1, tuple(layer.shape))]
    if layer.kind == "dense":
        modules = [nn.Linear(int(torch.tensor(input_shape).prod()), layer.units, bias=layer.bias)]
    else:
        conv = nn.Conv2d if layer.kind == "conv" else nn.ConvTranspose2d
        extra = {"output_padding": layer.output_padding} if layer.kind == "conv_transpose" else {}
        modules = [conv(input_shape[0], layer.units, layer.kernel, layer.stride, layer.padding, bias=layer.bias,
                        **extra)]
    if layer.batch_norm:
        norm = nn.BatchNorm1d if layer.kind == "dense" else nn.BatchNorm2d
        modules.append(norm(layer.units, eps=layer.batch_norm.eps, momentum=layer.batch_norm.momentum))
    return modules + [ACTIVATIONS[layer.activation](layer)]


def build_network(network: Network, input_shape: tuple[int, ...], weights: list[list[np.ndarray]]) -> nn.Sequential:
    """The modules of ``network``, in the dtype of ``weights`` and holding them (so PyTorch's Kaiming-uniform
    default never decides)."""
    modules, shape = [], tuple(input_shape)
    for layer in network.layers:
        modules += build_layer(layer, shape)
        shape = layer_output_shape(layer, shape)
    model = nn.Sequential(*modules)
    load_keras_layout(model, weights)
    return model


class OneHot(nn.Module):
    """Labels int [B] -> one-hot vectors [B, num_classes] in the default float dtype of the model's weights."""

    def __init__(self, num_classes: int):
        super().__init__()
        self.num_classes = num_classes
        self.register_buffer("dtype_probe", torch.zeros(()), persistent=False)

    def forward(self, labels: torch.Tensor) -> torch.Tensor:
        return nn.functional.one_hot(labels.long(), self.num_classes).to(self.dtype_probe.dtype)


def label_encoder(conditioning: Conditioning) -> nn.Module:
    if conditioning.encoding == "embedding":
        return nn.Embedding(conditioning.num_classes, conditioning.embedding_dim)
    return OneHot(conditioning.num_classes)


class Conditioned(nn.Module):
    """``body(input ⊕ encode(labels))``, the label vector joined last: to the noise (``features``), to the
    flattened image (``flat``) or as constant maps after the image channels (``maps``)."""

    def __init__(self, encode: nn.Module, body: nn.Sequential, join: str):
        super().__init__()
        self.encode, self.body, self.join = encode, body, join

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        vector = self.encode(labels)
        if self.join == "maps":
            maps = vector[:, :, None, None].expand(-1, -1, *x.shape[2:])
            return self.body(torch.cat([x, maps], 1))
        return self.body(torch.cat([x.flatten(1), vector], 1))


WEIGHTED = (nn.Embedding, nn.Linear, nn.Conv2d, nn.ConvTranspose2d, nn.modules.batchnorm._BatchNorm)


def weighted_modules(model: nn.Module) -> list[nn.Module]:
    """Modules with parameters, in order: one per Keras layer with weights."""
    return [m for m in model.modules() if isinstance(m, WEIGHTED)]


def module_tensors(module: nn.Module) -> list[torch.Tensor]:
    """A weighted module's parameters, then batch norm's running statistics: Keras' order of the layer's weights."""
    tensors = list(module.parameters(recurse=False))
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        tensors += [module.running_mean, module.running_var]
    return tensors


def from_keras_layout(module: nn.Module, array: np.ndarray) -> torch.Tensor:
    """One Keras-layout array as ``module``'s tensor: Dense ``[in, out]`` -> Linear ``[out, in]``; conv kernels
    ``[k, k, in, out]`` / ``[k, k, out, in]`` -> ``[out, in, k, k]`` / ``[in, out, k, k]``."""
    if array.ndim == 2 and isinstance(module, nn.Linear):
        array = array.T
    elif array.ndim == 4:
        array = array.transpose(3, 2, 0, 1)
    return torch.from_numpy(np.ascontiguousarray(array))


def to_keras_layout(module: nn.Module, tensor: torch.Tensor) -> np.ndarray:
    """The inverse of ``from_keras_layout``, as a numpy copy."""
    if tensor.dim() == 2 and isinstance(module, nn.Linear):
        tensor = tensor.T
    elif tensor.dim() == 4:
        tensor = tensor.permute(2, 3, 1, 0)
    return np.ascontiguousarray(tensor.detach().cpu().numpy()).copy()


def keras_layout(model: nn.Module) -> list[list[np.ndarray]]:
    """Every weighted module's parameters, then its batch-norm running statistics, in Keras' layout (the inverse
    of ``load_keras_layout``)."""
    return [[to_keras_layout(module, t) for t in module_tensors(module)] for module in weighted_modules(model)]


@torch.no_grad()
def load_keras_layout(model: nn.Module, weights: list[list[np.ndarray]]) -> None:
    """Set every module with parameters, in order, from one entry of Keras-layout arrays: weight and bias, or
    batch norm's weight, bias, running mean and running variance. The model takes the arrays' dtype."""
    modules = weighted_modules(model)
    if len(modules) != len(weights):
        raise ValueError(f"{len(modules)} modules with parameters, {len(weights)} weight entries")
    model.to(torch.from_numpy(np.asarray(weights[0][0])).dtype)
    for module, arrays in zip(modules, weights):
        for tensor, array in zip(module_tensors(module), arrays, strict=True):
            value = from_keras_layout(module, array)
            if tuple(tensor.shape) != tuple(value.shape):
                raise ValueError(f"{type(module).__name__}: shape {tuple(tensor.shape)}, weights {tuple(value.shape)}")
            tensor.copy_(value)


def to_model_layout(images: torch.Tensor, image_shape: tuple[int, ...]) -> torch.Tensor:
    """Samples as numpy holds them (``Architecture.sample_shape``: [..., H, W] for one channel, [..., H, W, C] for
    more; a 1-D data point's [...]) -> the networks' channels-first [..., C, H, W] ([..., 1])."""
    if image_shape[0] == 1:
        return images.unsqueeze(images.dim() - (len(image_shape) - 1))
    return images.movedim(-1, -3).contiguous()


def from_model_layout(images: torch.Tensor, image_shape: tuple[int, ...]) -> torch.Tensor:
    """The inverse of ``to_model_layout``: a generator's [N, C, H, W] -> [N, H, W] or [N, H, W, C]."""
    if image_shape[0] == 1:
        return images.squeeze(images.dim() - len(image_shape))
    return images.movedim(-3, -1)


def build_model(spec: GANSpec, network: str, weights: list[list[np.ndarray]]) -> nn.Module:
    """``network`` of the spec: ``build_network`` of its body, wrapped in ``Conditioned`` for a conditional spec
    (the embedding table, when there is one, is the first entry of ``weights``)."""
    input_shape, body = network_body(spec, network)
    if not spec.conditional:
        return build_network(body, input_shape, weights)
    encode = label_encoder(spec.conditioning)
    has_table = isinstance(encode, nn.Embedding)
    join = "features" if network == "generator" else spec.conditioning.discriminator_input
    model = Conditioned(encode, build_network(body, input_shape, weights[1:] if has_table else weights), join)
    if has_table:
        load_keras_layout(encode, weights[:1])
    return model.to(torch.from_numpy(np.asarray(weights[0][0])).dtype)


def build_generator(spec: GANSpec, weights: list[list[np.ndarray]]) -> nn.Module:
    """Noise [B, noise_dim] (and labels [B] if conditional) -> images [B, C, H, W] in [-1, 1]; ``weights``:
    ``initial_weights`` of "generator"."""
    return build_model(spec, "generator", weights)


def build_discriminator(spec: GANSpec, weights: list[list[np.ndarray]]) -> nn.Module:
    """Images [B, C, H, W] (and labels [B] if conditional) -> one raw score (logit) per image, [B, 1];
    ``weights`` of "discriminator"."""
    return build_model(spec, "discriminator", weights)
