"""Timings compare frameworks only when the runs ran on the same device model.

A suite spread over a cluster (``--executor ray``) may train some runs on one GPU model and some on another, or
on different CPUs; the report then refuses to put their timings side by side unless asked
(``--allow-mixed-devices``). The device model is what the run recorded (``config.json`` → environment →
``device_name``: the GPU's name, or the CPU's).
"""
from __future__ import annotations

import pandas as pd

ALLOW_FLAG = "--allow-mixed-devices"


class MixedDevicesError(ValueError):
    """The runs' timings come from more than one device model; the message names them."""


def device_models(table: pd.DataFrame) -> dict[str, list[str]]:
    """Device model -> the runs with a timing that ran on it (one row per run: ``run``, ``device_name``,
    ``steady_ms_per_step``)."""
    if not {"run", "device_name", "steady_ms_per_step"} <= set(table.columns):
        return {}
    timed = table[table["steady_ms_per_step"].notna() & table["device_name"].notna()]
    return {str(model): list(group["run"]) for model, group in timed.groupby("device_name", sort=True)}


def check(table: pd.DataFrame, allow_mixed: bool) -> dict[str, list[str]]:
    """The device models; raises ``MixedDevicesError`` for more than one unless ``allow_mixed``."""
    models = device_models(table)
    if len(models) > 1 and not allow_mixed:
        listed = "; ".join(f"{model}: {', '.join(names)}" for model, names in models.items())
        raise MixedDevicesError(f"the timings come from {len(models)} device models ({listed}); they are not "
                                f"comparable: pass {ALLOW_FLAG} to report them anyway")
    return models
