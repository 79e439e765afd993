"""The smoke profile end to end, as CI runs it: every model x framework trained by the real training processes,
evaluated, scored against the reference rows and reported; every run folder checked file by file (the run-folder
tests of both implementations, on these real runs instead of trainings of their own)."""
from __future__ import annotations

import re

import pandas as pd

from benchmark import runs, suite
from benchmark.frameworks import by_name
from benchmark.spec import MODEL_NAMES
from suites import check_full_run_folder, needs_mnist, run_all

FRAMEWORKS = ("pytorch", "keras-tensorflow")


@needs_mnist
def test_smoke_profile_end_to_end(tmp_path):
    """Every model x framework: a full run folder, report, CSV with a row per run, every plot."""
    out = tmp_path / "smoke"
    result = run_all("--profile", "smoke", "--out", str(out), timeout=1500)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = pd.read_csv(out / "summary.csv")
    expected = {f"{m}-{f}-seed0": by_name(f) for m in MODEL_NAMES for f in FRAMEWORKS}
    assert set(summary["run"]) == set(expected)
    for run, framework in expected.items():
        check_full_run_folder(out / suite.RUNS_DIR / run, framework)
    assert (summary["status"] == runs.COMPLETED).all()
    assert summary["classifier_fid"].notna().all() and summary["images_per_second"].notna().all()
    plots = {p.name for p in (out / "plots").iterdir()}
    assert {"fid.png", "throughput.png"} <= plots
    for model in MODEL_NAMES:
        assert {f"samples_{model}.png", f"curves_{model}.png", f"losses_{model}.png", f"progress_{model}.gif"} <= plots
    markdown = (out / "report.md").read_text()
    for model in MODEL_NAMES:
        assert f"## Model `{model}`" in markdown
    assert "None: every planned run completed" in markdown
    page = (out / "report.html").read_text()
    assert not re.search(r'<img[^>]+src="(?!data:)', page)
    assert "ETA" in result.stdout
