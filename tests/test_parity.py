"""PyTorch vs Keras parity in float64, for every model on both Keras backends, and proof that it has teeth.

The full presets are compared in structure (every layer's parameter count, each side's own initial weights bitwise,
their distribution against the spec); everything computed (outputs, losses, gradients, optimiser steps, three
iterations, ``generate``) is compared on the presets with hidden widths / ``NARROW``: the same layers, kernels,
losses, optimisers and code paths at a fortieth of the float64 arithmetic (at full width the probes took 490 CPU
seconds, 2-core AMD EPYC, 2026-11-30), and WGAN's five critic updates per iteration cut to ``CRITIC_UPDATES``.

PyTorch runs in this process; Keras runs in worker processes (``benchmark.parity``), which receive PyTorch's
weights in Keras' layout, so the two frameworks never share a process. Every comparison is made in float64,
where the frameworks differ only by summation order, so nothing here depends on the CPU or the thread count
(PARITY-NOTES §7); float32 drift is measured by ``benchmark.parity lockstep``, not asserted.
"""
import dataclasses
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
from benchmark.parity import BACKENDS, FIT_BACKENDS, checks, mutations, probes, torch_side, worker  # noqa: E402
from benchmark.parity.lockstep import lockstep  # noqa: E402
from benchmark.spec import (CONDITIONAL_MODEL_NAMES, MODEL_NAMES, GANSpec, StepDecay, get_spec,  # noqa: E402
                            network_body, parameter_count)
from benchmark.toy_training import ToyStream, target_of  # noqa: E402

BATCH = 8
SEED = 0
AVAILABLE = tuple(b for b in BACKENDS if importlib.util.find_spec(b))
BACKEND_PARAMS = [pytest.param(b, marks=pytest.mark.skipif(b not in AVAILABLE, reason=f"{b} not installed"))
                  for b in BACKENDS]
# Every mutation runs uncompiled (eagerly) in one worker: on TensorFlow they took 43 s of CPU, on JAX 188 s (2-core
# AMD EPYC, 2026-12-01: eager JAX compiles each operation for each new shape). BOTH_BACKENDS also run in the other
# backend's compiled worker.
MUTATION_BACKEND = "tensorflow" if "tensorflow" in AVAILABLE else "jax"
OTHER_BACKEND = next((b for b in AVAILABLE if b != MUTATION_BACKEND), None)
BOTH_BACKENDS = ("generate_bn_training_mode",)
GROUPS = ("layer_parameters", "initial", "outputs", "losses", "gradients", "optimizer", "iteration", "outputs_after",
          "generate")


# The toy (a 1-D data set, its learning rate halved every 2,000 updates) with the halving every 2 updates, so that the
# schedule acts within the probe's 3 iterations and 4 optimiser steps.
TOY_SCHEDULE = StepDecay(every=2, factor=0.5)
PARITY_MODELS = (*MODEL_NAMES, *CONDITIONAL_MODEL_NAMES, "toy")


def spec_of(name):
    spec = probes.probe_spec(get_spec(name), BATCH)
    if name != "toy":
        return spec
    objective = spec.objective
    scheduled = {key: dataclasses.replace(getattr(objective, key), schedule=TOY_SCHEDULE)
                 for key in ("d_optimizer", "g_optimizer")}
    return dataclasses.replace(spec, objective=dataclasses.replace(objective, **scheduled))


def training_steps(spec):
    if spec.name == "toy":
        stream = ToyStream(target_of(spec), spec, SEED)
        return [stream.step(i) for i in range(probes.ITERATIONS)]
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (200, *spec.architecture.sample_shape), dtype=np.uint8)
    labels = rng.integers(0, 10, 200)
    classes = spec.conditioning.num_classes if spec.conditional else None
    stream = TrainingStream(images, BATCH, spec.training.noise_dim, SEED, spec.objective.n_critic,
                            labels=labels if classes else None, num_classes=classes)
    return [stream.step(i) for i in range(probes.ITERATIONS)]


MUTATED_MODELS = sorted({m.model for m in mutations.MUTATIONS.values()})
# Every computed check, the mutations and ``Model.fit``'s iterations run on the presets with hidden widths / 8: the
# same code paths, far less arithmetic.
NARROW = 8
CRITIC_UPDATES = 2
# Model.fit also runs the conditional models on the compiled workers, with a conditional critic under a gradient
# penalty (its interpolates take the real labels), which no preset has.
CONDITIONAL_GP = "mlp+wasserstein_gp+embedding"
CONDITIONAL_FIT_MODELS = (*CONDITIONAL_MODEL_NAMES, CONDITIONAL_GP)
NARROW_MODELS = (*PARITY_MODELS, CONDITIONAL_GP)
UNMUTATED_MODELS = sorted({*MUTATED_MODELS, *MODEL_NAMES, CONDITIONAL_GP})  # the mutation worker's baselines
STRUCTURE_GROUPS = ("layer_parameters", "initial")  # checked on the full presets
# Colour images (CIFAR-10's 32x32x3) on narrow models, run with the unmutated ones: both channel layouts, Keras'
# channels-first reshape and flatten of three channels, the DCGAN layout's 8x8 grid.
COLOUR_MODELS = {f"{name}@cifar10": name for name in ("vanilla", "dcgan")}


