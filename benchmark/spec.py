"""The common specification: every model as data, framework-free (no torch, no tensorflow).

Both implementations build from this module; nothing here is left to a framework default. Where PyTorch
and Keras differ (see ``../shared/PARITY-NOTES.md``), the field states the value in one convention and
the docstring names it:

* Padding is explicit and symmetric, in PyTorch's sense (``padding``, ``output_padding``); Keras pads
  explicitly to the same effect instead of using ``"same"``.
* ``BatchNorm.momentum`` is PyTorch's (weight of the new batch statistic, 0.1); Keras' momentum is
  ``1 - momentum``. The running variance is updated with the unbiased (n - 1) batch variance.
* Optimiser epsilon: Adam divides by ``sqrt(v / (1 - beta2**t)) + eps`` and RMSprop by ``sqrt(v) + eps``
  (epsilon outside the square root, after bias correction), PyTorch's placement.
* TF32 is off for matmul and convolution in both frameworks (``Training.allow_tf32``).

A model is an architecture combined with an objective (loss + optimisers + critic schedule) and, for a
conditional model, a ``Conditioning`` (how the class label enters both networks). The named models are presets;
any ``"ARCHITECTURE+OBJECTIVE"`` pair or ``"ARCHITECTURE+OBJECTIVE+CONDITIONING"`` triple is valid too.
``TOY_SPECS`` holds the one-minute toy GAN on a sampled 1-D data set (``toy``), which the image suite does not run.
"""
from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from dataclasses import dataclass, field

from benchmark.datasets import DEFAULT_DATASET, Dataset, get_dataset

LAYER_KINDS = ("dense", "conv", "conv_transpose", "reshape", "flatten")
ACTIVATIONS = ("linear", "relu", "leaky_relu", "tanh", "sigmoid")
INIT_KINDS = ("normal", "glorot_uniform", "constant")
OPTIMIZERS = ("adam", "rmsprop")
LOSSES = ("nonsaturating", "least_squares", "wasserstein", "wasserstein_gp")
NOISE_DISTRIBUTIONS = ("normal", "uniform", "uniform01")  # N(0, 1), U(-1, 1), U[0, 1)
DTYPES = ("float32", "float64")
LABEL_ENCODINGS = ("embedding", "one_hot")
# Where the label enters the discriminator: ``flat`` concatenated to the flattened image (the network must begin
# with a flatten layer), ``maps`` as constant feature maps, one channel per label feature, after the image channels.
DISCRIMINATOR_INPUTS = ("flat", "maps")
# The data set a spec is built for unless ``get_spec`` is told another (``benchmark.datasets``): its image shape is
# the generators' output and the discriminators' input, and the architectures below derive their sizes from it.
DATASET = get_dataset(DEFAULT_DATASET)
IMAGE_SHAPE = DATASET.image_shape  # (C, H, W) = (1, 28, 28)


class SpecError(ValueError):
    """An invalid name, field or value in a spec; the message lists what is valid."""


def _check_choice(what: str, value: str, valid: typing.Iterable[str]) -> None:
    valid = tuple(valid)
    if value not in valid:
        raise SpecError(f"unknown {what} {value!r}; valid: {', '.join(valid)}")


@dataclass(frozen=True)
class Init:
    """A weight initialiser: ``normal`` (mean, std), ``glorot_uniform`` (Glorot & Bengio 2010) or ``constant``."""

    kind: str
    mean: float = 0.0
    std: float = 0.0
    value: float = 0.0

    def __post_init__(self):
        _check_choice("initialiser", self.kind, INIT_KINDS)


@dataclass(frozen=True)
class BatchNorm:
    """Batch normalisation, PyTorch convention: running = (1 - momentum) * running + momentum * batch."""

    momentum: float = 0.1
    eps: float = 1e-5
    running_variance: str = "unbiased"
    gamma_init: Init = Init("normal", mean=1.0, std=0.02)
    beta_init: Init = Init("constant", value=0.0)

    def __post_init__(self):
        _check_choice("running variance", self.running_variance, ("unbiased",))


