"""Paired runs: for one seed both frameworks start from the same numpy-drawn weights (``benchmark.initial_weights``).

The draw itself is checked with numpy alone; the frameworks are checked bitwise, PyTorch in this process and
Keras (JAX backend, else TensorFlow) in a subprocess, so the two never share a process (PARITY-NOTES §1).
"""
import dataclasses
import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmark import initial_weights as iw
from benchmark.spec import MODEL_NAMES, get_spec, network_shapes, parameter_count

ROOT = Path(__file__).resolve().parent.parent
KERAS_BACKEND = next((b for b in ("jax", "tensorflow") if importlib.util.find_spec(b)), None)


def in_dtype(spec, dtype):
    return dataclasses.replace(spec, training=dataclasses.replace(spec.training, dtype=dtype))


def flat(layers):
    return [array for arrays in layers for array in arrays]


def trainable(layers):
    """Per layer, the trainable arrays: a batch norm's moving mean and variance (its last two) left out."""
    return [arrays[:2] if len(arrays) == 4 and arrays[0].ndim == 1 else arrays for arrays in layers]


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_every_trainable_parameter_is_drawn_in_the_spec_dtype(name):
    spec = get_spec(name)
    weights = iw.draw(spec, 0)
    for network in iw.NETWORKS:
        count = sum(a.size for arrays in trainable(weights[network]) for a in arrays)
        assert count == parameter_count(getattr(spec.architecture, network), iw.network_input_shape(spec, network))
        assert all(a.dtype == np.float32 and a.flags.c_contiguous for arrays in weights[network] for a in arrays)
    assert all(a.dtype == np.float64 for arrays in iw.draw(in_dtype(spec, "float64"), 0)["generator"] for a in arrays)


def test_one_seed_gives_one_draw_and_another_seed_another():
    spec = get_spec("dcgan")
    first, again, other = iw.draw(spec, 0), iw.draw(spec, 0), iw.draw(spec, 1)
    assert iw.fingerprint(first) == iw.fingerprint(again)
    assert iw.fingerprint(first) != iw.fingerprint(other)
    for network in iw.NETWORKS:
        for a, b, c in zip(flat(first[network]), flat(again[network]), flat(other[network])):
            assert np.array_equal(a, b)
            if a.std() > 0:  # random arrays differ; constants (biases, beta, running statistics) do not
                assert not np.array_equal(a, c)


def test_any_layer_is_reproducible_on_its_own():
    spec = get_spec("vanilla")
    kernel = iw.draw(spec, 3)["discriminator"][2][0]  # the third dense layer, 512 -> 256
    rng = np.random.default_rng([3, iw.NETWORKS.index("discriminator"), 2, 0])
    limit = math.sqrt(6 / (512 + 256))
    assert np.array_equal(kernel, rng.uniform(-limit, limit, (512, 256)).astype(np.float32))


def test_float32_weights_are_the_float64_draw_rounded_and_share_its_fingerprint():
    spec = get_spec("wgan-gp")
    single, double = iw.draw(spec, 0), iw.draw(in_dtype(spec, "float64"), 0)
    for network in iw.NETWORKS:
        for a, b in zip(flat(single[network]), flat(double[network])):
            assert np.array_equal(a, b.astype(np.float32))
    assert iw.fingerprint(single) == iw.fingerprint(double)
    assert iw.describe(single) == {"source": "numpy-shared", "sha256": iw.fingerprint(single)}


