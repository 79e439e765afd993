"""Known PyTorch/Keras differences, each applied to the Keras side alone: the parity checks must catch every one.

A mutation changes what the Keras worker builds through one of three seams: the spec Keras reads (a value
written in the other framework's convention or left at Keras' default), a module or class attribute of
``tensorflow_impl`` replaced while the probe runs (a convention: padding, batch norm, activation,
initialiser, gradient penalty, clipping, inference mode), or the built ``KerasGAN`` itself (one network's
optimiser).
``tests/test_parity.py`` runs every mutation and fails when one survives the checks.
"""
from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from benchmark.frameworks import KERAS, implementation
from benchmark.spec import GANSpec, Optimizer


def _keep(spec: GANSpec) -> GANSpec:
    return spec


def _nothing() -> list:
    return []


def _leave(gan: Any) -> None:
    return None


@dataclass(frozen=True)
class Mutation:
    name: str
    model: str  # the preset whose probe runs with the mutation
    what: str  # the framework difference it reproduces
    spec: Callable[[GANSpec], GANSpec] = _keep
    patches: Callable[[], list[tuple[Any, str, Any]]] = _nothing  # (object, attribute, replacement)
    after_build: Callable[[Any], None] = _leave
    network: str = ""  # the network it touches, when only one
    mode: str | None = None  # the Keras execution mode it runs in: None the stateless step, "fit" Model.fit


MUTATIONS: dict[str, Mutation] = {}


def register_mutation(mutation: Mutation) -> Mutation:
    if mutation.name in MUTATIONS:
        raise ValueError(f"mutation {mutation.name!r} is registered twice")
    MUTATIONS[mutation.name] = mutation
    return mutation


@contextlib.contextmanager
def applied(name: str | None, spec: GANSpec) -> Iterator[tuple[GANSpec, Callable[[Any], None]]]:
    """(the spec Keras builds from, the hook to call on the built KerasGAN), with the patches in force."""
    if name is None:
        yield spec, _leave
        return
    if name not in MUTATIONS:
        raise ValueError(f"unknown mutation {name!r}; valid: {', '.join(MUTATIONS)}")
    mutation = MUTATIONS[name]
    with contextlib.ExitStack() as stack:
        for target, attribute, replacement in mutation.patches():
            stack.enter_context(_patched(target, attribute, replacement))
        yield mutation.spec(spec), mutation.after_build


@contextlib.contextmanager
def _patched(target: Any, attribute: str, replacement: Any) -> Iterator[None]:
    if isinstance(target, dict):
        original, target[attribute] = target[attribute], replacement
        try:
            yield
        finally:
            target[attribute] = original
        return
    original = getattr(target, attribute)
    setattr(target, attribute, replacement)
    try:
        yield
    finally:
        setattr(target, attribute, original)


# ------------------------------------------------------------------------------------------ spec seams

def _networks(spec: GANSpec, change: Callable) -> GANSpec:
    """Apply ``change(layer) -> layer`` to every layer of both networks."""
    arch = spec.architecture
    networks = {name: dataclasses.replace(net, layers=tuple(change(layer) for layer in net.layers))
                for name, net in (("generator", arch.generator), ("discriminator", arch.discriminator))}
    return dataclasses.replace(spec, architecture=dataclasses.replace(arch, **networks))


def _bn_momentum_keras_convention(spec: GANSpec) -> GANSpec:
    def change(layer):
        if not layer.batch_norm:
            return layer
        return dataclasses.replace(layer, batch_norm=dataclasses.replace(layer.batch_norm,
                                                                         momentum=1 - layer.batch_norm.momentum))
    return _networks(spec, change)


def _optimizer(network: str, **values) -> Callable[[GANSpec], GANSpec]:
    key = f"{network[0]}_optimizer"

    def change(spec: GANSpec) -> GANSpec:
        optimizer: Optimizer = dataclasses.replace(getattr(spec.objective, key), **values)
        return dataclasses.replace(spec, objective=dataclasses.replace(spec.objective, **{key: optimizer}))
    return change


# ------------------------------------------------------------------------------------------ code seams

def _keras_batch_normalization(momentum_from_spec: bool) -> list:
    """Keras' own layer: biased running variance; momentum 0.99 (its default) unless taken from the spec."""
    import keras
    models = implementation(KERAS, "models")

    def layer(bn):
        momentum = {"momentum": 1 - bn.momentum} if momentum_from_spec else {}
        return keras.layers.BatchNormalization(epsilon=bn.eps, **momentum)
    return [(models, "batch_norm_layer", layer)]


def _keras_leaky_relu() -> list:
    import keras
    models = implementation(KERAS, "models")
    return [(models.ACTIVATIONS, "leaky_relu", lambda layer: keras.layers.LeakyReLU())]


