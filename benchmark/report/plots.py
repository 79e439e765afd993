"""The report's figures: FID curves, losses, throughput and FID bars, sample mosaics, progress GIFs, lockstep
drift. Each function writes one file and returns its path, or None when there is nothing to draw."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

from benchmark import eval_format as ev  # noqa: E402
from benchmark import runs  # noqa: E402
from benchmark.frameworks import FRAMEWORKS  # noqa: E402
from benchmark.report.collect import SuiteData, read_json  # noqa: E402
from benchmark.report.columns import (COLORS, IMAGES_PER_SECOND, CLASSIFIER_FID, PRETTY, STARTUP_SECONDS,  # noqa: E402
                                      STEADY_MS_PER_STEP)
from benchmark.report.speed_verdicts import mode_name  # noqa: E402
from benchmark.report.stats import numeric_values  # noqa: E402
from benchmark.report.tables import lockstep_records  # noqa: E402

GRID_IMAGES = 64


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90, bbox_inches="tight")
    plt.close(fig)
    return path


def _framework_runs(data: SuiteData, model: str):
    """(framework, seed, run_dir) of the runs of ``model`` that have a folder, frameworks in report order."""
    frame = data.table[data.table["model"] == model]
    for framework in data.frameworks:
        for _, row in frame[frame["framework"] == framework].sort_values("seed").iterrows():
            if row["run"] in data.run_dirs:
                yield framework, row["seed"], data.run_dirs[row["run"]]


def plot_curves(data: SuiteData, model: str, path: Path) -> Path | None:
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    drawn = set()
    for framework, seed, run_dir in _framework_runs(data, model):
        curve = ev.upgraded_curve(read_json(run_dir / ev.CURVE_FILE, []))
        if not curve:
            continue
        steps = [p[ev.KEY_STEP] for p in curve]
        seconds = [p[ev.KEY_ELAPSED] for p in curve]
        fid = [p[ev.KEY_CLASSIFIER_FID] for p in curve]
        label = None if framework in drawn else PRETTY.get(framework, framework)
        drawn.add(framework)
        for axis, x in zip(axes, (steps, seconds)):
            axis.plot(x, fid, marker="o", ms=3, color=COLORS.get(framework), alpha=0.85, label=label)
    if not drawn:
        plt.close(fig)
        return None
    axes[0].set_xlabel("iteration (generator updates)")
    axes[1].set_xlabel("training seconds (wall clock, excl. evaluation I/O)")
    axes[0].set_ylabel(f"{data.dataset_title} classifier FID of the curve samples (log)")
    for axis in axes:
        axis.set_yscale("log")
        axis.grid(alpha=0.3)
    axes[0].legend()
    fig.suptitle(f"{model}: classifier FID during training (one line per seed)")
    return _save(fig, path)


def plot_losses(data: SuiteData, model: str, path: Path) -> Path | None:
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharex=True)
    drawn = set()
    for framework, seed, run_dir in _framework_runs(data, model):
        records = runs.MetricsLog(run_dir / runs.METRICS).records() if (run_dir / runs.METRICS).exists() else []
        if not records:
            continue
        label = None if framework in drawn else PRETTY.get(framework, framework)
        drawn.add(framework)
        steps = [r["step"] for r in records]
        for axis, key in zip(axes, ("d_loss", "g_loss")):
            axis.plot(steps, [r.get(key, np.nan) for r in records], color=COLORS.get(framework), alpha=0.8,
                      label=label, lw=1)
    if not drawn:
        plt.close(fig)
        return None
    for axis, title in zip(axes, ("discriminator / critic loss", "generator loss")):
        axis.set_title(title)
        axis.set_xlabel("iteration")
        axis.grid(alpha=0.3)
    axes[0].legend()
    fig.suptitle(f"{model}: losses (one line per seed)")
    return _save(fig, path)


def _grouped_bars(axis, frame: pd.DataFrame, models: list[str], frameworks: list[str], column: str) -> None:
    """One bar per (model, framework): the mean of ``column`` over seeds with its standard deviation."""
    width = 0.8 / max(len(frameworks), 1)
    x = np.arange(len(models))
    for index, framework in enumerate(frameworks):
        means, errors = [], []
        for model in models:
            values = numeric_values(frame[(frame["model"] == model) & (frame["framework"] == framework)], column)
            means.append(values.mean() if len(values) else np.nan)
            errors.append(values.std(ddof=1) if len(values) > 1 else 0.0)
        axis.bar(x + (index - (len(frameworks) - 1) / 2) * width, means, width, yerr=errors, capsize=3,
                 color=COLORS.get(framework), label=PRETTY.get(framework, framework))
    axis.set_xticks(x, models, rotation=20 if len(models) > 3 else 0)
    axis.grid(axis="y", alpha=0.3)


def plot_throughput(data: SuiteData, path: Path) -> Path | None:
    frame = data.table[data.table["status"] == runs.COMPLETED]
    if frame.empty or numeric_values(frame, IMAGES_PER_SECOND).size == 0:
        return None
    panels = ((IMAGES_PER_SECOND, "steady-state real images / s (higher is faster)"),
              (STEADY_MS_PER_STEP, "steady-state ms / iteration"),
              (STARTUP_SECONDS, "compile + warm-up (first 5 iterations), s"))
    fig, axes = plt.subplots(1, len(panels), figsize=(15, 3.8))
    for axis, (column, title) in zip(axes, panels):
        _grouped_bars(axis, frame, data.models, data.frameworks, column)
        axis.set_title(title, fontsize=10)
    axes[0].legend(fontsize=8)
    return _save(fig, path)


def plot_fid_bars(data: SuiteData, path: Path) -> Path | None:
    frame = data.table[data.table["status"] == runs.COMPLETED]
    if frame.empty or numeric_values(frame, CLASSIFIER_FID).size == 0:
        return None
    fig, axis = plt.subplots(figsize=(8, 3.6))
    _grouped_bars(axis, frame, data.models, data.frameworks, CLASSIFIER_FID)
    axis.set_ylabel(f"{data.dataset_title} classifier FID (lower is better)")
    axis.legend(fontsize=8)
    return _save(fig, path)


def plot_speed(speed: dict, path: Path) -> Path | None:
    """The speed phase: per (model, batch size) a panel of every mode's median ms/iteration, its interval as the
    error bar, in the registry's colours and names."""
    rows = [row for row in speed.get("results", []) if row.get("status") == "ok"]
    groups = list(dict.fromkeys((row["model"], row["batch_size"]) for row in rows))
    if not groups:
        return None
    fig, axes = plt.subplots(1, len(groups), figsize=(5.2 * len(groups), 3.4), squeeze=False, layout="constrained")
    for axis, (model, batch) in zip(axes[0], groups):
        members = [row for row in rows if (row["model"], row["batch_size"]) == (model, batch)]
        entries = [FRAMEWORKS.get(row["framework"]) for row in members]
        medians = np.array([row["median_ms"] for row in members])
        errors = np.array([[m - row["ci_low_ms"] for m, row in zip(medians, members)],
                           [row["ci_high_ms"] - m for m, row in zip(medians, members)]])
        labels = [mode_name(row) for row in members]
        axis.barh(np.arange(len(members)), medians, xerr=errors, capsize=3,
                  color=[e.color if e else "grey" for e in entries])
        axis.set_yticks(np.arange(len(members)), labels, fontsize=8)
        axis.invert_yaxis()
        axis.set_title(f"{model}, batch {batch}", fontsize=10)
        axis.set_xlabel("ms / iteration (median, interval)")
        axis.grid(axis="x", alpha=0.3)
    return _save(fig, path)


