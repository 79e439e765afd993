"""Float32 drift between the frameworks, measured step by step (never asserted: it depends on the CPU).

``python -m benchmark.parity lockstep [--model dcgan --steps 20 --batch-size 16]`` trains PyTorch and Keras
side by side from identical weights on identical batches and noise, in float32 as real runs do, and writes
per step the losses' absolute and the generator weights' relative differences for the report.
"""
from __future__ import annotations

from pathlib import Path

from benchmark import runs
from benchmark.data import TrainingStream
from benchmark.datasets import load_dataset
from benchmark.parity import BACKENDS, probes, torch_side, worker
from benchmark.spec import get_spec

OUT = Path(__file__).resolve().parents[2] / "results" / "parity" / "lockstep.json"


def lockstep(model: str = "dcgan", steps: int = 20, batch_size: int = 16, seed: int = 0,
             backends: tuple[str, ...] = BACKENDS, out: Path | None = OUT) -> dict:
    """Per-step drift of Keras on each backend from PyTorch, in float32; written to ``out`` as JSON."""
    spec = probes.probe_spec(get_spec(model), batch_size, dtype="float32")
    images, labels = load_dataset("train", dataset=spec.architecture.dataset)
    classes = spec.conditioning.num_classes if spec.conditional else None
    stream = TrainingStream(images, batch_size, spec.training.noise_dim, seed, spec.objective.n_critic,
                            spec.training.noise, labels=labels if classes else None, num_classes=classes)
    task, gan = torch_side.make_task(spec, seed, [stream.step(i) for i in range(steps)])
    reference = torch_side.probe(gan, task)["iterations"]
    result = {"model": model, "steps": steps, "batch_size": batch_size, "seed": seed, "dtype": "float32",
              "note": "identical initial weights (PyTorch's, transferred) and identical batches and noise; "
                      "differences come from floating-point order only. generator_rel_diff: ||K - T|| / ||T|| over "
                      "all generator weights and BN statistics (estimated from their sketches, to a few per cent); "
                      "generator_max_tensor_rel_diff: the worst tensor",
              "torch_losses": [step["losses"] for step in reference], "backends": {}}
    for backend in backends:
        iterations = worker.run(backend, {"probes": {model: {"task": task}}})["probes"][model]["iterations"]
        per_step = []
        for index, (theirs, ours) in enumerate(zip(iterations, reference), start=1):
            keras_weights, torch_weights = theirs["generator"], ours["generator"]
            per_step.append({"step": index,
                             **{f"{k}_abs_diff": abs(theirs["losses"][k] - ours["losses"][k]) for k in ours["losses"]},
                             "generator_rel_diff": probes.global_relative_difference(keras_weights, torch_weights),
                             "generator_max_tensor_rel_diff": probes.relative_difference(keras_weights, torch_weights)})
        result["backends"][backend] = {"keras_losses": [step["losses"] for step in iterations], "per_step": per_step}
    if out:
        runs.write_json(out, result)
    return result
