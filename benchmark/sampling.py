"""Use a trained run: load its checkpoint and write a sample grid, a latent interpolation strip or, for a
conditional model, images of one requested class (``--label 7``) or a class grid (``--labels all``: row c requests
class c, every row the same noise).

Framework-neutral; ``pytorch_impl.sample`` and ``tensorflow_impl.sample`` pass their trainer factory.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from benchmark import arguments, checkpoints, exports, runs
from benchmark.data import DataError, class_grid_inputs, evaluation_noise
from benchmark.run_config import RunConfig
from benchmark.spec import GANSpec, SpecError, from_dict
from benchmark.training import GANTrainer, RunError, TrainerFactory, generate_uint8

INTERPOLATION_COLUMNS = 10


def sample_parser(framework: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m {framework}.sample",
                                     description="Generate images from a trained run's last checkpoint, or from "
                                                 "the generator a finished run of any framework exported.")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--run", help="run folder written by this framework's train")
    source.add_argument("--from-run", help="finished run folder of any framework: its exported generator "
                                           "(export/generator_layers.npz) is loaded into this framework's network")
    parser.add_argument("--images-out", help="also write the generated images, float32 [N, H, W(, C)] in [-1, 1], to "
                                             "this .npz (key images), to compare frameworks")
    parser.add_argument("--n", type=arguments.positive_int, default=64, help="images (grid) or rows (interpolation)")
    parser.add_argument("--out", required=True, help="PNG file to write")
    parser.add_argument("--interpolate", action="store_true",
                        help="rows of spherical interpolations between consecutive evaluation noise vectors")
    conditional = parser.add_mutually_exclusive_group()
    conditional.add_argument("--label", type=arguments.non_negative_int,
                             help="conditional models: --n images of this class")
    conditional.add_argument("--labels", choices=("all",),
                             help="conditional models: a class grid, one row per class, --n columns of the same noise")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    return parser


def load_trained(run_dir: str | Path, make_trainer: TrainerFactory, device: str = "auto") -> tuple[GANTrainer, GANSpec]:
    """The run's generator and discriminator with the weights of its last checkpoint."""
    run_dir = Path(run_dir)
    if not (run_dir / runs.CONFIG).exists():
        raise RunError(f"{run_dir} has no {runs.CONFIG}: not a run folder")
    config = runs.read_json(run_dir / runs.CONFIG)
    spec = from_dict(GANSpec, config["spec"])
    options = RunConfig(model=config["model"], seed=config["seed"], device=device, backend=config.get("backend"))
    trainer = make_trainer(spec, options)
    checkpoint = run_dir / runs.CHECKPOINTS / f"last{trainer.checkpoint_suffix}"
    if not checkpoints.exists(checkpoint):
        raise RunError(f"{checkpoint} not found: was the run trained with this framework?")
    expected = {key: config[key] for key in ("framework", "model", "seed", "spec")}
    checkpoints.load(checkpoint, lambda path: trainer.load_checkpoint(path, expected))
    return trainer, spec


def load_exported(run_dir: str | Path, make_trainer: TrainerFactory, device: str = "auto") \
        -> tuple[GANTrainer, GANSpec]:
    """This framework's generator for the run's spec, set from the generator the run exported (``benchmark.exports``),
    whichever framework trained it."""
    run_dir = Path(run_dir)
    if not (run_dir / runs.CONFIG).exists():
        raise RunError(f"{run_dir} has no {runs.CONFIG}: not a run folder")
    config = runs.read_json(run_dir / runs.CONFIG)
    spec = from_dict(GANSpec, config["spec"])
    arrays, _ = exports.read_layers(run_dir)
    # A PyTorch run's backend is None: Keras' default backend.
    options = RunConfig(model=config["model"], seed=config["seed"], device=device, backend=config.get("backend"))
    trainer = make_trainer(spec, options)
    trainer.load_generator_layers(arrays)
    return trainer, spec


def slerp(start: np.ndarray, end: np.ndarray, fractions: np.ndarray) -> np.ndarray:
    """Spherical interpolation, which keeps Gaussian latents at a typical norm (White 2016)."""
    cosine = np.dot(start, end) / (np.linalg.norm(start) * np.linalg.norm(end))
    angle = np.arccos(np.clip(cosine, -1.0, 1.0))
    if angle < 1e-6:
        return np.outer(1 - fractions, start) + np.outer(fractions, end)
    return (np.outer(np.sin((1 - fractions) * angle), start) + np.outer(np.sin(fractions * angle), end)) / np.sin(angle)


def interpolation_noise(rows: int, noise_dim: int, distribution: str) -> np.ndarray:
    anchors = evaluation_noise(rows + 1, noise_dim, distribution)
    fractions = np.linspace(0.0, 1.0, INTERPOLATION_COLUMNS)
    return np.concatenate([slerp(anchors[i], anchors[i + 1], fractions) for i in range(rows)]).astype(np.float32)


def requested_labels(spec: GANSpec, args: argparse.Namespace, n: int) -> np.ndarray | None:
    """The labels asked for on the command line: ``n`` of ``--label`` or, unasked, the evaluation labels' pattern
    (0, 1, 2, ...) for a conditional model; None for an unconditional one, which refuses ``--label(s)``."""
    if not spec.conditional:
        if args.label is not None or args.labels:
            raise RunError(f"{spec.name} is not a conditional model: --label and --labels need one (e.g. cgan)")
        return None
    classes = spec.conditioning.num_classes
    if args.label is not None and args.label >= classes:
        raise RunError(f"--label {args.label}: {spec.name} has classes 0 to {classes - 1}")
    return np.full(n, args.label, np.int64) if args.label is not None else np.arange(n, dtype=np.int64) % classes


def main(argv: list[str] | None, framework: str, make_trainer: TrainerFactory) -> int:
    args = sample_parser(framework).parse_args(argv)
    try:
        if args.run:
            trainer, spec = load_trained(args.run, make_trainer, args.device)
        else:
            trainer, spec = load_exported(args.from_run, make_trainer, args.device)
        dim, distribution = spec.training.noise_dim, spec.training.noise
        if args.labels == "all":
            requested_labels(spec, args, 0)  # refuses an unconditional model
            noise, labels = class_grid_inputs(args.n, dim, spec.conditioning.num_classes, distribution)
            columns = args.n
        elif args.interpolate:
            noise = interpolation_noise(args.n, dim, distribution)
            labels = requested_labels(spec, args, len(noise))
            if labels is not None and args.label is None:  # one class per row
                labels = np.repeat(np.arange(args.n) % spec.conditioning.num_classes, INTERPOLATION_COLUMNS)
            columns = INTERPOLATION_COLUMNS
        else:
            noise = evaluation_noise(args.n, dim, distribution)
            labels, columns = requested_labels(spec, args, args.n), runs.GRID_COLUMNS
        images = generate_uint8(trainer, noise, labels)
        grid = runs.image_grid(images, columns=columns)
        if args.images_out:
            runs.write_npz(args.images_out, images=trainer.generate(noise, labels))
    except (DataError, SpecError, RunError) as error:
        print(f"error: {error}", file=sys.stderr)
        return runs.EXIT_USAGE
    runs.save_png(args.out, grid)
    print(f"wrote {args.out}", file=sys.stderr)
    return runs.EXIT_OK