@pytest.mark.parametrize("name", ["vanilla", "dcgan"])
def test_the_draw_follows_the_spec_initialisers(name):
    spec = get_spec(name)
    for network in iw.NETWORKS:
        net = getattr(spec.architecture, network)
        start = iw.network_input_shape(spec, network)
        layers = iter(iw.draw(in_dtype(spec, "float64"), 0)[network])
        for layer, shape in zip(net.layers, [start] + network_shapes(net, start)):
            if layer.kind not in iw.WEIGHTED_KINDS:
                continue
            kernel, *bias = next(layers)
            assert kernel.shape == iw.kernel_shape(layer, shape) and len(bias) == int(layer.bias)
            if net.kernel_init.kind == "normal":
                assert kernel.std() == pytest.approx(net.kernel_init.std, rel=4 / math.sqrt(2 * kernel.size))
            else:
                limit = math.sqrt(6 / sum(iw.glorot_fans(kernel.shape)))
                assert np.abs(kernel).max() <= limit
                assert kernel.std() == pytest.approx(limit / math.sqrt(3), rel=4 / math.sqrt(2 * kernel.size))
            assert all(np.all(b == net.bias_init.value) for b in bias)
            if layer.batch_norm:
                gamma, beta, mean, variance = next(layers)
                assert gamma.mean() == pytest.approx(1.0, abs=4 * 0.02 / math.sqrt(gamma.size))
                assert np.all(beta == 0) and np.all(mean == 0) and np.all(variance == 1)


def test_glorot_fans_of_a_transposed_convolution_are_read_as_both_frameworks_read_them():
    # Keras kernel [k, k, out, in] for ConvTranspose2d(128 -> 64, k=4): Keras' compute_fans and PyTorch's
    # xavier_uniform_ on [in, out, k, k] both give fan_in = 64 * 16, fan_out = 128 * 16 (measured).
    assert iw.glorot_fans((4, 4, 64, 128)) == (1024, 2048)
    assert iw.glorot_fans((784, 1024)) == (784, 1024)


# ----------------------------------------------------------------------------------------- both frameworks

KERAS_FINGERPRINTS = """
import json, sys
from tensorflow_impl.seeding import select_backend
select_backend(sys.argv[1])
from benchmark import initial_weights
from benchmark.parity import keras_side
from benchmark.spec import get_spec
from tensorflow_impl.trainer import KerasGAN
result = {}
for seed in (0, 1):
    result[seed] = {}
    for name in sys.argv[2:]:
        gan = KerasGAN(get_spec(name), seed, "cpu")
        actual = {n: keras_side.layer_arrays(getattr(gan, n)) for n in initial_weights.NETWORKS}
        result[seed][name] = [initial_weights.fingerprint(actual), gan.describe()["initial_weights"]["sha256"]]
print(json.dumps(result))
"""


@pytest.fixture(scope="module")
def keras_fingerprints():
    """{seed: {model: [fingerprint of Keras' weights as built, the one its config.json records]}}, both seeds from
    one Keras process (the second draw also shows that nothing in the process carries over from the first)."""
    if KERAS_BACKEND is None or importlib.util.find_spec("keras") is None:
        pytest.skip("keras with jax or tensorflow not installed")
    env = {**os.environ, "KERAS_BACKEND": KERAS_BACKEND, "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run([sys.executable, "-c", KERAS_FINGERPRINTS, KERAS_BACKEND, *MODEL_NAMES],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return {int(seed): models for seed, models in json.loads(done.stdout.strip().splitlines()[-1]).items()}


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_pytorch_and_keras_start_from_bitwise_identical_weights(name, seed, keras_fingerprints):
    pytest.importorskip("torch")
    from benchmark.parity import torch_side
    from pytorch_impl.train import TorchGAN

    spec = get_spec(name)
    expected = iw.fingerprint(iw.draw(spec, seed))
    gan = TorchGAN(spec, seed, "cpu")
    torch_actual = iw.fingerprint({n: torch_side.layer_arrays(getattr(gan, n)) for n in iw.NETWORKS})
    assert torch_actual == gan.describe()["initial_weights"]["sha256"] == expected
    assert keras_fingerprints[seed][name] == [expected, expected]


def test_different_seeds_give_different_fingerprints(keras_fingerprints):
    for name in MODEL_NAMES:
        assert keras_fingerprints[0][name][0] != keras_fingerprints[1][name][0]