@dataclass(frozen=True)
class Layer:
    """One layer and what follows it: [dense|conv|conv_transpose] -> [batch norm] -> activation.

    ``units`` is output features (dense) or output channels (conv); ``shape`` is the (C, H, W) target of a
    reshape. Feature maps are channels-first in the spec; Keras lays them out channels-last.
    """

    kind: str
    units: int = 0
    kernel: int = 0
    stride: int = 1
    padding: int = 0
    output_padding: int = 0
    shape: tuple[int, ...] = ()
    bias: bool = True
    batch_norm: BatchNorm | None = None
    activation: str = "linear"
    negative_slope: float = 0.0

    def __post_init__(self):
        _check_choice("layer kind", self.kind, LAYER_KINDS)
        _check_choice("activation", self.activation, ACTIVATIONS)


@dataclass(frozen=True)
class Network:
    layers: tuple[Layer, ...]
    kernel_init: Init
    bias_init: Init = Init("constant", value=0.0)


@dataclass(frozen=True)
class Architecture:
    name: str
    generator: Network
    discriminator: Network
    source: str
    image_shape: tuple[int, ...] = IMAGE_SHAPE  # (C, H, W), channels first as every shape of the spec
    dataset: str = DATASET.name  # the data set it is built for (``benchmark.datasets``)

    @property
    def channels(self) -> int:
        return self.image_shape[0]

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """One sample as numpy arrays hold it between the frameworks and on disk (``benchmark.datasets``): without
        the channel axis when there is one channel (MNIST ``(H, W)``, a 1-D data point ``()``), else channels last
        ``(H, W, C)``."""
        if self.channels == 1:
            return tuple(self.image_shape[1:])
        channels, height, width = self.image_shape
        return (height, width, channels)


@dataclass(frozen=True)
class StepDecay:
    """A step learning-rate schedule: update ``t`` (counted from 0, per optimiser) uses
    ``lr * factor ** (t // every)`` (PyTorch's ``StepLR`` stepped after every update)."""

    every: int
    factor: float

    def __post_init__(self):
        if self.every < 1 or not 0.0 < self.factor <= 1.0:
            raise SpecError(f"step decay needs every >= 1 and 0 < factor <= 1, got {self.every}, {self.factor}")