def _keras_normal_std() -> list:
    """Every normal initialiser (kernels, batch-norm scale) at std 0.05, Keras' ``RandomNormal`` default, in the
    Keras trainer's draw of the shared initial weights."""
    from benchmark import initial_weights
    trainer = implementation(KERAS, "trainer")

    def std_005(init):
        return dataclasses.replace(init, std=0.05) if init.kind == "normal" else init

    def change(layer):
        if not layer.batch_norm:
            return layer
        return dataclasses.replace(layer, batch_norm=dataclasses.replace(
            layer.batch_norm, gamma_init=std_005(layer.batch_norm.gamma_init)))

    def draw(spec, seed):
        arch = _networks(spec, change).architecture
        networks = {name: dataclasses.replace(net, kernel_init=std_005(net.kernel_init))
                    for name, net in (("generator", arch.generator), ("discriminator", arch.discriminator))}
        return initial_weights.draw(dataclasses.replace(spec, architecture=dataclasses.replace(arch, **networks)), seed)
    return [(trainer, "draw_initial_weights", draw)]


def _one_sided_padding() -> list:
    """All of a strided layer's padding at the bottom and right (TensorFlow's ``"same"`` when the total is odd)."""
    import keras
    models = implementation(KERAS, "models")

    def convolution(layer, **kwargs):
        pad = [keras.layers.ZeroPadding2D(((0, 2 * layer.padding), (0, 2 * layer.padding)))] if layer.padding else []
        return pad + [keras.layers.Conv2D(layer.units, layer.kernel, strides=layer.stride, padding="valid", **kwargs)]

    def transposed_convolution(layer, **kwargs):
        p, q = layer.padding, layer.output_padding
        return [keras.layers.Conv2DTranspose(layer.units, layer.kernel, strides=layer.stride, padding="valid", **kwargs),
                keras.layers.Cropping2D(((0, 2 * p - q), (0, 2 * p - q)))]
    return [(models, "convolution", convolution), (models, "transposed_convolution", transposed_convolution)]


def _one_weight_per_batch() -> list:
    """The gradient penalty's interpolation weight drawn once per batch instead of once per sample."""
    from keras import ops
    trainer = implementation(KERAS, "trainer")
    penalty = trainer.gradient_penalty
    return [(trainer, "gradient_penalty",
             lambda critic, real, fake, weight: penalty(critic, real, fake, ops.ones_like(weight) * weight[0]))]


def _inference_in_training_mode() -> list:
    """``KerasGAN.infer``, which ``generate`` compiles, with batch norm in training mode: evaluation samples
    normalised with their own batch's statistics instead of the running ones."""
    trainer = implementation(KERAS, "trainer")

    def infer(gan, g_params, g_state, noise, labels=None):
        return gan.generator.stateless_call(g_params, g_state, trainer.joined(noise, labels), training=True)[0]
    return [(trainer.KerasGAN, "infer", infer)]


def _label_first() -> list:
    """The label vector joined before the noise and the flattened image (PyTorch-GAN's generator order) instead of
    after: the first dense layer reads the transferred rows in another order."""
    import keras
    models = implementation(KERAS, "models")
    return [(models, "join_label", lambda x, vector: keras.layers.Concatenate()([vector, x]))]


def _clip_before_update() -> list:
    trainer = implementation(KERAS, "trainer")
    return [(trainer, "clip_weights", lambda values, clip_value: list(values))]


def _clip_incoming(gan: Any) -> None:
    """With ``_clip_before_update``: the critic is clipped before its optimiser step instead of after."""
    clip_weights = implementation(KERAS, "losses").clip_weights
    apply, clip_value = gan.d_optimizer.stateless_apply, gan.spec.objective.clip_value
    gan.d_optimizer.stateless_apply = lambda state, grads, params: apply(state, grads, clip_weights(params, clip_value))


def _keras_update_rule(network: str, optimizer: str) -> Callable[[Any], None]:
    """Replace one network's optimiser by one with Keras' epsilon placement (Adam: added to sqrt(v) before
    v's bias correction; RMSprop: inside the square root), every hyper-parameter unchanged."""
    def swap(gan: Any) -> None:
        from keras import ops
        optimizers = implementation(KERAS, "optimizers")

        class KerasAdam(optimizers.Adam):
            def update(self, param, grad, slots, step):
                m = slots["momentum"] + (1 - self.beta_1) * (grad - slots["momentum"])
                v = slots["velocity"] * self.beta_2 + (1 - self.beta_2) * grad * grad
                lr = self.lr * ops.sqrt(1 - ops.power(ops.convert_to_tensor(self.beta_2, param.dtype), step)) \
                    / (1 - ops.power(ops.convert_to_tensor(self.beta_1, param.dtype), step))
                return param - lr * m / (ops.sqrt(v) + self.epsilon), {"momentum": m, "velocity": v}

        class KerasRMSprop(optimizers.RMSprop):
            def update(self, param, grad, slots, step):
                square = slots["square_average"] * self.rho + (1 - self.rho) * grad * grad
                return param - self.lr * grad / ops.sqrt(square + self.epsilon), {"square_average": square}

        spec = getattr(gan.spec.objective, f"{network[0]}_optimizer")
        if optimizer == "adam":
            replacement = KerasAdam(spec.lr, spec.beta1, spec.beta2, spec.eps)
        else:
            replacement = KerasRMSprop(spec.lr, spec.rho, spec.eps)
        replacement.build(getattr(gan, network).trainable_variables)
        setattr(gan, f"{network[0]}_optimizer", replacement)
    return swap


