"""Generator and discriminator built layer by layer from the spec (images are NCHW)."""
from __future__ import annotations

import torch
from torch import nn

from benchmark.spec import GANSpec, Init, Layer, Network, layer_output_shape

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


def build_network(network: Network, input_shape: tuple[int, ...]) -> nn.Sequential:
    modules, shape = [], tuple(input_shape)
    for layer in network.layers:
        modules += build_layer(layer, shape)
        shape = layer_output_shape(layer, shape)
    model = nn.Sequential(*modules)
    initialize(model, network)
    return model


def _init_(tensor: torch.Tensor, init: Init) -> None:
    if init.kind == "normal":
        nn.init.normal_(tensor, init.mean, init.std)
    elif init.kind == "glorot_uniform":
        nn.init.xavier_uniform_(tensor)
    else:
        nn.init.constant_(tensor, init.value)


@torch.no_grad()
def initialize(model: nn.Module, network: Network) -> None:
    """Apply the spec's initialisers, so PyTorch's Kaiming-uniform default never decides."""
    bn = next((layer.batch_norm for layer in network.layers if layer.batch_norm), None)
    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            _init_(module.weight, network.kernel_init)
            if module.bias is not None:
                _init_(module.bias, network.bias_init)
        elif isinstance(module, nn.modules.batchnorm._BatchNorm):
            _init_(module.weight, bn.gamma_init)
            _init_(module.bias, bn.beta_init)


def build_generator(spec: GANSpec) -> nn.Sequential:
    """Noise [B, noise_dim] -> images [B, 1, 28, 28] in [-1, 1]."""
    return build_network(spec.architecture.generator, (spec.training.noise_dim,))


def build_discriminator(spec: GANSpec) -> nn.Sequential:
    """Images [B, 1, 28, 28] -> one raw score (logit) per image, [B, 1]."""
    return build_network(spec.architecture.discriminator, tuple(spec.architecture.image_shape))