def narrow_spec(name: str) -> GANSpec:
    """``spec_of(name)`` with hidden widths / ``NARROW`` and at most ``CRITIC_UPDATES`` critic updates per iteration:
    WGAN's five compile as five unrolled copies of the update, and two run the same code (each update's own inputs,
    clipping after each, the state carried from one to the next) at two fifths of the compilation."""
    spec = probes.narrow(spec_of(name), NARROW)
    objective = dataclasses.replace(spec.objective, n_critic=min(spec.objective.n_critic, CRITIC_UPDATES))
    return dataclasses.replace(spec, objective=objective)


def colour_spec(key):
    return probes.narrow(probes.probe_spec(get_spec(COLOUR_MODELS[key], "cifar10"), BATCH), NARROW)


def make_tasks(specs: dict, structure: bool = False) -> dict:
    """Per model: the task sent to Keras and the PyTorch GAN it was made from (``structure``: layers and initial
    weights only, nothing trained)."""
    return {name: torch_side.make_task(spec, SEED, [] if structure else training_steps(spec), structure)
            for name, spec in specs.items()}


def probe_all(made: dict) -> dict:
    """Per model: the task and PyTorch's own probe of it; each GAN is dropped once probed (a trained float64 dcgan,
    with gradients and Adam's two slots, holds 420 MB)."""
    probed = {}
    while made:
        name, (task, gan) = made.popitem()
        probed[name] = task, torch_side.probe(gan, task)
    return probed


def keras_requests(structure_tasks: dict, narrow_tasks: dict) -> dict:
    """One compiled worker per backend for every full preset's structure, every narrow model in the stateless step
    and in ``Model.fit`` (the conditional ones and ``CONDITIONAL_GP`` too; the one not ``MUTATION_BACKEND`` also
    running ``BOTH_BACKENDS``), one per ``FIT_BACKENDS`` backend (torch) for the narrow presets in ``Model.fit``, and
    one uncompiled worker running every mutation and the narrow models unmutated."""
    structure = {f"structure/{name}": {"task": {key: value for key, value in task.items() if key != "weights"}}
                 for name, task in structure_tasks.items()}  # Keras draws its own: 590 MB of PyTorch's left unsent
    requests = {backend: {"probes": {**structure, **{name: {"task": narrow_tasks[name]} for name in PARITY_MODELS},
                                     **{f"fit/{name}": {"task": narrow_tasks[name], "mode": "fit"}
                                        for name in (*MODEL_NAMES, *CONDITIONAL_FIT_MODELS)}}}
                for backend in AVAILABLE}
    if OTHER_BACKEND:
        requests[OTHER_BACKEND]["probes"].update({
            f"mutation/{name}": {"task": narrow_tasks[mutations.MUTATIONS[name].model], "mutation": name}
            for name in BOTH_BACKENDS})
    requests.update({backend: {"probes": {f"fit/{name}": {"task": narrow_tasks[name], "mode": "fit"}
                                          for name in MODEL_NAMES}} for backend in FIT_BACKENDS})
    requests["mutations"] = {"compiled": False, "probes": {
        **{name: {"task": narrow_tasks[m.model], "mutation": name, "mode": m.mode}
           for name, m in mutations.MUTATIONS.items()},
        **{f"unmutated/{name}": {"task": narrow_tasks[name]} for name in (*UNMUTATED_MODELS, *COLOUR_MODELS)}}}
    return requests


@pytest.fixture(scope="module")
def parity():
    """The Keras workers, started as soon as PyTorch's tasks exist, and PyTorch's own probes, computed while they
    run: ``{"structure": {model: (task, probe)} of the full presets, "narrow": the same for the narrow models,
    "keras": {worker: response}}``."""
    made = make_tasks({name: spec_of(name) for name in PARITY_MODELS}, structure=True)
    narrow_made = make_tasks({**{name: narrow_spec(name) for name in NARROW_MODELS},
                              **{key: colour_spec(key) for key in COLOUR_MODELS}})
    requests = keras_requests({n: task for n, (task, _) in made.items()},
                              {n: task for n, (task, _) in narrow_made.items()})
    with tempfile.TemporaryDirectory() as folder:
        started = {key: worker.start(MUTATION_BACKEND if key == "mutations" else key, request, Path(folder) / key)
                   for key, request in requests.items()}
        try:
            torch_probes = {"structure": probe_all(made), "narrow": probe_all(narrow_made)}
        except BaseException:
            for process in started.values():
                process.kill()
                process.wait()
            raise
        keras = {key: worker.finish(process, Path(folder) / key) for key, process in started.items()}
    return {**torch_probes, "keras": keras}


