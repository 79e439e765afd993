"""Conditioning as data and labels through the data path (numpy only; the frameworks' side is in
tests/test_pytorch_conditional.py, tests/test_keras_conditional.py and the parity tests)."""
import dataclasses

import numpy as np
import pytest

from benchmark import data as D
from benchmark import initial_weights
from benchmark.spec import (CONDITIONAL_MODEL_NAMES, MODEL_NAMES, GANSpec, SpecError, from_dict, get_spec,
                            network_body, spec_dict)

CLASSES = 10


def stream(conditional: bool, seed: int = 3, n_critic: int = 2) -> D.TrainingStream:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (50, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, CLASSES, 50).astype(np.uint8) if conditional else None
    return D.TrainingStream(images, batch_size=4, noise_dim=6, seed=seed, n_critic=n_critic, labels=labels,
                            num_classes=CLASSES if conditional else None)


def test_an_unconditional_step_is_the_documented_pure_function_of_seed_and_step():
    """Pins today's inputs: rows of permutation(seed, epoch), noise of (seed, 1, step), interpolation weights of
    (seed, 2, step), recomputed here from the formulas, bitwise; no label is carried."""
    s, seed, step, k, b = stream(False), 3, 7, 2, 4  # step 7 = batches 14, 15 of 12 per epoch: epoch 1
    inputs = s.step(step)
    order = np.random.default_rng([seed, 1]).permutation(50)
    rows = np.stack([order[(i % 12) * b:(i % 12 + 1) * b] for i in (14, 15)])
    noise = np.random.default_rng([seed, 1, step]).standard_normal(((k + 1) * b, 6), dtype=np.float32)
    gp = np.random.default_rng([seed, 2, step]).uniform(0.0, 1.0, size=(k, b)).astype(np.float32)
    assert np.array_equal(inputs.real, s.images[rows].astype(np.float32) / 127.5 - 1.0)
    assert np.array_equal(inputs.d_noise, noise[:k * b].reshape(k, b, 6))
    assert np.array_equal(inputs.g_noise, noise[k * b:])
    assert np.array_equal(inputs.gp_weight, gp)
    assert inputs.real_labels is None and inputs.d_labels is None and inputs.g_labels is None


def test_labels_ride_with_their_batch_and_change_nothing_else():
    plain, conditional = stream(False), stream(True)
    for step in (0, 5, 13):
        a, c = plain.step(step), conditional.step(step)
        for name in ("real", "d_noise", "g_noise", "gp_weight"):
            assert np.array_equal(getattr(a, name), getattr(c, name))
        assert np.array_equal(c.real_labels, conditional.labels[conditional.rows(step)])
        requested = np.random.default_rng([3, 4, step]).integers(0, CLASSES, 12)
        assert np.array_equal(c.d_labels, requested[:8].reshape(2, 4)) and np.array_equal(c.g_labels, requested[8:])
        assert c.real_labels.dtype == c.d_labels.dtype == c.g_labels.dtype == np.int64


def test_generator_labels_are_uniform_over_the_classes():
    counts = np.bincount(np.concatenate([stream(True).generator_labels(step) for step in range(500)]), minlength=10)
    assert counts.sum() == 6000 and abs(counts - 600).max() < 4 * np.sqrt(600)


def test_a_stream_needs_both_labels_and_classes():
    with pytest.raises(D.DataError, match="both the labels and the number of classes"):
        D.TrainingStream(np.zeros((10, 28, 28), np.uint8), 2, 4, 0, labels=np.zeros(10, np.uint8))


class NumpyFeed(D.StagedFeed):
    def put(self, array):
        return np.array(array)

    def take(self, images, rows):
        return images[rows]


@pytest.mark.parametrize("conditional", [False, True])
def test_the_staged_feed_carries_exactly_the_streams_labels(conditional):
    s = stream(conditional)
    feed = NumpyFeed(s, chunk=3)
    for step in (0, 2, 3, 7):
        fed, expected = feed(step), s.step(step)
        for field in dataclasses.fields(D.StepInputs):
            a, b = getattr(fed, field.name), getattr(expected, field.name)
            assert (a is None and b is None) if not conditional and "labels" in field.name else np.array_equal(a, b)


def test_evaluation_labels_are_balanced_and_the_class_grid_repeats_its_noise():
    labels = D.evaluation_labels(10_000, CLASSES)
    assert np.array_equal(np.bincount(labels), np.full(10, 1000)) and list(labels[:12]) == [*range(10), 0, 1]
    noise, grid_labels = D.class_grid_inputs(4, 6, CLASSES)
    assert noise.shape == (40, 6) and list(grid_labels[:8]) == [0, 0, 0, 0, 1, 1, 1, 1]
    assert np.array_equal(noise[:4], D.evaluation_noise(4, 6)) and np.array_equal(noise[36:], noise[:4])


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_an_unconditional_spec_is_recorded_as_before_conditioning_existed(name):
    spec = get_spec(name)
    assert not spec.conditional and "conditioning" not in spec_dict(spec)
    assert from_dict(GANSpec, spec_dict(spec)) == spec


@pytest.mark.parametrize("name", CONDITIONAL_MODEL_NAMES)
def test_a_conditional_spec_round_trips_and_states_its_label_path(name):
    spec = get_spec(name)
    assert spec.conditional and from_dict(GANSpec, spec_dict(spec)) == spec
    assert spec.objective.loss == "nonsaturating" and spec.conditioning.source


def test_where_the_label_enters_each_network():
    cgan, cdcgan = get_spec("cgan"), get_spec("cdcgan")
    assert network_body(cgan, "generator")[0] == (110,) and network_body(cgan, "discriminator")[0] == (794,)
    assert network_body(cgan, "discriminator")[1].layers == cgan.architecture.discriminator.layers[1:]
    assert network_body(cdcgan, "generator")[0] == (110,) and network_body(cdcgan, "discriminator")[0] == (11, 28, 28)
    assert get_spec("mlp+least_squares+one_hot_maps").conditioning.encoding == "one_hot"


@pytest.mark.parametrize("name, message", [
    ("dcgan+nonsaturating+embedding", "must begin with a flatten layer"),
    ("mlp+nonsaturating+film", "unknown conditioning 'film'; valid: embedding, one_hot_maps"),
])
def test_invalid_conditioning_is_refused_with_the_valid_choices(name, message):
    with pytest.raises(SpecError, match=message):
        get_spec(name)


def test_the_label_embedding_is_the_first_initial_weight_entry():
    spec = get_spec("cgan")
    weights = initial_weights.draw(spec, 0)
    for network in initial_weights.NETWORKS:
        table = weights[network][0][0]
        assert table.shape == (10, 10) and abs(table.std() - 1.0) < 0.3
        assert weights[network][1][0].shape[0] == network_body(spec, network)[0][0]
    plain = initial_weights.draw(get_spec("vanilla"), 0)
    assert plain["generator"][0][0].shape == (100, 256)  # an unconditional network has no table
