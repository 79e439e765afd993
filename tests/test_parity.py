"""PyTorch vs Keras parity in float64, for every model on both Keras backends, and proof that it has teeth.

PyTorch runs in this process; Keras runs in worker processes (``benchmark.parity``), which receive PyTorch's
weights in Keras' layout, so the two frameworks never share a process. Every comparison is made in float64,
where the frameworks differ only by summation order, so nothing here depends on the CPU or the thread count
(PARITY-NOTES §7); float32 drift is measured by ``benchmark.parity lockstep``, not asserted.
"""
import importlib.util
import math
import tempfile
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
if importlib.util.find_spec("keras") is None:  # not imported here: Keras runs in the worker processes
    pytest.skip("keras not installed", allow_module_level=True)

from benchmark import runs  # noqa: E402
from benchmark.data import TrainingStream  # noqa: E402
from benchmark.parity import BACKENDS, checks, mutations, probes, torch_side, worker  # noqa: E402
from benchmark.parity.lockstep import lockstep  # noqa: E402
from benchmark.spec import MODEL_NAMES, get_spec, parameter_count  # noqa: E402

BATCH = 8
SEED = 0
AVAILABLE = tuple(b for b in BACKENDS if importlib.util.find_spec(b))
BACKEND_PARAMS = [pytest.param(b, marks=pytest.mark.skipif(b not in AVAILABLE, reason=f"{b} not installed"))
                  for b in BACKENDS]
MUTATION_BACKEND = "jax" if "jax" in AVAILABLE else "tensorflow"  # JAX imports faster; both run the same code
GROUPS = ("layer_parameters", "initial", "outputs", "losses", "gradients", "optimizer", "iteration", "outputs_after",
          "generate")


def spec_of(name):
    return probes.probe_spec(get_spec(name), BATCH)


def training_steps(spec):
    images = np.random.default_rng(1).integers(0, 256, (200, 28, 28), dtype=np.uint8)
    stream = TrainingStream(images, BATCH, spec.training.noise_dim, SEED, spec.objective.n_critic)
    return [stream.step(i) for i in range(probes.ITERATIONS)]


MUTATED_MODELS = sorted({m.model for m in mutations.MUTATIONS.values()})
NARROW = 8  # the mutations run on the presets with hidden widths / 8: the same code paths, far less arithmetic


def probe_pair(spec):
    task, gan = torch_side.make_task(spec, SEED, training_steps(spec))
    return task, torch_side.probe(gan, task)


@pytest.fixture(scope="module")
def torch_side_probes():
    """Per model: the task sent to Keras and PyTorch's own probe of it."""
    return {name: probe_pair(spec_of(name)) for name in MODEL_NAMES}


@pytest.fixture(scope="module")
def narrow_probes():
    return {name: probe_pair(probes.narrow(spec_of(name), NARROW)) for name in MUTATED_MODELS}


@pytest.fixture(scope="module")
def keras_side(torch_side_probes, narrow_probes):
    """One compiled worker per backend for every model, and one eager worker running every mutation (and the
    narrow models unmutated), all at once."""
    requests = {backend: {"probes": {name: {"task": task} for name, (task, _) in torch_side_probes.items()}}
                for backend in AVAILABLE}
    requests["mutations"] = {"compiled": False, "probes": {
        **{name: {"task": narrow_probes[m.model][0], "mutation": name} for name, m in mutations.MUTATIONS.items()},
        **{f"unmutated/{name}": {"task": task} for name, (task, _) in narrow_probes.items()}}}
    with tempfile.TemporaryDirectory() as folder:
        started = {key: worker.start(MUTATION_BACKEND if key == "mutations" else key, request, Path(folder) / key)
                   for key, request in requests.items()}
        return {key: worker.finish(process, Path(folder) / key) for key, process in started.items()}


def keras_probe(keras_side, backend, name):
    if backend not in keras_side:
        pytest.skip(f"Keras backend {backend} not available")
    return keras_side[backend]["probes"][name]


@pytest.mark.parametrize("backend", BACKEND_PARAMS)
@pytest.mark.parametrize("name", MODEL_NAMES)
@pytest.mark.parametrize("group", GROUPS)
def test_float64_parity(group, name, backend, torch_side_probes, keras_side):
    """Both sides' own initial weights are bitwise identical (paired runs); transferred weights give the same
    outputs, losses and gradients (before any optimiser); the optimisers agree on identical gradients over several
    steps; three full iterations agree (weights, batch-norm statistics, losses), and so do the inference-mode
    outputs after them and the trainers' own ``generate`` (the evaluation samples' path)."""
    found = checks.compare(keras_probe(keras_side, backend, name), torch_side_probes[name][1])
    in_group = [check for check in found if check.name.split("/")[0].split(" ")[0] == group]
    assert in_group, f"no check named {group}"
    assert checks.failures(in_group) == []


