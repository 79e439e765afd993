"""One run's configuration: the parsed command line as one object, saved in the run folder, checked on resume.

The train CLIs build it once from their arguments (``RunConfig.from_args``); the training driver writes it to
``RUN_DIR/run_config.json`` and, when it resumes from a checkpoint, refuses one that differs from the stored
configuration in anything but the fields of ``MAY_CHANGE_ON_RESUME`` (one line, exit 2). The model, seed, batch
size and framework are also checked against the checkpoint itself (``training.check_checkpoint_meta``).
"""
from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass
from pathlib import Path

from benchmark import runs
from benchmark.datasets import DEFAULT_DATASET
from benchmark.runs import RunError

# Training longer (``--steps`` / ``--epochs``) continues a run; placement and logging intervals change neither
# its weights nor its samples (a Ray resume may land on another node).
MAY_CHANGE_ON_RESUME = frozenset({"steps", "epochs", "device", "threads", "log_every", "checkpoint_every",
                                  "grid_every", "curve_every"})


@dataclass(frozen=True)
class RunConfig:
    model: str
    seed: int
    steps: int | None = None
    epochs: int | None = None
    batch_size: int | None = None
    device: str = "auto"
    num_samples: int = 10_000
    deterministic: bool = False
    log_every: int = 50
    checkpoint_every: int = 500
    grid_every: int | None = None
    curve_every: int | None = None
    curve_samples: int = 2_000
    mode: str | None = None  # the execution mode the trainer resolved (``None``: its default, not yet resolved)
    threads: int | None = None
    backend: str | None = None  # Keras only
    dataset: str = DEFAULT_DATASET  # ``benchmark.datasets``; a folder from before it trained MNIST

    @classmethod
    def from_args(cls, args: argparse.Namespace, **resolved) -> RunConfig:
        """The fields of ``args`` (``--out`` and ``--data-dir`` are places, not configuration), then ``resolved``."""
        names = {f.name for f in dataclasses.fields(cls)}
        values = {name: getattr(args, name) for name in names if hasattr(args, name)}
        return cls(**{**values, **{k: v for k, v in resolved.items() if v is not None}})

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def read(cls, path: Path) -> RunConfig | None:
        """The stored configuration, or None when the file is missing or unreadable (a folder from before it)."""
        data = runs.read_json(path, None)
        names = {f.name for f in dataclasses.fields(cls)}
        if not isinstance(data, dict) or not names >= set(data) or "model" not in data or "seed" not in data:
            return None
        return cls(**data)

    def differences(self, stored: RunConfig) -> list[str]:
        """``name stored -> now`` for each field that a resume may not change."""
        return [f"{f.name} {getattr(stored, f.name)!r} -> {getattr(self, f.name)!r}"
                for f in dataclasses.fields(self)
                if f.name not in MAY_CHANGE_ON_RESUME and getattr(stored, f.name) != getattr(self, f.name)]

    def check_resume(self, stored: RunConfig | None, run_dir: Path) -> None:
        if stored is None:
            return
        changed = self.differences(stored)
        if changed:
            raise RunError(f"{run_dir} was started with another configuration ({'; '.join(changed)}); resume it "
                           f"with the same flags, or use another --out folder")