def _fit_generator_first() -> list[tuple[Any, str, Any]]:
    """``fit``'s TensorFlow ``train_step`` with the generator updated before the critic's ``n_critic`` updates."""
    fit_model = implementation(KERAS, "fit_model")

    def train_step(self, data):
        g_loss = self.train_generator(data["g_noise"][0])
        for k in range(self.n_critic):
            d_loss, penalty = self.train_critic(data["real"][k], data["d_noise"][k], data["gp_weight"][k])
        return self.track({"d_loss": d_loss, "g_loss": g_loss, "gp": penalty})
    return [(fit_model.TensorFlowFitGAN, "train_step", train_step)]


# ------------------------------------------------------------------------------------------ the list

register_mutation(Mutation("bn_momentum_keras_convention", "dcgan",
                           "batch-norm momentum 0.9 (Keras' convention) read as PyTorch's 0.1",
                           spec=_bn_momentum_keras_convention))
register_mutation(Mutation("bn_biased_running_variance", "dcgan",
                           "Keras' BatchNormalization with the spec's momentum: biased running variance",
                           patches=lambda: _keras_batch_normalization(momentum_from_spec=True)))
register_mutation(Mutation("bn_keras_defaults", "dcgan", "Keras' BatchNormalization with its default momentum 0.99",
                           patches=lambda: _keras_batch_normalization(momentum_from_spec=False)))
for _network in ("generator", "discriminator"):
    register_mutation(Mutation(f"adam_beta1_{_network}", "dcgan", "Adam beta1 0.9 (Keras' default) instead of 0.5",
                               spec=_optimizer(_network, beta1=0.9), network=_network))
    register_mutation(Mutation(f"adam_beta2_{_network}", "wgan-gp", "Adam beta2 0.999 (the default) instead of 0.9",
                               spec=_optimizer(_network, beta2=0.999), network=_network))
    register_mutation(Mutation(f"adam_epsilon_value_{_network}", "dcgan", "Adam epsilon 1e-7 (Keras' default)",
                               spec=_optimizer(_network, eps=1e-7), network=_network))
    register_mutation(Mutation(f"adam_epsilon_placement_{_network}", "vanilla",
                               "Adam with Keras' epsilon placement (before the bias correction of v)",
                               after_build=_keras_update_rule(_network, "adam"), network=_network))
    register_mutation(Mutation(f"rmsprop_rho_{_network}", "wgan", "RMSprop rho 0.9 (Keras' default) instead of 0.99",
                               spec=_optimizer(_network, rho=0.9), network=_network))
    register_mutation(Mutation(f"rmsprop_epsilon_placement_{_network}", "wgan",
                               "RMSprop with Keras' epsilon placement (inside the square root)",
                               after_build=_keras_update_rule(_network, "rmsprop"), network=_network))
    register_mutation(Mutation(f"lr_schedule_ignored_{_network}", "toy",
                               "a constant learning rate: the spec's step decay left out (Keras optimisers take a "
                               "schedule only when given one)", spec=_optimizer(_network, schedule=None),
                               network=_network))
register_mutation(Mutation("clip_before_update", "wgan", "critic weights clipped before the RMSprop step, not after",
                           patches=_clip_before_update, after_build=_clip_incoming))
register_mutation(Mutation("gp_weight_per_batch", "wgan-gp", "one interpolation weight per batch, not per sample",
                           patches=_one_weight_per_batch))
register_mutation(Mutation("generate_bn_training_mode", "dcgan",
                           "generate runs batch norm in training mode (batch statistics, not the running ones)",
                           patches=_inference_in_training_mode, network="generator"))
register_mutation(Mutation("leaky_relu_keras_slope", "dcgan", "LeakyReLU at Keras' default slope 0.3",
                           patches=_keras_leaky_relu))
register_mutation(Mutation("one_sided_padding", "dcgan",
                           "strided layers padded / cropped on the bottom and right only", patches=_one_sided_padding))
register_mutation(Mutation("initializer_keras_std", "dcgan", "N(0, 0.05) (Keras' RandomNormal default std)",
                           patches=_keras_normal_std))
register_mutation(Mutation("label_before_input", "cgan",
                           "the label vector joined before the noise / flattened image instead of after",
                           patches=_label_first))
register_mutation(Mutation("fit_generator_first", "vanilla",
                           "Model.fit's train_step updating the generator before the critic (TensorFlow)",
                           patches=_fit_generator_first, mode="fit"))