@pytest.fixture(scope="module")
def structure_probes(parity):
    """Per full preset: the structure task sent to Keras and PyTorch's own probe of it."""
    return parity["structure"]


@pytest.fixture(scope="module")
def narrow_probes(parity):
    return parity["narrow"]


@pytest.fixture(scope="module")
def keras_side(parity):
    return parity["keras"]


def keras_probe(keras_side, backend, name):
    if backend not in keras_side:
        pytest.skip(f"Keras backend {backend} not available")
    return keras_side[backend]["probes"][name]


def group_of(check) -> str:
    """The group of ``GROUPS`` a check's name starts with (``"iteration 2/generator"`` -> ``"iteration"``)."""
    return check.name.split("/")[0].split(" ")[0]


@pytest.mark.parametrize("backend", BACKEND_PARAMS)
@pytest.mark.parametrize("name", PARITY_MODELS)
@pytest.mark.parametrize("group", GROUPS)
def test_float64_parity(group, name, backend, structure_probes, narrow_probes, keras_side):
    """The full presets have the same layers and bitwise identical own initial weights (paired runs); on the narrow
    models, transferred weights give the same outputs, losses and gradients (before any optimiser); the optimisers
    agree on identical gradients over several steps; three full iterations agree (weights, batch-norm statistics,
    losses), and so do the inference-mode outputs after them and the trainers' own ``generate`` (the evaluation
    samples' path)."""
    if group in STRUCTURE_GROUPS:
        found = checks.compare_structure(keras_probe(keras_side, backend, f"structure/{name}"),
                                         structure_probes[name][1])
    else:
        found = checks.compare(keras_probe(keras_side, backend, name), narrow_probes[name][1])
    in_group = [check for check in found if group_of(check) == group]
    assert in_group, f"no check named {group}"
    assert checks.failures(in_group) == []


FIT_GROUPS = ("iteration", "outputs_after", "generate")  # what fit changes: the iterations and the weights after them
STATELESS_LIMIT = 1e-9  # fit against the stateless step, both Keras in float64: every check, and the optimisers' state


def stateless_probes(keras_side, backend, name) -> list:
    """The stateless step's probes of ``name``: compiled in ``backend``'s worker, uncompiled in the mutation
    worker's, where they ran."""
    held = (keras_side.get(backend, {"probes": {}})["probes"].get(name),
            keras_side["mutations"]["probes"].get(f"unmutated/{name}"))
    return [probe for probe in held if probe is not None]


def fit_checks(fit: dict, reference: dict) -> list:
    return [check for check in checks.compare(fit, reference) if group_of(check) in FIT_GROUPS]


def assert_fit_iterates_as_pytorch_and_the_stateless_step(fit: dict, torch_probe: dict, stateless: list) -> None:
    assert stateless and fit["float_dtypes"] == ["float64"]
    found = fit_checks(fit, torch_probe)
    assert len(found) > probes.ITERATIONS and checks.failures(found) == []
    for reference in stateless:
        assert max(check.value for check in fit_checks(fit, reference)) < STATELESS_LIMIT
        assert max(probes.relative_difference(fit["optimizer_state"][n], reference["optimizer_state"][n])
                   for n in probes.NETWORKS) < STATELESS_LIMIT


@pytest.mark.parametrize("backend", [*BACKEND_PARAMS, *FIT_BACKENDS])
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_keras_fit_iterates_as_pytorch_and_the_stateless_step(name, backend, narrow_probes, keras_side):
    """The iterations ``Model.fit`` runs (``keras-fit``: its own ``train_step``, fed through a ``PyDataset``, the
    weights read in a callback after each step; on torch with ``backward()``), then the inference outputs and
    ``generate`` after them, agree with PyTorch's within the parity limits and with the stateless Keras step's,
    the optimisers' state too, within ``STATELESS_LIMIT``, on the narrow model, every variable in float64."""
    assert_fit_iterates_as_pytorch_and_the_stateless_step(keras_probe(keras_side, backend, f"fit/{name}"),
                                                          narrow_probes[name][1],
                                                          stateless_probes(keras_side, backend, name))


@pytest.mark.parametrize("backend", BACKEND_PARAMS)
@pytest.mark.parametrize("name", CONDITIONAL_FIT_MODELS)
def test_keras_fit_trains_conditional_models_as_pytorch_and_the_stateless_step(name, backend, narrow_probes,
                                                                               keras_side):
    """As above for the conditional models (their labels fed through the ``PyDataset``, ``generate`` by label) on
    the compiled workers' backends."""
    assert_fit_iterates_as_pytorch_and_the_stateless_step(keras_probe(keras_side, backend, f"fit/{name}"),
                                                          narrow_probes[name][1],
                                                          stateless_probes(keras_side, backend, name))


