"""How long every model trained: generator updates, the real images they consumed, each framework's training time
per run, and why the profile gives the model that length (``Profile.length_reasons``)."""
from __future__ import annotations

import pandas as pd

from benchmark import datasets, runs
from benchmark.profiles import PROFILES
from benchmark.report.collect import SuiteData, suite_profile
from benchmark.report.columns import PRETTY, TRAIN_SECONDS
from benchmark.spec import SpecError, get_spec


def length_reasons(data: SuiteData) -> dict[str, str]:
    """Why each model trains as long as it does: as the suite recorded its profile, else (a suite recorded before
    profiles carried reasons) the registered profile of that name, when it gives the same lengths."""
    recorded = suite_profile(data.suite)
    if recorded is None:
        return {}
    if recorded.length_reasons:
        return dict(recorded.length_reasons)
    registered = PROFILES.get(recorded.name)
    if registered and (registered.steps, registered.model_steps) == (recorded.steps, recorded.model_steps):
        return dict(registered.length_reasons)
    return {}


def duration_cell(seconds: pd.Series) -> str:
    """"8.1 min" for one run, "8.1 min (7.9-8.3)" as the mean and range over several (seconds under a minute, hours
    from 100 minutes), "—" for none."""
    seconds = pd.to_numeric(seconds, errors="coerce").dropna()
    if seconds.empty:
        return "—"
    mean = seconds.mean()
    unit, scale = ("s", 1) if mean < 60 else ("min", 60) if mean < 6_000 else ("h", 3_600)
    text = f"{mean / scale:.1f} {unit}"
    return text + (f" ({seconds.min() / scale:.1f}-{seconds.max() / scale:.1f})" if len(seconds) > 1 else "")


def lengths_table(data: SuiteData) -> pd.DataFrame:
    """One row per model: generator updates, batches per update, real images (and epochs of the training set),
    every framework's training time per completed run, and the reason for the length."""
    reasons = length_reasons(data)
    train_size = datasets.get_dataset(data.dataset).train_size if data.dataset in datasets.DATASETS else None
    rows = []
    for model in data.models:
        frame = data.table[data.table["model"] == model]
        updates = pd.to_numeric(frame.get("steps_planned", pd.Series(dtype=float)), errors="coerce").dropna()
        batch = pd.to_numeric(frame.get("batch_size", pd.Series(dtype=float)), errors="coerce").dropna()
        if updates.empty or batch.empty:
            continue
        try:
            per_update = get_spec(model, data.dataset).objective.n_critic
        except SpecError:
            continue
        images = int(updates.iloc[0]) * int(batch.iloc[0]) * per_update
        row = {"model": f"`{model}`", "generator updates": f"{int(updates.iloc[0]):,}",
               "batches per update": per_update,
               "real images": f"{images:,}" + (f" ({images / train_size:.3g} epochs)" if train_size else "")}
        for framework in data.frameworks:
            done = frame[(frame["framework"] == framework) & (frame["status"] == runs.COMPLETED)]
            seconds = done.get(TRAIN_SECONDS, pd.Series(dtype=float))
            row[f"{PRETTY.get(framework, framework)}: training time per run"] = duration_cell(seconds)
        row["why this length"] = reasons.get(model, "—")
        rows.append(row)
    return pd.DataFrame(rows)