def _first_seed_dirs(data: SuiteData, model: str) -> dict[str, Path]:
    """The lowest seed that every framework of ``model`` has, one run folder per framework."""
    by_framework: dict[str, dict[int, Path]] = {}
    for framework, seed, run_dir in _framework_runs(data, model):
        by_framework.setdefault(framework, {})[seed] = run_dir
    if not by_framework:
        return {}
    common = set.intersection(*(set(seeds) for seeds in by_framework.values()))
    return {f: seeds[min(common) if common else min(seeds)] for f, seeds in by_framework.items()}


def _sample_grid(run_dir: Path) -> tuple[np.ndarray | None, str]:
    samples = run_dir / runs.SAMPLES
    if samples.exists():
        with np.load(samples) as archive:
            return runs.image_grid(archive["images"][:GRID_IMAGES]), "final samples"
    grids = sorted((run_dir / runs.GRIDS).glob("step_*.png"))
    if grids:
        return np.asarray(_open_grid(grids[-1])), f"last grid ({grids[-1].stem})"
    return None, ""


def _open_grid(path: Path) -> Image.Image:
    """A ``runs.image_grid`` PNG, grey ("L") or colour ("RGB") as it was written."""
    image = Image.open(path)
    return image.convert("L" if image.mode in ("L", "LA", "I", "1") else "RGB")


def _labelled_mosaic(tiles: list[Image.Image], labels: list[str], scale: int = 2) -> Image.Image:
    """Tiles side by side, each with a one-line label above it, enlarged without interpolation: grey, or colour
    when a tile is."""
    label_height, gap = 14, 8
    height = max(t.height for t in tiles)
    mode = "RGB" if any(t.mode == "RGB" for t in tiles) else "L"
    canvas = Image.new(mode, (sum(t.width for t in tiles) + gap * (len(tiles) - 1), height + label_height),
                       "white")
    draw = ImageDraw.Draw(canvas)
    left = 0
    for tile, label in zip(tiles, labels):
        canvas.paste(tile.convert(mode), (left, label_height))
        draw.text((left + 2, 1), label, fill="black")
        left += tile.width + gap
    return canvas.resize((canvas.width * scale, canvas.height * scale), Image.NEAREST)