@pytest.mark.parametrize("backend", BACKEND_PARAMS)
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_parameter_counts_match_the_spec(name, backend, keras_side):
    counts, spec = keras_probe(keras_side, backend, name)["layer_parameters"], get_spec(name)
    assert sum(counts["generator"]) == parameter_count(spec.architecture.generator, (spec.training.noise_dim,))
    assert sum(counts["discriminator"]) == parameter_count(spec.architecture.discriminator,
                                                           tuple(spec.architecture.image_shape))


@pytest.mark.parametrize("framework", ["pytorch", *BACKEND_PARAMS])
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_initial_weights_follow_the_spec_distribution(name, framework, torch_side_probes, keras_side):
    probe = torch_side_probes[name][1] if framework == "pytorch" else keras_probe(keras_side, framework, name)
    for network in probes.NETWORKS:
        assert checks.initialisation_problems(probe["initial"][network], network, get_spec(name)) == []


def test_the_initialisation_check_rejects_framework_defaults():
    import torch
    from torch import nn

    torch.manual_seed(0)
    layers = [nn.Linear(100, 1024, bias=False), nn.BatchNorm1d(1024), nn.Linear(1024, 6272, bias=False),
              nn.BatchNorm1d(6272), nn.ConvTranspose2d(128, 64, 4, 2, 1, bias=False), nn.BatchNorm2d(64),
              nn.ConvTranspose2d(64, 1, 4, 2, 1)]  # PyTorch's default initialisers
    statistics = probes.weight_statistics(torch_side.layer_arrays(nn.Sequential(*layers)))
    problems = checks.initialisation_problems(statistics, "generator", get_spec("dcgan"))
    assert any("kernel: std" in p for p in problems) and any("gamma: std" in p for p in problems)
    assert any("bias is not" in p for p in problems)


@pytest.mark.parametrize("mutation", list(mutations.MUTATIONS))
def test_every_known_framework_difference_is_caught(mutation, narrow_probes, keras_side):
    """Each difference, applied to Keras alone, must fail at least one parity check: a survivor is a hole."""
    model = mutations.MUTATIONS[mutation].model
    keras = keras_side["mutations"]["probes"][mutation]
    assert checks.all_failures(keras, narrow_probes[model][1], probes.narrow(get_spec(model), NARROW)) != []


@pytest.mark.parametrize("name", MUTATED_MODELS)
def test_the_mutation_worker_passes_unmutated(name, narrow_probes, keras_side):
    """The mutations run eagerly on narrow models; without one, the same path meets every check, so a caught
    mutation is the mutation's doing."""
    keras = keras_side["mutations"]["probes"][f"unmutated/{name}"]
    assert checks.all_failures(keras, narrow_probes[name][1], probes.narrow(get_spec(name), NARROW)) == []


def test_mutations_are_registered_once_and_named_when_unknown():
    with pytest.raises(ValueError, match="registered twice"):
        mutations.register_mutation(mutations.MUTATIONS["clip_before_update"])
    with pytest.raises(ValueError, match="valid: bn_momentum_keras_convention"):
        with mutations.applied("no_such_mutation", get_spec("dcgan")):
            pass


def test_checks_name_the_difference_and_its_limit():
    found = checks.Check("gradients/generator", 3e-3, 1e-7)
    assert not found.passed and str(found) == "gradients/generator: 0.003 (limit 1e-07)"
    assert checks.Check("outputs/g_train", 0.0, 1e-9).passed
    assert math.isinf(checks._tensors([np.zeros(2)], [np.zeros(3)]))


@pytest.mark.skipif("jax" not in AVAILABLE, reason="jax not installed")
def test_the_jax_backend_never_imports_tensorflow(keras_side):
    assert keras_side["jax"]["tensorflow_imported"] is False


def test_lockstep_run_records_the_float32_drift_per_step(tmp_path, mnist):
    out = tmp_path / "lockstep.json"
    result = lockstep("vanilla", steps=3, batch_size=BATCH, backends=(MUTATION_BACKEND,), out=out)
    assert runs.read_json(out)["steps"] == 3 and result["dtype"] == "float32"
    per_step = result["backends"][MUTATION_BACKEND]["per_step"]
    assert [row["step"] for row in per_step] == [1, 2, 3]
    assert all(math.isfinite(value) for row in per_step for value in row.values())
    # the first losses are computed before any update, from identical weights: float32 rounding alone
    assert per_step[0]["d_loss_abs_diff"] == pytest.approx(0.0, abs=1e-5)
