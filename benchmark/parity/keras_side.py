"""Keras' side of a parity comparison, run in a worker process that never imports torch.

``python -m benchmark.parity keras-worker --backend B --request R --response S`` reads a pickled request
``{"probes": {key: {"task": task, "mutation": name or None, "mode": "fit" or None}}, "compiled": bool}`` (or
``{"audit": inputs}``)
and writes
``{"probes": {key: probe}, "tensorflow_imported": bool}``.
"""
from __future__ import annotations

import pickle
import sys
from pathlib import Path

import numpy as np

from benchmark.frameworks import KERAS, implementation
from benchmark.parity import mutations, probes
from benchmark.training import run_steps


def _numpy(value) -> np.ndarray:
    from keras import ops
    return np.asarray(ops.convert_to_numpy(value))


def layer_arrays(model) -> list[list[np.ndarray]]:
    parameter_layers = implementation(KERAS, "models").parameter_layers
    return [[_numpy(w.value) for w in layer.weights] for layer in parameter_layers(model)]


def _values(variables) -> list:
    return [v.value for v in variables]


def outputs(gan, noise: np.ndarray, images: np.ndarray, labels: np.ndarray | None = None) -> dict[str, np.ndarray]:
    from keras import ops
    joined = implementation(KERAS, "trainer").joined
    layout = implementation(KERAS, "models")
    result, image_shape = {}, gan.spec.architecture.image_shape
    labels = None if labels is None else ops.convert_to_tensor(np.asarray(labels, np.int32))
    for mode, training in (("train", True), ("eval", False)):
        for key, model, x in (("g", gan.generator, noise),
                              ("d", gan.discriminator, layout.to_model_layout(images, image_shape))):
            out = model.stateless_call(_values(model.trainable_variables), _values(model.non_trainable_variables),
                                       joined(ops.convert_to_tensor(x), labels), training=training)[0]
            result[f"{key}_{mode}"] = layout.from_model_layout(_numpy(out), image_shape) if key == "g" else _numpy(out)
    return result


def _first_update(gan, inputs) -> dict:
    """Losses and gradients of the first critic update and of a generator update, from the current state."""
    backend_ops = implementation(KERAS, "backend_ops")

    joined = implementation(KERAS, "trainer").joined

    real, d_noise, g_noise, gp_weight, *labels = gan._inputs(inputs)
    real_labels, d_labels, g_labels = labels or (None, None, None)  # a conditional model's labels follow
    first_labels = (None, None) if real_labels is None else (real_labels[0], d_labels[0])
    g, d = gan.generator, gan.discriminator
    g_params, g_state = _values(g.trainable_variables), _values(g.non_trainable_variables)
    d_params, d_state = _values(d.trainable_variables), _values(d.non_trainable_variables)
    fake, _ = g.stateless_call(g_params, g_state, joined(d_noise[0], first_labels[1]), training=True)
    (_, (_, d_loss, penalty)), d_grads = backend_ops.value_and_grad(gan.critic_loss)(
        d_params, d_state, real[0], fake, gp_weight[0], *first_labels)
    (g_loss, _), g_grads = backend_ops.value_and_grad(gan.generator_loss)(g_params, g_state, d_params, d_state, g_noise,
                                                                          g_labels)
    losses = {"d_loss": float(_numpy(d_loss)), "g_loss": float(_numpy(g_loss))}
    if penalty is not None:
        losses["gp"] = float(_numpy(penalty))
    return {"losses": losses, "gradients": {"discriminator": probes.sketches([_numpy(x) for x in d_grads]),
                                            "generator": probes.sketches([_numpy(x) for x in g_grads])}}


def _optimizer_trajectory(optimizer, model, seed: int) -> list[list[np.ndarray]]:
    """The optimiser's own pure update (the one training uses) applied to the synthetic gradients."""
    from keras import ops
    params, state, trajectory = _values(model.trainable_variables), _values(optimizer.variables), []
    for step in probes.synthetic_gradients([tuple(p.shape) for p in params], probes.OPTIMIZER_STEPS, seed):
        params, state = optimizer.stateless_apply(state, [ops.convert_to_tensor(x) for x in step], params)
        trajectory.append(probes.sketches([_numpy(p) for p in params]))
    return trajectory