def plot_sample_grids(data: SuiteData, model: str, path: Path) -> Path | None:
    """The first 64 final samples of each framework side by side (same evaluation noise, same seed)."""
    chosen = _first_seed_dirs(data, model)
    grids = {f: _sample_grid(d) for f, d in chosen.items()}
    grids = {f: g for f, g in grids.items() if g[0] is not None}
    if not grids:
        return None
    tiles = [Image.fromarray(grid) for grid, _ in grids.values()]
    labels = [f"{PRETTY.get(f, f)}, seed {_seed_of(chosen[f])}" + ("" if what == "final samples" else f" ({what})")
              for f, (_, what) in grids.items()]
    path.parent.mkdir(parents=True, exist_ok=True)
    _labelled_mosaic(tiles, labels).save(path, optimize=True)
    return path


def _seed_of(run_dir: Path):
    return read_json(run_dir / runs.CONFIG, {}).get("seed", "?")


GIF_ROWS = 4  # of the 8 rows of a progress grid: half the images, half the file


def _top_rows(grid: Image.Image, rows: int = GIF_ROWS, columns: int = runs.GRID_COLUMNS,
              pad: int = 2) -> Image.Image:
    """The first ``rows`` rows of a ``runs.image_grid`` mosaic of ``columns`` square cells with ``pad`` px padding
    (the cell size read from its width: 28 px for MNIST, 32 for CIFAR-10)."""
    cell = (grid.width - pad) // columns - pad
    return grid.crop((0, 0, grid.width, min(grid.height, rows * (cell + pad) + pad)))


def with_row_labels(grid: Image.Image, cell: int = 28, pad: int = 2) -> Image.Image:
    """A conditional run's class grid (row c requests digit c, ``runs.image_grid`` cells) with each row's digit
    written on its left."""
    margin = 12
    canvas = Image.new(grid.mode, (grid.width + margin, grid.height), "white")
    canvas.paste(grid, (margin, 0))
    draw = ImageDraw.Draw(canvas)
    for row in range((grid.height - pad) // (cell + pad)):
        draw.text((2, pad + row * (cell + pad) + cell // 2 - 5), str(row), fill="black")
    return canvas


def plot_class_grids(data: SuiteData, model: str, path: Path) -> Path | None:
    """A conditional model's last class grid of each framework side by side (same seed, same noise per column)."""
    chosen = _first_seed_dirs(data, model)
    last = {f: grids[-1] for f, d in chosen.items() if (grids := sorted((d / runs.GRIDS).glob("step_*.png")))}
    if not last:
        return None
    tiles = [with_row_labels(_open_grid(grid)) for grid in last.values()]
    labels = [f"{PRETTY.get(f, f)}, seed {_seed_of(chosen[f])}, iteration {runs.step_of(grid.name)}"
              for f, grid in last.items()]
    path.parent.mkdir(parents=True, exist_ok=True)
    _labelled_mosaic(tiles, labels).save(path, optimize=True)
    return path


def progress_gif(data: SuiteData, model: str, path: Path, max_frames: int = 12,
                 tile: Callable[[Image.Image], Image.Image] = _top_rows) -> Path | None:
    """Frames: the grids/step_*.png of each framework side by side, at the steps all of them have, each grid cut
    by ``tile`` (the first rows; a conditional model's class grid whole, with its row labels)."""
    chosen = _first_seed_dirs(data, model)
    frames_by = {f: {p.stem: p for p in sorted((d / runs.GRIDS).glob("step_*.png"))} for f, d in chosen.items()}
    frames_by = {f: v for f, v in frames_by.items() if v}
    if not frames_by:
        return None
    steps = sorted(set.intersection(*(set(v) for v in frames_by.values())))
    if not steps:
        return None
    if len(steps) > max_frames:  # evenly spaced, the last one always included
        steps = [steps[round(i * (len(steps) - 1) / (max_frames - 1))] for i in range(max_frames)]
    frames = [_labelled_mosaic([tile(_open_grid(frames_by[f][step])) for f in frames_by],
                               [f"{PRETTY.get(f, f)}, iteration {int(step.split('_')[1])}" for f in frames_by],
                               scale=1)
              for step in steps]
    path.parent.mkdir(parents=True, exist_ok=True)
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=700, loop=0, optimize=True)
    return path


def plot_lockstep(lockstep, path: Path) -> Path | None:
    records = lockstep_records(lockstep)
    if not records:
        return None
    frame = pd.DataFrame(records)
    numeric = [c for c in frame.columns if c not in ("step", "series") and pd.api.types.is_numeric_dtype(frame[c])
               and (frame[c] > 0).any()]
    if not numeric:
        return None
    shown = numeric[:6]
    fig, axes = plt.subplots(1, len(shown), figsize=(4.2 * len(shown), 3.4), squeeze=False)
    for axis, column in zip(axes[0], shown):
        for name, part in frame.groupby("series", sort=False):
            axis.plot(part["step"], part[column].where(part[column] > 0), marker=".", label=str(name))
        axis.set_yscale("log")
        axis.set_xlabel("lockstep iteration")
        axis.set_title(column.replace("_", " "), fontsize=9)
        axis.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    model = lockstep.get("model") if isinstance(lockstep, dict) else None
    fig.suptitle(f"{model + ': ' if model else ''}PyTorch vs Keras from identical weights and inputs, drift per "
                 "iteration")
    return _save(fig, path)