@dataclass(frozen=True)
class Optimizer:
    """Adam (``beta1``, ``beta2``) or RMSprop (``rho``, PyTorch's ``alpha``); epsilon as in the module doc.
    ``schedule``: the learning rate's decay over updates (None: constant)."""

    name: str
    lr: float
    eps: float
    beta1: float = 0.0
    beta2: float = 0.0
    rho: float = 0.0
    momentum: float = 0.0
    centered: bool = False
    weight_decay: float = 0.0
    schedule: StepDecay | None = None

    def __post_init__(self):
        _check_choice("optimiser", self.name, OPTIMIZERS)

    def learning_rate(self, update: int) -> float:
        """The learning rate of update ``update`` (0 = the first) under ``schedule``."""
        if self.schedule is None:
            return self.lr
        return self.lr * self.schedule.factor ** (update // self.schedule.every)


@dataclass(frozen=True)
class Objective:
    """The loss and how the two players are optimised.

    ``on_logits``: the discriminator's last layer is linear and the loss applies the sigmoid itself
    (``nonsaturating``); otherwise the loss reads the raw output as a score. ``ls_targets`` = (a, b, c) of
    Mao et al.: fake label, real label, and the value the generator wants the fake output to take.
    """

    loss: str
    on_logits: bool
    d_optimizer: Optimizer
    g_optimizer: Optimizer
    source: str
    n_critic: int = 1
    clip_value: float | None = None
    gp_weight: float | None = None
    ls_targets: tuple[float, ...] | None = None
    critic_batch_norm: bool = True

    def __post_init__(self):
        _check_choice("loss", self.loss, LOSSES)


@dataclass(frozen=True)
class Training:
    batch_size: int = 64
    epochs: int = 20
    noise_dim: int = 100
    noise: str = "normal"
    allow_tf32: bool = False
    dtype: str = "float32"  # weights and arithmetic; float64 only for the parity tests (PARITY-NOTES §7)
    steps: int | None = None  # a sampled data set has no epochs: its training length in generator iterations
    source: str = "Lucic et al. 2018, 'Are GANs Created Equal?' (MNIST: batch 64, 20 epochs)"

    def __post_init__(self):
        _check_choice("noise distribution", self.noise, NOISE_DISTRIBUTIONS)
        _check_choice("dtype", self.dtype, DTYPES)


@dataclass(frozen=True)
class Conditioning:
    """How class labels enter both networks. The label becomes a vector (``embedding``: a learned
    ``[num_classes, embedding_dim]`` table per network, drawn from ``embedding_init``; ``one_hot``: no weights);
    the generator reads ``noise ⊕ label vector`` and the discriminator ``image ⊕ label vector`` where
    ``discriminator_input`` says (``DISCRIMINATOR_INPUTS``), always in that order (label last)."""

    encoding: str
    discriminator_input: str
    source: str
    num_classes: int = 10
    embedding_dim: int = 0
    embedding_init: Init = Init("normal", mean=0.0, std=1.0)

    def __post_init__(self):
        _check_choice("label encoding", self.encoding, LABEL_ENCODINGS)
        _check_choice("discriminator input", self.discriminator_input, DISCRIMINATOR_INPUTS)

    @property
    def width(self) -> int:
        """Features of one label vector."""
        return self.embedding_dim if self.encoding == "embedding" else self.num_classes


@dataclass(frozen=True)
class GANSpec:
    name: str
    architecture: Architecture
    objective: Objective
    training: Training = field(default_factory=Training)
    conditioning: Conditioning | None = None

    @property
    def conditional(self) -> bool:
        return self.conditioning is not None

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> GANSpec:
        return from_dict(cls, json.loads(text))


def spec_dict(spec: GANSpec) -> dict:
    """``dataclasses.asdict(spec)``, without ``conditioning`` when there is none: an unconditional spec is recorded
    (config.json, checkpoints) exactly as before conditioning existed, so those runs still resume."""
    data = dataclasses.asdict(spec)
    if data["conditioning"] is None:
        del data["conditioning"]
    return data


def from_dict(cls: type, data: dict) -> typing.Any:
    """Rebuild a spec dataclass from plain data; unknown or missing fields raise ``SpecError``."""
    if not isinstance(data, dict):
        raise SpecError(f"{cls.__name__}: expected an object, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise SpecError(f"{cls.__name__}: unknown field(s) {', '.join(unknown)}; valid: {', '.join(names)}")
    try:
        return cls(**{name: _convert(hints[name], value) for name, value in data.items()})
    except TypeError as error:
        raise SpecError(f"{cls.__name__}: {error}") from None


def _convert(hint: typing.Any, value: typing.Any) -> typing.Any:
    if value is None:
        return None
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return _convert(next(a for a in args if a is not type(None)), value)
    if origin is tuple:
        return tuple(_convert(args[0], item) for item in value)
    if dataclasses.is_dataclass(hint):
        return from_dict(hint, value)
    return value


# --------------------------------------------------------------------------------------------- layers

LEAKY = dict(activation="leaky_relu", negative_slope=0.2)
DCGAN_BN = BatchNorm(momentum=0.1, eps=1e-5)


def _conv(kind: str, units: int, **kw) -> Layer:
    """A stride-2, kernel-4, padding-1 convolution: the only strided geometry where PyTorch's padding and
    Keras' ``"same"`` agree exactly (PARITY-NOTES §2), so either convention reproduces it."""
    return Layer(kind, units=units, kernel=4, stride=2, padding=1, **kw)


MLP_SOURCE = ("Goodfellow et al. 2014 (MLP G and D); sizes and LeakyReLU(0.2) of the common PyTorch-GAN "
              "MNIST reference (no maxout or dropout, so both frameworks are deterministic)")
DCGAN_SOURCE = ("Radford et al. 2016 (DCGAN: BN, ReLU/LeakyReLU(0.2), N(0, 0.02) init) in the 28x28 layout "
                "of Lucic et al. 2018, Table 7 (InfoGAN-style G and D)")


def mlp_architecture(dataset: Dataset) -> Architecture:
    """The MLP pair for ``dataset``'s images: the generator's last dense layer has one unit per pixel value
    (C * H * W), reshaped to the image; the discriminator flattens the image."""
    image = tuple(dataset.image_shape)
    return Architecture(
        name="mlp", source=MLP_SOURCE, image_shape=image, dataset=dataset.name,
        generator=Network(
            layers=(Layer("dense", 256, activation="leaky_relu", negative_slope=0.2),
                    Layer("dense", 512, activation="leaky_relu", negative_slope=0.2),
                    Layer("dense", 1024, activation="leaky_relu", negative_slope=0.2),
                    Layer("dense", math.prod(image), activation="tanh"),
                    Layer("reshape", shape=image)),
            kernel_init=Init("glorot_uniform")),
        discriminator=Network(
            layers=(Layer("flatten"),
                    Layer("dense", 1024, **LEAKY),
                    Layer("dense", 512, **LEAKY),
                    Layer("dense", 256, **LEAKY),
                    Layer("dense", 1)),
            kernel_init=Init("glorot_uniform")))


def dcgan_architecture(dataset: Dataset) -> Architecture:
    """The DCGAN pair for ``dataset``'s (C, H, W) images, H and W multiples of 4: the generator projects the noise
    to 128 maps of (H / 4) x (W / 4) and upsamples twice to C channels (28x28 MNIST: 7x7, the published layout;
    32x32 CIFAR-10: 8x8); the discriminator mirrors it from C channels.

    A 32x32 image could also start from 4x4 as the DCGAN paper's generators do (a 4x4 projection, then one
    fractionally-strided layer per doubling: three for 32x32). That would add a layer and make the architecture
    itself differ between data sets; the H / 4 grid keeps Lucic et al.'s layers, widths and kernels for every
    data set (they train this one architecture on all of theirs), so only the data decides the sizes."""
    channels, height, width = dataset.image_shape
    if height % 4 or width % 4:
        raise SpecError(f"the DCGAN layout upsamples twice by 2: {dataset.title}'s {height}x{width} images need a "
                        f"height and width that are multiples of 4")
    grid = (128, height // 4, width // 4)
    source = DCGAN_SOURCE if grid == (128, 7, 7) else (
        f"{DCGAN_SOURCE}; for {height}x{width}x{channels} images the same layers from a {grid[1]}x{grid[2]} grid "
        f"(H / 4 x W / 4) to {channels} channels")
    return Architecture(
        name="dcgan", source=source, image_shape=(channels, height, width), dataset=dataset.name,
        generator=Network(
            layers=(Layer("dense", 1024, bias=False, batch_norm=DCGAN_BN, activation="relu"),
                    Layer("dense", math.prod(grid), bias=False, batch_norm=DCGAN_BN, activation="relu"),
                    Layer("reshape", shape=grid),
                    _conv("conv_transpose", 64, bias=False, batch_norm=DCGAN_BN, activation="relu"),
                    _conv("conv_transpose", channels, activation="tanh")),
            kernel_init=Init("normal", mean=0.0, std=0.02)),
        discriminator=Network(
            layers=(_conv("conv", 64, **LEAKY),
                    _conv("conv", 128, bias=False, batch_norm=DCGAN_BN, **LEAKY),
                    Layer("flatten"),
                    Layer("dense", 1024, bias=False, batch_norm=DCGAN_BN, **LEAKY),
                    Layer("dense", 1)),
            kernel_init=Init("normal", mean=0.0, std=0.02)))


# Each architecture built for a data set's image shape; ``ARCHITECTURES`` holds them built for the default one.
ARCHITECTURE_BUILDERS: dict[str, typing.Callable[[Dataset], Architecture]] = {"mlp": mlp_architecture,
                                                                               "dcgan": dcgan_architecture}
ARCHITECTURES: dict[str, Architecture] = {name: build(DATASET) for name, build in ARCHITECTURE_BUILDERS.items()}

# ------------------------------------------------------------------------------------------ objectives

ADAM_DCGAN = Optimizer("adam", lr=2e-4, beta1=0.5, beta2=0.999, eps=1e-8)

OBJECTIVES: dict[str, Objective] = {
    "nonsaturating": Objective(
        loss="nonsaturating", on_logits=True, d_optimizer=ADAM_DCGAN, g_optimizer=ADAM_DCGAN,
        source="Goodfellow et al. 2014 (non-saturating G loss); Adam lr 2e-4, beta1 0.5: Radford et al. 2016"),
    "least_squares": Objective(
        loss="least_squares", on_logits=False, d_optimizer=ADAM_DCGAN, g_optimizer=ADAM_DCGAN,
        ls_targets=(0.0, 1.0, 1.0),
        source="Mao et al. 2017 (LSGAN, 0-1 coding a=0, b=1, c=1; Adam lr 2e-4, beta1 0.5)"),
    "wasserstein": Objective(
        loss="wasserstein", on_logits=False, n_critic=5, clip_value=0.01,
        d_optimizer=Optimizer("rmsprop", lr=5e-5, rho=0.99, eps=1e-8),
        g_optimizer=Optimizer("rmsprop", lr=5e-5, rho=0.99, eps=1e-8),
        source="Arjovsky et al. 2017 (Algorithm 1: RMSprop lr 5e-5, c = 0.01, n_critic = 5; "
               "rho 0.99, eps 1e-8 of the authors' PyTorch code)"),
    "wasserstein_gp": Objective(
        loss="wasserstein_gp", on_logits=False, n_critic=5, gp_weight=10.0, critic_batch_norm=False,
        d_optimizer=Optimizer("adam", lr=1e-4, beta1=0.0, beta2=0.9, eps=1e-8),
        g_optimizer=Optimizer("adam", lr=1e-4, beta1=0.0, beta2=0.9, eps=1e-8),
        source="Gulrajani et al. 2017 (Algorithm 1: lambda 10, n_critic 5, Adam lr 1e-4, betas (0, 0.9); "
               "no batch norm in the critic, uniform interpolation weight per sample)"),
}

# ---------------------------------------------------------------------------------------- conditioning

CONDITIONINGS: dict[str, Conditioning] = {
    "embedding": Conditioning(
        encoding="embedding", embedding_dim=10, discriminator_input="flat",
        source="Mirza & Osindero 2014 (label joined to z and to x); Embedding(10, 10) in G and in D, N(0, 1) "
               "(PyTorch's nn.Embedding default), as PyTorch-GAN cgan.py; concatenated after the noise (that "
               "code puts it before: a permutation of the first layer's rows) and after the flattened image"),
    "one_hot_maps": Conditioning(
        encoding="one_hot", discriminator_input="maps",
        source="one-hot label joined to z and, as 10 constant 28x28 maps, to the image channels (the keras-io "
               "conditional_gan layout, with one map per class: its ops.repeat without an axis does not build them)"),
}

PRESETS: dict[str, tuple[str, str]] = {
    "vanilla": ("mlp", "nonsaturating"),
    "dcgan": ("dcgan", "nonsaturating"),
    "lsgan": ("dcgan", "least_squares"),
    "wgan": ("dcgan", "wasserstein"),
    "wgan-gp": ("dcgan", "wasserstein_gp"),
}
MODEL_NAMES = tuple(PRESETS)
# Conditional presets (architecture, objective, conditioning), kept apart from ``MODEL_NAMES``: the suites' default
# model list and the unconditional metrics' tables stay as they are until a conditional profile is measured.
CONDITIONAL_PRESETS: dict[str, tuple[str, str, str]] = {
    "cgan": ("mlp", "nonsaturating", "embedding"),
    "cdcgan": ("dcgan", "nonsaturating", "one_hot_maps"),
}
CONDITIONAL_MODEL_NAMES = tuple(CONDITIONAL_PRESETS)

# ------------------------------------------------------------------------------------------ the toy GAN

TOY_ADAM = Optimizer("adam", lr=1e-3, beta1=0.5, beta2=0.999, eps=1e-8, schedule=StepDecay(every=2_000, factor=0.5))
TOY_SOURCE = ("the classic first GAN on a 1-D normal (target N(4, 1.25^2), z ~ U[0, 1), G 1-32-32-1 ReLU, D 1-64-64-1 "
              "LeakyReLU 0.2, BCE, Adam lr 1e-3 betas (0.5, 0.999) halved every 2,000 iterations, batch 1,024, 5,000 "
              "iterations of one D and one G step); Glorot-uniform kernels and zero biases as every model here")
TOY_SPECS: dict[str, GANSpec] = {
    "toy": GANSpec(
        name="toy",
        architecture=Architecture(
            name="toy-mlp", source=TOY_SOURCE, image_shape=(1,), dataset="gaussian-1d",
            generator=Network(layers=(Layer("dense", 32, activation="relu"), Layer("dense", 32, activation="relu"),
                                      Layer("dense", 1)),
                              kernel_init=Init("glorot_uniform")),
            discriminator=Network(layers=(Layer("dense", 64, **LEAKY), Layer("dense", 64, **LEAKY), Layer("dense", 1)),
                                  kernel_init=Init("glorot_uniform"))),
        objective=Objective(loss="nonsaturating", on_logits=True, d_optimizer=TOY_ADAM, g_optimizer=TOY_ADAM,
                            source=TOY_SOURCE + "; D's sigmoid is applied by the loss (BCE on logits)"),
        training=Training(batch_size=1_024, epochs=0, noise_dim=1, noise="uniform01", steps=5_000, source=TOY_SOURCE)),
}
# The one-minute profile's length: the published schedule compressed 5x (1,000 iterations, the learning rate
# halved every 400: two halvings at the same fractions of the run), everything else as published.
TOY_1K_ADAM = dataclasses.replace(TOY_ADAM, schedule=StepDecay(every=400, factor=0.5))
TOY_SPECS["toy-1k"] = dataclasses.replace(
    TOY_SPECS["toy"], name="toy-1k",
    objective=dataclasses.replace(TOY_SPECS["toy"].objective, d_optimizer=TOY_1K_ADAM, g_optimizer=TOY_1K_ADAM),
    training=dataclasses.replace(TOY_SPECS["toy"].training, steps=1_000,
                                 source=TOY_SOURCE + "; compressed 5x: 1,000 iterations, lr halved every 400"))


def compose(architecture: str, objective: str, name: str | None = None, conditioning: str | None = None,
            dataset: str = DEFAULT_DATASET) -> GANSpec:
    """Combine any architecture, built for ``dataset``'s images, with any objective (and, given, a
    ``CONDITIONINGS`` entry) into a full spec."""
    _check_choice("architecture", architecture, ARCHITECTURE_BUILDERS)
    _check_choice("objective", objective, OBJECTIVES)
    if conditioning is not None:
        _check_choice("conditioning", conditioning, CONDITIONINGS)
    arch, obj = image_architecture(architecture, dataset), OBJECTIVES[objective]
    if not obj.critic_batch_norm:
        layers = tuple(dataclasses.replace(layer, batch_norm=None, bias=True) if layer.batch_norm else layer
                       for layer in arch.discriminator.layers)
        arch = dataclasses.replace(arch, discriminator=dataclasses.replace(arch.discriminator, layers=layers))
    default_name = "+".join(part for part in (architecture, objective, conditioning) if part)
    spec = GANSpec(name=name or default_name, architecture=arch, objective=obj,
                   conditioning=CONDITIONINGS[conditioning] if conditioning else None)
    check_shapes(spec)
    return spec


def image_architecture(name: str, dataset: str = DEFAULT_DATASET) -> Architecture:
    """Architecture ``name`` built for ``dataset``'s images (a sampled data set has none)."""
    entry = get_dataset(dataset)
    if entry.sampler is not None:
        raise SpecError(f"{entry.title} is a sampled data set, not images: its models are {', '.join(TOY_SPECS)}")
    return ARCHITECTURES[name] if entry.name == DATASET.name else ARCHITECTURE_BUILDERS[name](entry)


def get_spec(name: str, dataset: str = DEFAULT_DATASET) -> GANSpec:
    """A preset (``dcgan``, ``cgan``), any ``ARCHITECTURE+OBJECTIVE`` pair (``mlp+wasserstein_gp``) or
    ``ARCHITECTURE+OBJECTIVE+CONDITIONING`` triple (``mlp+least_squares+embedding``), built for ``dataset``'s
    images (``benchmark.datasets``; a toy spec has its own data set and refuses another)."""
    if name in PRESETS:
        return compose(*PRESETS[name], name=name, dataset=dataset)
    if name in CONDITIONAL_PRESETS:
        architecture, objective, conditioning = CONDITIONAL_PRESETS[name]
        return compose(architecture, objective, name=name, conditioning=conditioning, dataset=dataset)
    if name in TOY_SPECS:
        if dataset not in (DEFAULT_DATASET, TOY_SPECS[name].architecture.dataset):
            raise SpecError(f"{name} is trained on {TOY_SPECS[name].architecture.dataset}, not {dataset}")
        return TOY_SPECS[name]
    if "+" in name:
        architecture, objective, *conditioning = name.split("+", 2)
        return compose(architecture, objective, conditioning=conditioning[0] if conditioning else None,
                       dataset=dataset)
    combos = [f"{a}+{o}" for a in ARCHITECTURES for o in OBJECTIVES]
    raise SpecError(f"unknown model {name!r}; valid: {', '.join(MODEL_NAMES + CONDITIONAL_MODEL_NAMES + tuple(TOY_SPECS))}"
                    f" or any of {', '.join(combos)}, optionally +{'|'.join(CONDITIONINGS)}")


# ------------------------------------------------------------------------------ shapes and parameters

def layer_output_shape(layer: Layer, shape: tuple[int, ...]) -> tuple[int, ...]:
    """Channels-first output shape of ``layer`` for a channels-first input ``shape`` (no batch axis)."""
    if layer.kind == "dense":
        return (layer.units,)
    if layer.kind == "flatten":
        return (math.prod(shape),)
    if layer.kind == "reshape":
        if math.prod(layer.shape) != math.prod(shape):
            raise SpecError(f"cannot reshape {shape} to {layer.shape}")
        return tuple(layer.shape)
    _, height, width = shape
    k, s, p = layer.kernel, layer.stride, layer.padding
    if layer.kind == "conv":
        return (layer.units, (height + 2 * p - k) // s + 1, (width + 2 * p - k) // s + 1)
    return (layer.units, (height - 1) * s - 2 * p + k + layer.output_padding,
            (width - 1) * s - 2 * p + k + layer.output_padding)


def network_shapes(network: Network, input_shape: tuple[int, ...]) -> list[tuple[int, ...]]:
    """Output shape after every layer."""
    shapes, shape = [], tuple(input_shape)
    for layer in network.layers:
        shape = layer_output_shape(layer, shape)
        shapes.append(shape)
    return shapes


def layer_parameter_count(layer: Layer, input_shape: tuple[int, ...]) -> int:
    """Trainable parameters of ``layer``: weights, bias and batch-norm scale and offset."""
    if layer.kind in ("reshape", "flatten"):
        return 0
    fan_in = input_shape[0] if layer.kind != "dense" else math.prod(input_shape)
    weights = fan_in * layer.units * (layer.kernel ** 2 if layer.kind != "dense" else 1)
    return weights + layer.units * (int(layer.bias) + 2 * int(layer.batch_norm is not None))


def parameter_count(network: Network, input_shape: tuple[int, ...]) -> int:
    shapes = [tuple(input_shape)] + network_shapes(network, input_shape)
    return sum(layer_parameter_count(layer, shape) for layer, shape in zip(network.layers, shapes))


def network_body(spec: GANSpec, network: str) -> tuple[tuple[int, ...], Network]:
    """(input shape, layers) of what each framework builds as ``network`` ("generator" or "discriminator") once the
    label vector is joined to the input: the whole network on its own input for an unconditional spec;
    for a conditional one the generator reads ``noise_dim + width`` features, the discriminator ``flat``
    ``prod(image) + width`` features after its leading flatten (which the frameworks apply before joining) or
    ``maps`` ``C + width`` channels."""
    net = getattr(spec.architecture, network)
    image = tuple(spec.architecture.image_shape)
    if network == "generator":
        width = spec.conditioning.width if spec.conditional else 0
        return (spec.training.noise_dim + width,), net
    if not spec.conditional:
        return image, net
    width = spec.conditioning.width
    if spec.conditioning.discriminator_input == "maps":
        return (image[0] + width, *image[1:]), net
    if not net.layers or net.layers[0].kind != "flatten":
        raise SpecError(f"{spec.name}: a discriminator reading the label with its flattened image must begin with "
                        f"a flatten layer; use discriminator input 'maps' for {spec.architecture.name}")
    return (math.prod(image) + width,), dataclasses.replace(net, layers=net.layers[1:])


def check_shapes(spec: GANSpec) -> None:
    """The generator must map noise to the image shape and the discriminator the image to one score."""
    image = tuple(spec.architecture.image_shape)
    produced = network_shapes(*reversed(network_body(spec, "generator")))[-1]
    scored = network_shapes(*reversed(network_body(spec, "discriminator")))[-1]
    if produced != image or scored != (1,):
        raise SpecError(f"{spec.name}: generator gives {produced} (want {image}), "
                        f"discriminator gives {scored} (want (1,))")


def steps_per_epoch(spec: GANSpec, train_size: int | None = None) -> int:
    """Generator iterations per epoch: each consumes ``n_critic`` batches (``train_size``: default, the spec's data
    set's)."""
    if train_size is None:
        train_size = get_dataset(spec.architecture.dataset).train_size
    return (train_size // spec.training.batch_size) // spec.objective.n_critic
