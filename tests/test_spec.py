import dataclasses
import json

import pytest

from benchmark import spec as S


@pytest.mark.parametrize("name", S.MODEL_NAMES)
def test_json_round_trip_is_exact(name):
    spec = S.get_spec(name)
    assert S.GANSpec.from_json(spec.to_json()) == spec
    assert S.GANSpec.from_json(spec.to_json()).to_json() == spec.to_json()


def test_every_architecture_combines_with_every_objective():
    for architecture in S.ARCHITECTURES:
        for objective in S.OBJECTIVES:
            spec = S.get_spec(f"{architecture}+{objective}")
            assert spec.objective == S.OBJECTIVES[objective]
            S.check_shapes(spec)


def test_unknown_model_lists_the_valid_names():
    with pytest.raises(S.SpecError, match="unknown model 'gan9'; valid: vanilla, dcgan, lsgan, wgan, wgan-gp"):
        S.get_spec("gan9")
    with pytest.raises(S.SpecError, match="unknown objective 'hinge'; valid: nonsaturating, least_squares"):
        S.get_spec("dcgan+hinge")


def test_unknown_field_lists_the_valid_fields():
    data = json.loads(S.get_spec("dcgan").to_json())
    data["objective"]["d_optimizer"]["betas"] = [0.5, 0.999]
    with pytest.raises(S.SpecError, match=r"Optimizer: unknown field\(s\) betas; valid: name, lr, eps, beta1"):
        S.GANSpec.from_json(json.dumps(data))


def test_bad_values_are_refused_with_the_choices():
    with pytest.raises(S.SpecError, match="unknown activation 'gelu'; valid: linear, relu, leaky_relu"):
        S.Layer("dense", 8, activation="gelu")
    with pytest.raises(S.SpecError, match="unknown optimiser 'sgd'; valid: adam, rmsprop"):
        S.Optimizer("sgd", lr=0.1, eps=0.0)


def test_framework_defaults_that_differ_are_stated():
    """BN momentum/eps, optimiser epsilon, initialisers and TF32 are explicit values, not defaults."""
    dcgan = S.get_spec("dcgan")
    norms = [layer.batch_norm for layer in dcgan.architecture.generator.layers if layer.batch_norm]
    assert norms and all(bn == S.BatchNorm(momentum=0.1, eps=1e-5) for bn in norms)
    assert all(bn.running_variance == "unbiased" for bn in norms)
    assert dcgan.objective.d_optimizer == S.Optimizer("adam", lr=2e-4, beta1=0.5, beta2=0.999, eps=1e-8)
    assert dcgan.architecture.generator.kernel_init == S.Init("normal", mean=0.0, std=0.02)
    assert dcgan.training.allow_tf32 is False
    wgan = S.get_spec("wgan").objective
    assert (wgan.d_optimizer.name, wgan.d_optimizer.rho, wgan.d_optimizer.eps) == ("rmsprop", 0.99, 1e-8)
    assert (wgan.n_critic, wgan.clip_value) == (5, 0.01)


def test_wgan_gp_critic_has_no_batch_norm_but_the_generator_keeps_it():
    spec = S.get_spec("wgan-gp")
    assert not any(layer.batch_norm for layer in spec.architecture.discriminator.layers)
    assert any(layer.batch_norm for layer in spec.architecture.generator.layers)
    assert spec.objective.gp_weight == 10.0 and spec.objective.n_critic == 5
    assert (spec.objective.d_optimizer.beta1, spec.objective.d_optimizer.beta2) == (0.0, 0.9)


def test_shapes_follow_the_layer_arithmetic():
    dcgan = S.get_spec("dcgan").architecture
    assert S.network_shapes(dcgan.generator, (100,)) == [(1024,), (6272,), (128, 7, 7), (64, 14, 14), (1, 28, 28)]
    assert S.network_shapes(dcgan.discriminator, (1, 28, 28)) == [(64, 14, 14), (128, 7, 7), (6272,), (1024,), (1,)]


def test_parameter_counts_by_hand():
    mlp = S.get_spec("vanilla").architecture
    by_hand = (100 * 256 + 256) + (256 * 512 + 512) + (512 * 1024 + 1024) + (1024 * 784 + 784)
    assert S.parameter_count(mlp.generator, (100,)) == by_hand
    conv = S.Layer("conv", 128, kernel=4, stride=2, padding=1, bias=False, batch_norm=S.BatchNorm())
    assert S.layer_parameter_count(conv, (64, 14, 14)) == 64 * 128 * 16 + 2 * 128


def test_a_shape_mismatch_is_caught_when_composing():
    bad = dataclasses.replace(S.ARCHITECTURES["dcgan"].generator.layers[-1], kernel=3)
    arch = S.ARCHITECTURES["dcgan"]
    layers = arch.generator.layers[:-1] + (bad,)
    spec = S.GANSpec("bad", dataclasses.replace(arch, generator=dataclasses.replace(arch.generator, layers=layers)),
                     S.OBJECTIVES["nonsaturating"])
    with pytest.raises(S.SpecError, match=r"generator gives \(1, 27, 27\)"):
        S.check_shapes(spec)


def test_every_preset_cites_its_sources():
    for name in S.MODEL_NAMES:
        spec = S.get_spec(name)
        assert " et al. 20" in spec.architecture.source and " et al. 20" in spec.objective.source


def test_spec_module_is_framework_free():
    source = open(S.__file__).read()
    assert "import torch" not in source and "import tensorflow" not in source and "import keras" not in source