def probe(task: dict, mutation: str | None = None, compiled: bool = True, mode: str | None = None) -> dict:
    """The probe of ``benchmark.parity.probes``, Keras' side (a structure task: only the structure keys, nothing
    compiled or trained), with ``mutation`` applied when given; the training
    iterations run compiled (as in training) or, cheaper to start, eagerly (``keras_worker``'s ``compiled: False``).
    ``mode`` ``fit``: the iterations run in ``Model.fit`` (``KerasFitTrainer``, compiled as fit compiles)."""
    parameter_layers = implementation(KERAS, "models").parameter_layers
    trainer_class = implementation(KERAS, "train").trainer_class(mode)

    with mutations.applied(mutation, task["spec"]) as (spec, after_build):
        gan = trainer_class(spec, task["seed"], "cpu", jit_compile=compiled)
        after_build(gan)
        models = {"generator": gan.generator, "discriminator": gan.discriminator}
        result = {"layer_parameters": {n: [sum(int(np.prod(w.shape)) for w in layer.trainable_weights)
                                           for layer in parameter_layers(m)] for n, m in models.items()},
                  "initial": {n: probes.weight_statistics(layer_arrays(m)) for n, m in models.items()},
                  "initial_digest": {n: probes.digest(layer_arrays(m)) for n, m in models.items()}}
        if task.get("structure"):
            return result
        for name, model in models.items():
            implementation(KERAS, "models").set_layer_weights(model, task["weights"][name])
        result["outputs"] = outputs(gan, task["noise"], task["images"], task["labels"])
        result["optimizer"] = {n: _optimizer_trajectory(getattr(gan, f"{n[0]}_optimizer"), models[n], task["seed"] + i)
                               for i, n in enumerate(probes.NETWORKS)}
        if task["steps"]:
            result["first"] = _first_update(gan, task["steps"][0])
        result["iterations"] = []

        def record(step: int, losses: dict) -> bool:
            getattr(gan, "sync_variables", lambda: None)()  # fit on JAX: the state lives in arrays between steps
            result["iterations"].append({"losses": {k: float(_numpy(v)) for k, v in losses.items()},
                                         **{n: probes.sketches(probes.flat(layer_arrays(m))) for n, m in models.items()}})
            return True
        run_steps(gan, task["steps"].__getitem__, 0, len(task["steps"]), record)
        result["outputs_after"] = outputs(gan, task["noise"], task["images"], task["labels"])
        result["generated"] = gan.generate(task["noise"], task["labels"], dtype=spec.training.dtype)
        optimizers = {n: getattr(gan, f"{n[0]}_optimizer") for n in probes.NETWORKS}
        result["optimizer_state"] = {n: probes.sketches([_numpy(v.value) for v in optimizer.variables])
                                     for n, optimizer in optimizers.items()}
        result["float_dtypes"] = sorted({str(v.dtype) for group in gan._variables() for v in group
                                         if "float" in str(v.dtype)})
    return result


def _release() -> None:
    """Free the models, optimisers and compiled functions of the last probe before the next one is built (a
    float64 dcgan with its optimiser slots holds about 300 MB); ``clear_session`` collects the garbage itself (a
    second collection cost a TensorFlow worker 8 CPU seconds)."""
    import keras
    keras.backend.clear_session()


def run_eagerly(backend: str) -> None:
    """Uncompiled probes run eagerly on every backend. JAX's uncompiled functions are plain Python already;
    TensorFlow's would be graphs (``tf.function`` without XLA), whose kernels are eager's and whose tracing cost a
    worker of 35 probes 25 of its 68 CPU seconds (2-core AMD EPYC, 2026-12-01)."""
    if backend == "tensorflow":
        import tensorflow as tf
        tf.config.run_functions_eagerly(True)


def keras_worker(backend: str, request_path: str, response_path: str) -> None:
    implementation(KERAS, "seeding").select_backend(backend)
    request = pickle.loads(Path(request_path).read_bytes())
    if not request.get("compiled", True):
        run_eagerly(backend)
    if "audit" in request:
        from benchmark.parity.audit import keras_measurements
        response = keras_measurements(request["audit"])
    else:
        response = {"probes": {}}
        for key, item in request["probes"].items():
            response["probes"][key] = probe(item["task"], item.get("mutation"), request.get("compiled", True),
                                            item.get("mode"))
            _release()
    response["tensorflow_imported"] = "tensorflow" in sys.modules
    Path(response_path).write_bytes(pickle.dumps(response))
