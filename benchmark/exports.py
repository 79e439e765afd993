"""A finished run's generator, exported: in the framework's own format(s), and as arrays in one neutral layout.

``export/`` in a run folder holds what the trainer's ``export_generator`` wrote (Keras, on either backend:
``generator.keras``; PyTorch: ``generator_state_dict.pt`` and ``generator.pt2``, a ``torch.export`` program) and
``generator_layers.npz``:
every weighted layer's arrays (batch norm's running statistics included) in Keras' layout, the layout of
``benchmark.initial_weights``, which both implementations build from. That file is how a generator trained by one
framework is loaded into the other (``sample --from-run``): neither framework reads the other's own format, and
both in one process can crash (PARITY-NOTES §1).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from benchmark import runs

FOLDER = "export"
LAYERS = "generator_layers.npz"


def write_layers(folder: Path, arrays: list[list[np.ndarray]], framework: str) -> None:
    """``arrays``: one list per weighted layer of the generator, in Keras' layout."""
    named = {f"layer{i}/{j}": np.asarray(array) for i, layer in enumerate(arrays) for j, array in enumerate(layer)}
    meta = {"framework": framework, "layers": [len(layer) for layer in arrays]}
    runs.write_npz(folder / LAYERS, compressed=False, meta=np.array(json.dumps(meta)), **named)


def read_layers(run_dir: Path) -> tuple[list[list[np.ndarray]], str]:
    """(the generator's arrays per weighted layer, the framework that trained it) of a finished run."""
    path = Path(run_dir) / FOLDER / LAYERS
    if not path.exists():
        raise runs.RunError(f"{path} not found: the run did not finish, or predates generator exports")
    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(str(data["meta"]))
        arrays = [[data[f"layer{i}/{j}"] for j in range(count)] for i, count in enumerate(meta["layers"])]
    return arrays, meta["framework"]
