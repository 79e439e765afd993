"""``build_report``: the whole report of one suite folder."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from benchmark import datasets, devices, runs
from benchmark.profiles import FULL_COMMAND
from benchmark.report import plots as figures
from benchmark.report.collect import SuiteData, collect
from benchmark.report.columns import (ALL_RUNS_COLUMNS, CONDITIONAL_QUALITY, INCEPTION, INCEPTION_COLUMNS,
                                      INCEPTION_FIRST, QUALITY, SPEED, SUMMARY_COLUMNS, Metric)
from benchmark.report.conditional import conditional_text, runs_table
from benchmark.report.document import Document
from benchmark.report.lengths import lengths_table
from benchmark.report.sections import (DEFAULT_PARITY_DIR, environment_section, inception_note, parity_section,
                                       problems_section, reading_section, setup_section)
from benchmark.report.speed_verdicts import read_speed, settings_text, speed_table, verdicts
from benchmark.report.summary import summary_table
from benchmark.report.tables import comparison_table, pairing, verdict
REPORT_MD, REPORT_HTML, SUMMARY_CSV, PLOTS_DIR = "report.md", "report.html", "summary.csv", "plots"
SAMPLES_DIR, SAMPLE_COPY = "samples", 2_000  # every scored run's first 2,000 samples, uint8, compressed


def copy_scored_samples(data: SuiteData, folder: Path, count: int = SAMPLE_COPY) -> list[Path]:
    """The first ``count`` scored samples of every completed run as ``folder/<run>.npz`` (uint8 ``images``
    [N, H, W(, C)], compressed, and a conditional run's requested ``labels`` [N]): small enough to commit with a report,
    so that anyone can score them with a classifier of their own. The evaluation noise is fixed, so the first N are
    the same draws in every run of a model."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, run_dir in data.run_dirs.items():
        source = run_dir / runs.SAMPLES
        if not source.is_file():
            continue
        with np.load(source) as stored:
            arrays = {"images": stored["images"][:count].astype(np.uint8)}
            if "labels" in stored:
                arrays["labels"] = stored["labels"][:count]
        path = folder / f"{name}.npz"
        runs.write_npz(path, **arrays)
        written.append(path)
    return written


def report_title(suite: dict, profile: str) -> str:
    """The report's title: the suite's data set (``suite.json``; one from before ``--dataset`` trained MNIST)."""
    dataset = suite.get("dataset", datasets.DEFAULT_DATASET)
    title = datasets.DATASETS[dataset].title if dataset in datasets.DATASETS else dataset
    return f"GAN benchmark on {title}: PyTorch vs Keras 3 — profile `{profile}`"


def quality_metrics(data: SuiteData, inception_note: str | None) -> tuple[Metric, ...]:
    """The quality table's metrics: without the Inception ones when they are not reported (``inception_note``), and
    with them first on a data set whose standard metrics they are (``INCEPTION_FIRST``) when they were computed."""
    if inception_note:
        return tuple(m for m in QUALITY if m.column not in INCEPTION_COLUMNS)
    available = data.table.get("inception_available", pd.Series(dtype=object)).fillna(False).astype(bool).any()
    if data.dataset in INCEPTION_FIRST and available:
        inception = tuple(m for m in QUALITY if m.column in INCEPTION.values())
        return inception + tuple(m for m in QUALITY if m not in inception)
    return QUALITY


def build_report(out: str | Path, parity_dir: str | Path | None = None,
                 allow_mixed_devices: bool = False) -> dict[str, Path]:
    """Write report.md, report.html, summary.csv and plots/ in ``out``; return their paths. Raises
    ``devices.MixedDevicesError`` when the timings come from several device models, unless allowed."""
    out = Path(out)
    data = collect(out)
    device_models = devices.check(data.table, allow_mixed_devices)
    plots = out / PLOTS_DIR
    plots.mkdir(parents=True, exist_ok=True)
    for old in list(plots.glob("*.png")) + list(plots.glob("*.gif")):
        old.unlink()
    summary = data.table.reindex(columns=[c for c in SUMMARY_COLUMNS if c in data.table]
                                 + [c for c in data.table.columns if c not in SUMMARY_COLUMNS and c != "log_tail"])
    summary.to_csv(out / SUMMARY_CSV, index=False)
    copies = copy_scored_samples(data, out / SAMPLES_DIR)

    profile = data.suite.get("profile", {}).get("name", out.name)
    doc = Document(out)
    doc.heading(1, report_title(data.suite, profile))
    counts = data.table["status"].value_counts().to_dict() if len(data.table) else {}
    doc.text(f"{len(data.table)} runs: " + (", ".join(f"{n} {s}" for s, n in counts.items()) or "none")
             + f". One row per run in [`{SUMMARY_CSV}`]({SUMMARY_CSV})"
             + (f"; the first {SAMPLE_COPY:,} scored samples of every run in `{SAMPLES_DIR}/<run>.npz` (uint8 "
                "`images`" + (", a conditional run's requested `labels`" if data.conditional_models else "")
                + ", to score with a classifier of your own)" if copies else "")
             + "; regenerate with `python -m benchmark.report " + out.as_posix() + "`.")
    if profile == "smoke":
        doc.text("**Smoke profile**: a few iterations per run to check the pipeline; the numbers say nothing "
                 "about the models or the frameworks.")
    if len(device_models) > 1:
        doc.text(f"**Mixed devices** ({devices.ALLOW_FLAG}): the timings come from {len(device_models)} device "
                 f"models ({', '.join(device_models)}); compare them only within one model (`device_name`, `node` "
                 f"in [`{SUMMARY_CSV}`]({SUMMARY_CSV})).")
    speed = read_speed(out)
    summary_section(doc, data, speed)
    speed_section(doc, speed, plots)
    lengths_section(doc, data)

    doc.heading(2, "Overview")
    doc.image(figures.plot_fid_bars(data, plots / "fid.png"),
              f"Final classifier FID ({data.dataset_title} classifier) per model and framework (mean ± std over "
              "seeds)")
    doc.image(figures.plot_throughput(data, plots / "throughput.png"),
              "Throughput, time per iteration and compile time per model and framework (mean ± std over seeds)")

    note = inception_note(data)
    quality = quality_metrics(data, note)
    for model in data.models:
        model_section(doc, data, model, quality, plots)

    doc.heading(2, "Method")
    doc.open_details("The machine, the set-up, and how to read the tables (click to open)")
    environment_section(doc, data)
    setup_section(doc, data)
    reading_section(doc, data)
    if note:
        doc.text(note)
    doc.close_details()

    parity_section(doc, Path(parity_dir) if parity_dir else DEFAULT_PARITY_DIR, plots)
    problems_section(doc, data)

    doc.heading(2, "All runs")
    columns = [c for c in ALL_RUNS_COLUMNS if c in data.table]
    doc.table(data.table[columns])

    paths = {"markdown": out / REPORT_MD, "html": out / REPORT_HTML, "csv": out / SUMMARY_CSV, "plots": plots}
    runs.atomic_write(paths["markdown"], lambda f: f.write(doc.markdown()), mode="w")
    page_title = f"GAN benchmark on {data.dataset_title} — {profile}"
    runs.atomic_write(paths["html"], lambda f: f.write(doc.html(page_title)), mode="w")
    return paths


def summary_section(doc: Document, data: SuiteData, speed: dict | None) -> None:
    """The answer first: grades, FID and paired differences per model, and the speed verdicts."""
    doc.heading(2, "Summary")
    doc.table(summary_table(data, speed))
    doc.text("Grades are set run by run from the in-domain FID between the real-data and uniform-noise reference "
             "rows and from the class balance ([the rule](#method)); a paired Δ compares the same seed, trained from "
             "the same weights on the same inputs. Speed: the Keras/PyTorch ratio of ms per iteration with its "
             "interval ([Speed verdict](#speed-verdict)): \"no clear difference\" when the interval holds 1; by "
             "default PyTorch's eager loop against Keras' `Model.fit` where fit was timed (the project's stateless "
             "Keras step and the fit/stateless ratio beside it), else against Keras' default mode. "
             "The method (machine, set-up, statistics) is at the [end](#method).")


def lengths_section(doc: Document, data: SuiteData) -> None:
    """Every model's training length, what it consumed, how long it took, and why it is that long."""
    table = lengths_table(data)
    if table.empty:
        return
    doc.heading(2, "Training lengths and times")
    doc.table(table)
    doc.text("A generator update consumes one batch per discriminator (critic) update: WGAN and WGAN-GP take 5 per "
             "generator update. Training time excludes sample grids, evaluation sample sets and checkpoints"
             + ("; the runs trained side by side, so compare the times within this suite only" if data.shared_machine
                else "") + ".")


def speed_section(doc: Document, report: dict | None, plots: Path) -> None:
    """The speed verdicts of the suite's speed phase; without one, a line saying where the verdict would come
    from (the per-model tables' timings come from runs trained side by side)."""
    doc.heading(2, "Speed verdict")
    if report is None:
        doc.text("No speed phase ran in this suite (`--no-speed`, or a profile without one): there is no speed "
                 "verdict. The per-model speed tables come from the quality runs and are not one; time the "
                 "frameworks with `python -m benchmark.speed`.")
        return
    doc.bullets(verdicts(report) or ["No model was timed in both frameworks."])
    doc.text(settings_text(report))
    doc.image(figures.plot_speed(report, plots / "speed.png"),
              "Speed phase: median ms per iteration of every execution mode, with its interval")
    doc.table(speed_table(report))
    skipped = [f"{s['framework']} ({s['reason']})" for s in report.get("skipped", [])]
    if skipped:
        doc.text("Not timed: " + ", ".join(skipped) + ".")


def model_section(doc: Document, data: SuiteData, model: str, quality: tuple[Metric, ...], plots: Path) -> None:
    """One model: quality with the reference columns and the verdict, speed, samples, curves, losses, progress."""
    doc.heading(2, f"Model `{model}`")
    doc.heading(3, "Quality")
    if model in data.conditional_models:
        quality = CONDITIONAL_QUALITY + quality
    doc.table(comparison_table(data, model, quality, with_references=True))
    paired = pairing(data, model)
    if paired:
        doc.text(paired)
    phrases, under = verdict(data, model)
    if phrases:
        doc.text("**Verdict**: " + "; ".join(phrases) + "."
                 + (f" Train it properly with `{FULL_COMMAND.format(model=model)}`." if under else ""))
    conditional = model in data.conditional_models
    if conditional:
        conditional_section(doc, data, model, plots)
    doc.heading(3, "Speed")
    doc.table(comparison_table(data, model, SPEED, timings=True))
    if not conditional:
        doc.image(figures.plot_sample_grids(data, model, plots / f"samples_{model}.png"),
                  f"{model}: samples from the same evaluation noise (PyTorch | Keras)")
    doc.image(figures.plot_curves(data, model, plots / f"curves_{model}.png"),
              f"{model}: classifier FID against iterations and against training seconds")
    doc.image(figures.plot_losses(data, model, plots / f"losses_{model}.png"), f"{model}: D and G losses")
    if conditional:
        doc.image(figures.progress_gif(data, model, plots / f"class_grids_{model}.gif", tile=figures.with_row_labels),
                  f"{model}: the class grid over training (row c requests digit c, each column one noise vector)")
    else:
        doc.image(figures.progress_gif(data, model, plots / f"progress_{model}.gif"),
                  f"{model}: training progress (the first 32 evaluation noise vectors)")


def conditional_section(doc: Document, data: SuiteData, model: str, plots: Path) -> None:
    """A conditional model's runs one by one (requested-digit accuracy, intra-class FID, the whole-set metrics)
    under the reference rows, and the last class grid of each framework."""
    doc.heading(3, "Conditional quality, run by run")
    doc.text(conditional_text(data, model))
    doc.table(runs_table(data, model))
    doc.image(figures.plot_class_grids(data, model, plots / f"class_grids_{model}.png"),
              f"{model}: class grids at the last iteration (row c requests digit c, each column one noise vector "
              "in every row; PyTorch | Keras, the same seed)")