@pytest.mark.parametrize("backend", BACKEND_PARAMS)
@pytest.mark.parametrize("name", PARITY_MODELS)
def test_parameter_counts_match_the_spec(name, backend, keras_side):
    counts, spec = keras_probe(keras_side, backend, f"structure/{name}")["layer_parameters"], get_spec(name)
    conditioning = spec.conditioning
    table = conditioning.num_classes * conditioning.embedding_dim if spec.conditional else 0
    for network in probes.NETWORKS:
        assert sum(counts[network]) == parameter_count(*reversed(network_body(spec, network))) + table


@pytest.mark.parametrize("framework", ["pytorch", *BACKEND_PARAMS])
@pytest.mark.parametrize("name", PARITY_MODELS)
def test_initial_weights_follow_the_spec_distribution(name, framework, structure_probes, keras_side):
    probe = (structure_probes[name][1] if framework == "pytorch"
             else keras_probe(keras_side, framework, f"structure/{name}"))
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
    if mutations.MUTATIONS[mutation].mode == "fit" and MUTATION_BACKEND != "tensorflow":
        pytest.skip("the fit mutation patches the TensorFlow train_step")
    model = mutations.MUTATIONS[mutation].model
    keras = keras_side["mutations"]["probes"][mutation]
    assert checks.all_failures(keras, narrow_probes[model][1], narrow_spec(model)) != []


def mutation_probe(keras_side, backend, mutation):
    """A mutation's Keras probe on ``backend``: from the mutation worker, or from the other backend's worker for
    ``BOTH_BACKENDS``."""
    if backend == MUTATION_BACKEND:
        return keras_side["mutations"]["probes"][mutation]
    return keras_probe(keras_side, backend, f"mutation/{mutation}")


@pytest.mark.parametrize("backend", BACKEND_PARAMS)
def test_batch_statistics_in_generate_fail_the_generate_check_alone(backend, narrow_probes, keras_side):
    """Keras' ``generate`` with batch norm in training mode changes no weight and none of the probe's own model
    outputs, only the evaluation samples: the generate check alone catches it, by orders of magnitude, on both
    backends (uncompiled in the mutation worker, compiled in the other's); every other check of that probe passes."""
    keras = mutation_probe(keras_side, backend, "generate_bn_training_mode")
    failed = [check for check in checks.compare(keras, narrow_probes["dcgan"][1]) if not check.passed]
    assert [check.name for check in failed] == ["generate"]
    assert failed[0].value > 1e4 * failed[0].limit


@pytest.mark.parametrize("key", COLOUR_MODELS)
def test_float64_parity_on_colour_images(key, narrow_probes, keras_side):
    """A 32x32x3 spec meets every check (weights, outputs, losses, gradients, optimisers, iterations, generate)."""
    task, probe = narrow_probes[key]
    assert tuple(task["spec"].architecture.image_shape) == (3, 32, 32) and task["images"].shape == (BATCH, 32, 32, 3)
    assert probe["generated"].shape == (BATCH, 32, 32, 3)
    assert checks.all_failures(keras_side["mutations"]["probes"][f"unmutated/{key}"], probe, colour_spec(key)) == []


@pytest.mark.parametrize("name", UNMUTATED_MODELS)
def test_the_mutation_worker_passes_unmutated(name, narrow_probes, keras_side):
    """The mutations run uncompiled on narrow models; without one, the same path meets every check, so a caught
    mutation is the mutation's doing."""
    keras = keras_side["mutations"]["probes"][f"unmutated/{name}"]
    assert checks.all_failures(keras, narrow_probes[name][1], narrow_spec(name)) == []


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


def test_the_torch_backend_never_imports_tensorflow(keras_side):
    """Keras on torch imports torch: TensorFlow there could crash it (PARITY-NOTES §1)."""
    assert keras_side["torch"]["tensorflow_imported"] is False


def test_lockstep_run_records_the_float32_drift_per_step(tmp_path, mnist):
    out = tmp_path / "lockstep.json"
    result = lockstep("vanilla", steps=3, batch_size=BATCH, backends=(MUTATION_BACKEND,), out=out)
    assert runs.read_json(out)["steps"] == 3 and result["dtype"] == "float32"
    per_step = result["backends"][MUTATION_BACKEND]["per_step"]
    assert [row["step"] for row in per_step] == [1, 2, 3]
    assert all(math.isfinite(value) for row in per_step for value in row.values())
    # the first losses are computed before any update, from identical weights: float32 rounding alone
    assert per_step[0]["d_loss_abs_diff"] == pytest.approx(0.0, abs=1e-5)
