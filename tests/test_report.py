"""The report from fabricated run folders (no training): tables, statistics, plots, CSV, failures listed."""
from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy import stats

from benchmark import eval_format as ev
from benchmark import report, runs
from benchmark.report import columns, lengths, sections, tables
from benchmark.report import stats as report_stats
from benchmark.report import collect as collect_module
from benchmark.report.collect import collect
from benchmark.profiles import get_profile
from benchmark.suite import RUNS_DIR, SUITE_FILE

MODELS = ("dcgan", "wgan")
FRAMEWORKS = ("pytorch", "keras-tensorflow")
SEEDS = (0, 1, 2)
NO_INCEPTION = "no Inception-v3 weights: offline and not in torch hub's cache"


def _eval_json(fid: float, framework: str, model: str, seed: int) -> dict:
    return {
        ev.KEY_RUN: {"framework": framework, "model": model, "seed": seed, "status": "completed"},
        ev.KEY_CLASSIFIER: {ev.KEY_FID: fid, ev.KEY_IS_MEAN: 8.0 + seed * 0.1, ev.KEY_IS_STD: 0.1,
                       ev.KEY_KID_MEAN: fid / 100, ev.KEY_KID_STD: 0.001, ev.KEY_PRECISION: 0.7,
                       ev.KEY_RECALL: 0.6 + seed * 0.01},
        ev.KEY_INCEPTION: {ev.KEY_AVAILABLE: False, ev.KEY_REASON: NO_INCEPTION, ev.KEY_WEIGHTS_SHA256: None,
                           ev.KEY_OFFICIAL_WEIGHTS: False,
                           **dict.fromkeys((ev.KEY_FID, ev.KEY_IS_MEAN, ev.KEY_IS_STD, ev.KEY_KID_MEAN, ev.KEY_KID_STD))},
        ev.KEY_COVERAGE: {ev.KEY_HISTOGRAM: [50] * 10, ev.KEY_DIGITS_COVERED: 10, ev.KEY_KL_TO_UNIFORM: 0.01},
        ev.KEY_NUM_SAMPLES: 500, ev.KEY_REFERENCE: "mnist-test-10000", ev.KEY_SECONDS: 3.0, ev.KEY_VERSIONS: {},
    }


def fabricate_run(run_dir: Path, model: str, framework: str, seed: int, status: str = "completed",
                  fid: float = 20.0, steps: int = 40) -> None:
    """A run folder as the training driver and the evaluation write it."""
    rng = np.random.default_rng([seed, len(model), len(framework)])
    backend = framework.split("-", 1)[1] if framework.startswith("keras") else None
    environment = {"framework": "keras" if backend else "pytorch", "backend": backend, "device": "cpu",
                   "device_name": "Test CPU", "determinism": "seeded", "compiled": bool(backend),
                   "compile_seconds": 4.0 if backend else None,
                   "versions": {"keras": "3.x"} if backend else {"torch": "2.x"},
                   "precision": {"dtype": "float32", "tf32": False},
                   "initial_weights": {"source": "numpy-shared", "sha256": f"{seed:02d}{model}".ljust(64, "0")}}
    runs.write_json(run_dir / runs.CONFIG, {"framework": environment["framework"], "backend": backend,
                                            "model": model, "seed": seed, "steps": steps, "epochs": 0.1,
                                            "batch_size": 64, "environment": environment, "git_commit": "abc"})
    done = steps if status == "completed" else steps // 2
    metrics = runs.MetricsLog(run_dir / runs.METRICS)
    for step in range(5, done + 1, 5):
        metrics.append({"step": step, "epoch": 0, "elapsed": step * 0.1, "d_loss": 1.0 + rng.normal(0, 0.1),
                        "g_loss": 0.8 + rng.normal(0, 0.1)})
    speed = 0.05 if framework == "pytorch" else 0.07
    runs.write_json(run_dir / runs.TIMING, {
        "setup_seconds": 2.0, "warmup_seconds": 1.5, "steady_seconds_per_step": speed + rng.normal(0, 0.001),
        "images_per_second": 64 / speed, "train_seconds": steps * speed, "total_seconds": steps * speed + 5})
    runs.write_json(run_dir / runs.RESULT, {"status": status, "exit_code": runs.EXIT_CODES[status], "step": done,
                                            "steps": steps})
    for step in range(10, done + 1, 10):
        grid = runs.image_grid(rng.integers(0, 255, (64, 28, 28), dtype=np.uint8))
        runs.save_png(run_dir / runs.GRIDS / runs.step_name(step, ".png"), grid)
    curve = [{ev.KEY_STEP: s, ev.KEY_ELAPSED: s * speed, ev.KEY_CLASSIFIER_FID: fid * 40 / s}
             for s in range(10, done + 1, 10)]
    (run_dir / ev.CURVE_FILE).write_text(json.dumps(curve))
    if status == "completed":
        runs.write_npz(run_dir / runs.SAMPLES, images=rng.integers(0, 255, (100, 28, 28), dtype=np.uint8))
        (run_dir / ev.EVAL_FILE).write_text(json.dumps(_eval_json(fid, framework, model, seed)))


def fabricate_suite(out: Path, seeds=SEEDS, failing: bool = True, models=MODELS) -> Path:
    records, plan = {}, []
    for seed in seeds:
        for model in models:
            for framework in FRAMEWORKS:
                name = f"{model}-{framework}-seed{seed}"
                plan.append(name)
                status = "completed"
                if failing and name == f"wgan-keras-tensorflow-seed{seeds[-1]}":
                    status = "diverged"
                fid = 20.0 + seed + (3.0 if framework == "pytorch" else 0.0)
                if failing and name == f"dcgan-pytorch-seed{seeds[-1]}":
                    status = "failed"
                    run_dir = out / RUNS_DIR / name
                    run_dir.mkdir(parents=True)
                    (run_dir / "train.log").write_text("Traceback\nRuntimeError: boom on purpose\n")
                else:
                    fabricate_run(out / RUNS_DIR / name, model, framework, seed, status, fid)
                records[name] = {"name": name, "model": model, "framework": framework, "seed": seed, "steps": 40,
                                 "run_dir": f"{RUNS_DIR}/{name}", "status": status,
                                 "exit_code": runs.EXIT_CODES[status], "exit": f"exit {runs.EXIT_CODES[status]}",
                                 "log_tail": ["Traceback", "RuntimeError: boom on purpose"] if status == "failed" else [],
                                 "train_wall_seconds": 9.0, "eval_wall_seconds": 3.0,
                                 "eval_exit_code": 0 if status == "completed" else None}
    suite = {"profile": {"name": "quick", "description": "test", "epochs": 0.1, "steps": None, "num_samples": 100,
                         "curve_samples": 50, "batch_size": None},
             "options": {"models": list(models), "frameworks": list(FRAMEWORKS), "seeds": list(seeds),
                         "device": "cpu", "jobs": 1},
             "environment": {"cpu": "Test CPU", "cpu_count": 2, "gpus": None, "platform": "Linux",
                             "python": "3.x", "versions": {"torch": "2.x", "keras": "3.x"}, "git_commit": "abc"},
             "state": "finished", "plan": plan, "runs": records}
    runs.write_json(out / SUITE_FILE, suite)
    return out


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = fabricate_suite(tmp_path_factory.mktemp("suite"))
    parity = tmp_path_factory.mktemp("parity")
    per_step = [{"step": s, "d_loss_abs_diff": 1e-7 * s, "g_loss_abs_diff": 2e-7 * s, "generator_rel_diff": 1e-6 * s}
                for s in range(1, 6)]
    (parity / sections.LOCKSTEP_FILE).write_text(json.dumps(
        {"model": "dcgan", "steps": 5, "batch_size": 16, "seed": 0, "note": "floating-point order only",
         "torch_losses": [], "backends": {"tensorflow": {"keras_losses": [], "per_step": per_step},
                                          "jax": {"keras_losses": [], "per_step": per_step}}}))
    (parity / sections.DEFAULTS_AUDIT_FILE).write_text(json.dumps(
        {"versions": {"torch": "2.x"},
         "padding": {"rows": [{"kind": "conv", "kernel": 5, "keras_same_max_abs_diff": 3.0,
                               "keras_explicit_max_abs_diff": 0.0}], "neutralised_by": "explicit padding"},
         "batch_norm": {"pytorch": {"momentum": 0.1}, "keras_default": {"momentum": 0.99},
                        "neutralised_by": "BatchNorm momentum in PyTorch's convention"}}))
    return out, report.build_report(out, parity)


def test_report_files_and_one_csv_row_per_run(built):
    out, paths = built
    for key in ("markdown", "html", "csv"):
        assert paths[key].is_file() and paths[key].stat().st_size > 0
    summary = pd.read_csv(paths["csv"])
    assert len(summary) == len(MODELS) * len(FRAMEWORKS) * len(SEEDS)
    assert set(summary["framework"]) == set(FRAMEWORKS)
    row = summary[summary["run"] == "dcgan-keras-tensorflow-seed0"].iloc[0]
    assert row["classifier_fid"] == pytest.approx(20.0)
    assert row["steady_ms_per_step"] == pytest.approx(70, abs=5)


def test_every_scored_run_leaves_a_compact_copy_of_its_samples(built, tmp_path):
    """The first scored samples as uint8, compressed, beside the report (committed; checkpoints are not)."""
    out, paths = built
    copies = sorted((out / "samples").glob("*.npz"))
    scored = {p.parent.name for p in (out / "runs").glob(f"*/{runs.SAMPLES}")}
    assert scored and {p.stem for p in copies} == scored
    with np.load(copies[0]) as stored:
        images = stored["images"]
    with np.load(out / "runs" / copies[0].stem / runs.SAMPLES) as original:
        assert images.dtype == np.uint8 and np.array_equal(images, original["images"][:2000])
    assert "samples/<run>.npz" in paths["markdown"].read_text()
    small = report.copy_scored_samples(collect(out), tmp_path / "few", count=10)
    with np.load(small[0]) as stored:
        assert stored["images"].shape == (10, 28, 28)


def test_plots_present_and_embedded(built):
    out, paths = built
    names = {p.name for p in paths["plots"].iterdir()}
    for model in MODELS:
        for prefix in ("samples_", "curves_", "losses_"):
            assert f"{prefix}{model}.png" in names
        gif = Image.open(paths["plots"] / f"progress_{model}.gif")
        assert gif.n_frames >= 2
    assert {"fid.png", "throughput.png", "parity_drift.png"} <= names
    markdown = paths["markdown"].read_text()
    for name in names:
        assert f"plots/{name}" in markdown
    page = paths["html"].read_text()
    assert "data:image/png;base64," in page and "data:image/gif;base64," in page
    assert not re.search(r'<img[^>]+src="(?!data:)', page), "report.html must embed every image"


def test_tables_state_means_seeds_and_welch(built):
    out, paths = built
    markdown = paths["markdown"].read_text()
    assert "Welch" in markdown
    # wgan: PyTorch has 3 seeds (23, 24, 25), Keras 2 completed ones (20, 21); the failed/diverged are excluded.
    table = tables.comparison_table(collect(out), "wgan", columns.QUALITY)
    fid_row = table[table["metric"].str.startswith("classifier FID")].iloc[0]
    assert fid_row["PyTorch (n=3)"] == "24 ± 1"
    assert fid_row["Keras (TensorFlow) (n=2)"].startswith("20.5 ± 0.71")
    expected = stats.ttest_ind([23, 24, 25], [20, 21], equal_var=False).pvalue
    assert f"p = {expected:.3g}" in fid_row["Welch t-test Keras (TensorFlow) vs PyTorch"]


def test_the_training_lengths_table_gives_updates_images_times_and_reasons(tmp_path):
    """Real images = updates x batch x batches per update (WGAN: 5 critic batches); a framework's time is the mean and
    range over its completed runs; the reasons are the recorded profile's, else the registered profile's when the
    lengths match, else none."""
    out = fabricate_suite(tmp_path)
    suite = runs.read_json(out / SUITE_FILE)
    diverged = out / RUNS_DIR / "wgan-keras-tensorflow-seed2" / runs.TIMING
    runs.write_json(diverged, runs.read_json(diverged) | {"train_seconds": 999.0})
    table = lengths.lengths_table(collect(out)).set_index("model")
    assert list(table.index) == ["`dcgan`", "`wgan`"]
    assert table.loc["`wgan`", "generator updates"] == "40" and table.loc["`wgan`", "batches per update"] == 5
    assert table.loc["`wgan`", "real images"] == "12,800 (0.213 epochs)"  # 40 x 64 x 5 of MNIST's 60,000
    assert table.loc["`dcgan`", "real images"] == "2,560 (0.0427 epochs)"
    assert table.loc["`dcgan`", "PyTorch: training time per run"] == "2.0 s (2.0-2.0)"  # 40 x 0.05 s, seeds 0, 1
    assert table.loc["`wgan`", "Keras (TensorFlow): training time per run"] == "2.8 s (2.8-2.8)"  # no diverged seed 2
    assert set(table["why this length"]) == {"—"}  # quick's registered lengths are not this suite's

    suite["profile"] = dataclasses.asdict(get_profile("cpu-complete")) | {"length_reasons": {}}
    runs.write_json(out / SUITE_FILE, suite)
    reasons = get_profile("cpu-complete").length_reasons
    table = lengths.lengths_table(collect(out)).set_index("model")
    assert table.loc["`wgan`", "why this length"] == reasons["wgan"]
    suite["profile"] |= {"length_reasons": {"dcgan": "recorded"}}
    runs.write_json(out / SUITE_FILE, suite)
    assert lengths.lengths_table(collect(out)).set_index("model").loc["`dcgan`", "why this length"] == "recorded"
    assert lengths.duration_cell(pd.Series([5_400.0, 5_520.0])) == "91.0 min (90.0-92.0)"
    assert lengths.duration_cell(pd.Series([21_600.0])) == "6.0 h" and lengths.duration_cell(pd.Series([])) == "—"


def test_the_report_shows_the_training_lengths_after_the_verdicts(built):
    markdown = built[1]["markdown"].read_text()
    assert markdown.index("## Speed verdict") < markdown.index("## Training lengths and times") \
        < markdown.index("## Overview")
    assert "| `wgan` | 40 | 5 | 12,800 (0.213 epochs) |" in markdown


def test_inception_unavailable_is_stated_not_zero(built):
    out, paths = built
    markdown = paths["markdown"].read_text()
    assert "not computed" in markdown and NO_INCEPTION in markdown
    assert "Inception FID" not in markdown
    summary = pd.read_csv(paths["csv"])
    assert summary["inception_fid"].isna().all()


def test_failed_and_diverged_runs_are_listed_with_log(built):
    out, paths = built
    markdown = paths["markdown"].read_text()
    section = markdown.split("## Failed, diverged and unfinished runs", 1)[1]
    assert "dcgan-pytorch-seed2" in section and "boom on purpose" in section
    assert "wgan-keras-tensorflow-seed2" in section and "diverged" in section


def test_a_completed_run_without_readable_scores_is_listed_as_not_evaluated(tmp_path):
    """Whatever suite.json recorded: a torn eval.json gave an empty Quality row, not "every run was evaluated"."""
    from benchmark.report.document import Document
    out = fabricate_suite(tmp_path / "suite", seeds=(0,), failing=False)
    (out / RUNS_DIR / "dcgan-pytorch-seed0" / ev.EVAL_FILE).write_text('{"mnist": {"fid": 2')
    doc = Document(out)
    sections.problems_section(doc, collect(out))
    [listing] = [block[1] for block in doc.blocks if block[0] == "table"]
    assert list(listing["run"]) == ["dcgan-pytorch-seed0"]
    assert list(listing["problem"]) == ["trained, but not evaluated (no readable eval.json)"]


def test_parity_section(built):
    out, paths = built
    markdown = paths["markdown"].read_text()
    assert "parity_drift.png" in markdown and "BatchNorm momentum in PyTorch's convention" in markdown
    assert "Keras (jax) vs PyTorch" in markdown and "keras_same_max_abs_diff" in markdown
    drift = tables.lockstep_table({"backends": {"tensorflow": {"per_step": [
        {"step": 1, "g_loss_abs_diff": 1.0}, {"step": 5, "g_loss_abs_diff": 3.0}, {"step": 9, "g_loss_abs_diff": 2.0}]}}})
    assert list(drift["iteration"]) == [1, 9] and list(drift["g_loss_abs_diff"]) == [1.0, 2.0]


def test_single_seed_says_not_applicable(tmp_path):
    out = fabricate_suite(tmp_path / "one", seeds=(0,), failing=False)
    paths = report.build_report(out, tmp_path / "no-parity")
    markdown = paths["markdown"].read_text()
    assert "n/a (1 seed)" in markdown
    assert "None: every planned run completed" in markdown
    assert "No parity results" in markdown


@pytest.mark.parametrize("values, expected", [([], "—"), ([3.0], "3"), ([1.0, 3.0], "2 ± 1.4")])
def test_mean_std(values, expected):
    assert report_stats.mean_std(np.array(values)) == expected


def test_welch_edge_cases():
    assert report_stats.welch(np.array([1.0]), np.array([1.0, 2.0]))[0] is None
    assert report_stats.welch(np.array([1.0, 1.0]), np.array([1.0, 1.0]))[0] == 1.0
    p, text = report_stats.welch(np.array([1.0, 1.1, 0.9]), np.array([5.0, 5.1, 4.9]))
    assert p < report_stats.ALPHA and "significant" in text


def _write_references(out: Path, real_fid: float, noise_fid: float, num_samples: int = 500) -> None:
    real = _eval_json(real_fid, "", "", 0)
    noise = _eval_json(noise_fid, "", "", 0)
    noise[ev.KEY_COVERAGE][ev.KEY_DIGITS_COVERED] = 4
    noise[ev.KEY_CLASSIFIER][ev.KEY_RECALL] = 0.0
    runs.write_json(out / ev.REFERENCES_DIR / ev.reference_file_name(num_samples, 10_000),
                    {ev.KEY_NUM_SAMPLES: num_samples, ev.KEY_SETS: {ev.REFERENCE_REAL: real, ev.REFERENCE_NOISE: noise}})


def test_reference_rows_saturation_paired_and_verdict(tmp_path):
    out = fabricate_suite(tmp_path / "refs", seeds=(0, 1), failing=False)
    # FIDs: PyTorch 23, 24 (mean 23.5 = 26 % of 90), Keras 20, 21 (20.5 = 23 % of 90); precision 0.7 everywhere.
    _write_references(out, real_fid=5.0, noise_fid=90.0)
    recorded = runs.read_json(out / SUITE_FILE)
    recorded["profile"] |= {"left_out": {"wgan-gp": "too slow on a CPU", "dcgan": "not left out: it ran"},
                            "epochs": None, "budget": "generator_updates"}
    runs.write_json(out / SUITE_FILE, recorded)
    data = collect(out)
    table = tables.comparison_table(data, "dcgan", columns.QUALITY, with_references=True).set_index("metric")
    assert table.loc["classifier FID ↓", tables.REAL_LABEL] == "5"
    assert table.loc["classifier FID ↓", tables.NOISE_LABEL] == "90"
    assert "precision (classifier features) ↑ (saturated)" in table.index  # noise's precision equals the real one
    assert "recall (classifier features) ↑" in table.index
    versus = "Keras (TensorFlow) − PyTorch"
    assert table.loc["classifier FID ↓", f"paired Δ {versus}: mean [95 % CI] or range"] == \
        "-3, range [-3, -3]; per seed 0: -3, 1: -3"  # 2 pairs: no bootstrap interval
    assert table.loc["classifier FID ↓", f"paired test {versus}"] == \
        "paired t: p ≈ 0 (the same difference every seed)"
    markdown = report.build_report(out, tmp_path / "no-parity")["markdown"].read_text()
    section = markdown.split("## Model `dcgan`", 1)[1].split("## Model `wgan`")[0]
    # graded run by run on the log scale from real (5) to noise (90): 23 and 24 lie past its middle (FID 21.2)
    assert "PyTorch: **rough digits** (seed 0: classifier FID 23, position 0.53, largest class 10.0%, " \
           "smallest 10.0%; " \
           "seed 1: classifier FID 24, position 0.54" in section
    assert "Keras (TensorFlow): **digits** (seed 0: classifier FID 20, position 0.48" in section
    assert "`python benchmark/run_all.py --profile full --models dcgan`" not in section  # offered when under-trained
    assert "Wilcoxon" in markdown and "bootstrap" in markdown
    assert "With 2 paired seeds a paired t-test at p < 0.05 detects, 80% of the time, only a mean difference of at " \
           "least 11.5 standard deviations" in markdown
    assert "Left out of this profile: **wgan-gp** — too slow on a CPU." in markdown
    assert "not left out" not in markdown  # a model that ran is not listed as left out
    assert "Training budget across models: equal in generator updates" in markdown


def test_without_reference_rows_the_report_says_how_to_compute_them(built):
    out, paths = built
    markdown = paths["markdown"].read_text()
    assert "No reference rows were found" in markdown and "python -m benchmark.references" in markdown
    assert tables.REAL_LABEL not in markdown


def test_records_of_earlier_plans_without_folders_are_left_out(tmp_path):
    out = fabricate_suite(tmp_path / "old", seeds=(0,), failing=False)
    recorded = runs.read_json(out / SUITE_FILE)
    recorded["runs"]["lsgan-pytorch-seed0"] = {"name": "lsgan-pytorch-seed0", "model": "lsgan", "framework": "pytorch",
                                               "seed": 0, "run_dir": f"{RUNS_DIR}/lsgan-pytorch-seed0",
                                               "status": "completed"}
    runs.write_json(out / SUITE_FILE, recorded)
    data = collect(out)
    assert "lsgan" not in data.models and len(data.table) == len(MODELS) * len(FRAMEWORKS)


def test_cli_as_module(tmp_path):
    from benchmark.report.__main__ import main
    out = fabricate_suite(tmp_path / "cli", seeds=(0,), failing=False)
    assert main([str(out), "--parity-dir", str(tmp_path / "none")]) == 0
    assert (out / "report.md").is_file() and (out / "summary.csv").is_file()
    assert main([str(tmp_path / "missing")]) == 2


def test_pairing_checks_the_initial_weight_fingerprints(tmp_path):
    out = fabricate_suite(tmp_path / "pairs", seeds=(0, 1), failing=False)
    text = tables.pairing(collect(out), "dcgan")
    assert text.startswith("Pairing checked") and "0 (00dcgan00000)" in text and "1 (01dcgan00000)" in text
    config_path = out / RUNS_DIR / "dcgan-keras-tensorflow-seed1" / runs.CONFIG
    config = runs.read_json(config_path)
    config["environment"]["initial_weights"]["sha256"] = "f" * 64
    runs.write_json(config_path, config)
    text = tables.pairing(collect(out), "dcgan")
    assert text.startswith("**Not paired**") and "seed 1: PyTorch 01dcgan00000, Keras (TensorFlow) ffffffffffff" in text
    assert "Paired seeds: 0 (00dcgan00000)." in text
    markdown = report.build_report(out, tmp_path / "no-parity")["markdown"].read_text()
    assert "**Not paired**" in markdown.split("## Model `dcgan`", 1)[1].split("## Model `wgan`")[0]
    assert "Pairing checked" in markdown.split("## Model `wgan`", 1)[1]
    assert "| compiled | GPU stack | precision |" in markdown  # CUDA / cuDNN per framework ("—" on a CPU)


def _conditional_block(accuracy: float, worst_digit: int, worst_accuracy: float, intra: float, worst_fid_digit: int,
                       worst_fid: float) -> dict:
    per_class = [accuracy] * 10
    per_class[worst_digit] = worst_accuracy
    fids = [intra] * 10
    fids[worst_fid_digit] = worst_fid
    return {ev.KEY_ACCURACY: accuracy, ev.KEY_PER_CLASS_ACCURACY: per_class, ev.KEY_INTRA_FID: float(np.mean(fids)),
            ev.KEY_INTRA_FID_PER_CLASS: fids, ev.KEY_WORST_CLASS: worst_fid_digit}


CGAN_ACCURACY = {("pytorch", 0): 0.95, ("pytorch", 1): 0.96, ("keras-tensorflow", 0): 0.87,
                 ("keras-tensorflow", 1): 0.93}


def fabricate_conditional_suite(out: Path) -> Path:
    """Two seeds of dcgan, and of cgan as a conditional run writes them: a spec with a conditioning, the eval.json
    conditional block, class grids (10 rows), samples with their labels."""
    out = fabricate_suite(out, seeds=(0, 1), failing=False, models=("dcgan",))
    suite = runs.read_json(out / SUITE_FILE)
    for (framework, seed), accuracy in CGAN_ACCURACY.items():
        name = f"cgan-{framework}-seed{seed}"
        run_dir = out / RUNS_DIR / name
        fabricate_run(run_dir, "cgan", framework, seed, fid=15.0)
        config = runs.read_json(run_dir / runs.CONFIG)
        runs.write_json(run_dir / runs.CONFIG, config | {"spec": {"conditioning": {"encoding": "embedding"}}})
        evaluation = runs.read_json(run_dir / ev.EVAL_FILE)
        evaluation[ev.KEY_CONDITIONAL] = _conditional_block(accuracy, 8, accuracy - 0.1, 30.0, 5, 60.0)
        runs.write_json(run_dir / ev.EVAL_FILE, evaluation)
        rng = np.random.default_rng(seed)
        for grid in (run_dir / runs.GRIDS).glob("*.png"):
            grid.unlink()
        for step in (20, 40):
            runs.save_png(run_dir / runs.GRIDS / runs.step_name(step, ".png"),
                          runs.image_grid(rng.integers(0, 255, (80, 28, 28), dtype=np.uint8)))
        runs.write_npz(run_dir / runs.SAMPLES, images=rng.integers(0, 255, (100, 28, 28), dtype=np.uint8),
                       labels=np.arange(100) % 10)
        suite["plan"].append(name)
        suite["runs"][name] = {"name": name, "model": "cgan", "framework": framework, "seed": seed, "steps": 40,
                               "run_dir": f"{RUNS_DIR}/{name}", "status": "completed", "exit_code": 0,
                               "eval_exit_code": 0}
    runs.write_json(out / SUITE_FILE, suite)
    _write_references(out, real_fid=5.0, noise_fid=90.0)
    path = out / ev.REFERENCES_DIR / ev.reference_file_name(500, 10_000)
    references = runs.read_json(path)
    references[ev.KEY_SETS][ev.REFERENCE_REAL][ev.KEY_CONDITIONAL] = _conditional_block(0.99, 9, 0.97, 8.0, 9, 12.0)
    references[ev.KEY_SETS][ev.REFERENCE_NOISE][ev.KEY_CONDITIONAL] = _conditional_block(0.1, 0, 0.0, 300.0, 0, 350.0)
    runs.write_json(path, references)
    return out


def test_conditional_runs_are_reported_with_accuracy_intra_class_fid_and_class_grids(tmp_path):
    out = fabricate_conditional_suite(tmp_path / "conditional")
    paths = report.build_report(out, tmp_path / "no-parity")
    summary = pd.read_csv(paths["csv"]).set_index("run")
    keras0 = summary.loc["cgan-keras-tensorflow-seed0"]
    assert keras0[columns.ACCURACY] == pytest.approx(0.87) and keras0[columns.WORST_ACCURACY_CLASS] == 8
    assert keras0[columns.WORST_INTRA_FID_CLASS] == 5 and keras0[columns.WORST_INTRA_FID] == pytest.approx(60.0)
    # graded by the same rule, run by run: FID 15 is digits, but 87 % of the requested digit is not
    assert keras0[columns.GRADE] == "under-trained" and summary.loc["cgan-pytorch-seed0", columns.GRADE] == "digits"
    unconditional = summary[summary["model"] != "cgan"]
    assert not unconditional[columns.CONDITIONAL].any() and summary.loc["cgan-pytorch-seed1", columns.CONDITIONAL]
    assert unconditional[list(columns.CONDITIONAL_COLUMNS[1:])].isna().all().all()  # empty, never 0

    markdown = paths["markdown"].read_text()
    section = markdown.split("## Model `cgan`", 1)[1].split("\n## ")[0]
    assert "requested-class accuracy ↑" in section and "intra-class classifier FID (mean over classes) ↓" in section
    rows = {line.split("|")[1].strip(): line for line in section.splitlines() if line.startswith("| ")}
    real = rows["real training images, their true labels (floor)"]
    assert "| 99.0% | class 9: 97.0% | 8.4 | class 9: 12 | 5 |" in real
    assert "| 10.0% | class 0: 0.0% |" in rows["uniform noise, the evaluation labels (ceiling)"]
    assert "| 87.0% | class 8: 77.0% | 33 | class 5: 60 | 15 |" in rows["Keras (TensorFlow), seed 0"]
    assert rows["Keras (TensorFlow), seed 0"].endswith("| under-trained |")
    assert ("seed 0: classifier FID 15, position 0.38, largest class 10.0%, smallest 10.0%, requested class 87.0%"
            in section)
    assert "at least 90% of its samples" in markdown  # the rule, stated with the others
    assert "digits: FID 15, 15; requested class 95.0%, 96.0%" in markdown.split("## Summary", 1)[1]
    assert not re.search("requested.class|intra-class", markdown.split("## Model `dcgan`", 1)[1].split("\n## ")[0])

    names = {p.name for p in paths["plots"].iterdir()}
    assert {"class_grids_cgan.png", "class_grids_cgan.gif"} <= names
    assert not {"samples_cgan.png", "progress_cgan.gif"} & names and "progress_dcgan.gif" in names
    gif = Image.open(paths["plots"] / "class_grids_cgan.gif")
    assert gif.n_frames == 2 and gif.height >= 10 * 30  # every digit's row, not the first rows of a grid
    with np.load(out / "samples" / "cgan-pytorch-seed0.npz") as stored:
        assert np.array_equal(stored["labels"], np.arange(100) % 10)


def test_an_unconditional_report_has_no_conditional_part(built):
    out, paths = built
    markdown = paths["markdown"].read_text()
    assert not re.search("requested.class|intra-class|class_grids|Conditional", markdown)
    summary = pd.read_csv(paths["csv"])
    assert not summary[columns.CONDITIONAL].any()
    assert summary[list(columns.CONDITIONAL_COLUMNS[1:])].isna().all().all()


# ------------------------------------------------------------------- names before the classifier was per data set

RESULTS = Path(__file__).resolve().parents[1] / "results"


def test_files_with_the_old_mnist_names_are_read_under_the_new_ones(tmp_path):
    old = pd.read_csv(RESULTS / "quick" / "summary.csv")  # committed before the rename
    summary = collect_module.read_summary(RESULTS / "quick" / "summary.csv")
    assert "mnist_fid" in old and "mnist_fid" not in summary
    assert summary["classifier_fid"].tolist() == old["mnist_fid"].tolist()
    assert summary["curve_last_classifier_fid"].tolist() == old["curve_last_mnist_fid"].tolist()
    (path,) = (RESULTS / "quick" / ev.REFERENCES_DIR).glob("*.json")
    block = json.loads(path.read_text())[ev.KEY_SETS][ev.REFERENCE_REAL]  # an eval.json-like block, old names
    columns_read = collect_module.eval_columns(block)
    assert columns_read[columns.CLASSIFIER_FID] == block["mnist"]["fid"] > 0
    assert ev.upgraded(block)[ev.KEY_DATASET] == "mnist"
    assert ev.upgraded(block)[ev.KEY_VERSIONS][ev.KEY_CLASSIFIER_SHA256] == block["versions"]["mnist_classifier_sha256"]
    assert ev.upgraded_curve([{"step": 10, "mnist_fid": 3.5}]) == [{"step": 10, ev.KEY_CLASSIFIER_FID: 3.5}]
    # a run folder written before: its curve and scores reach the table and the plots
    out = fabricate_suite(tmp_path / "old", seeds=(0,), failing=False, models=("dcgan",))
    for run_dir in (out / RUNS_DIR).iterdir():
        evaluation = json.loads((run_dir / ev.EVAL_FILE).read_text())
        evaluation["mnist"] = evaluation.pop(ev.KEY_CLASSIFIER)
        (run_dir / ev.EVAL_FILE).write_text(json.dumps(evaluation))
        curve = [{"mnist_fid" if k == ev.KEY_CLASSIFIER_FID else k: v for k, v in point.items()}
                 for point in json.loads((run_dir / ev.CURVE_FILE).read_text())]
        (run_dir / ev.CURVE_FILE).write_text(json.dumps(curve))
    table = collect(out).table.set_index("run")
    assert table.loc["dcgan-pytorch-seed0", columns.CLASSIFIER_FID] == pytest.approx(23.0)
    assert table.loc["dcgan-pytorch-seed0", columns.CURVE_LAST_FID] == pytest.approx(23.0)


def test_a_cifar10_report_names_its_data_set_grades_images_and_puts_inception_first(tmp_path):
    out = fabricate_suite(tmp_path / "cifar", seeds=(0,), failing=False, models=("dcgan",))
    recorded = runs.read_json(out / SUITE_FILE)
    runs.write_json(out / SUITE_FILE, recorded | {"dataset": "cifar10"})
    for run_dir in (out / RUNS_DIR).iterdir():
        evaluation = json.loads((run_dir / ev.EVAL_FILE).read_text())
        evaluation[ev.KEY_INCEPTION] |= {ev.KEY_AVAILABLE: True, ev.KEY_REASON: None, ev.KEY_OFFICIAL_WEIGHTS: True,
                                         ev.KEY_FID: 40.0, ev.KEY_IS_MEAN: 5.0, ev.KEY_IS_STD: 0.1,
                                         ev.KEY_KID_MEAN: 0.03, ev.KEY_KID_STD: 0.001}
        (run_dir / ev.EVAL_FILE).write_text(json.dumps(evaluation))
    _write_references(out, real_fid=5.0, noise_fid=90.0)
    paths = report.build_report(out, tmp_path / "no-parity")
    markdown = paths["markdown"].read_text()
    assert markdown.startswith("# GAN benchmark on CIFAR-10: PyTorch vs Keras 3")
    assert "<title>GAN benchmark on CIFAR-10 — quick</title>" in paths["html"].read_text()
    assert "**real training images** (a seeded sample of CIFAR-10's training set" in markdown
    assert "`python -m benchmark.classifier train --dataset cifar10`" in markdown
    assert not re.search(r"(?<!hex )\bdigits?\b", markdown, re.IGNORECASE)
    quality = markdown.split("### Quality", 1)[1].split("\n\n", 2)[1]
    metrics = [line.split("|")[1].strip() for line in quality.splitlines()[2:]]
    assert metrics[:4] == ["Inception FID ↓", "Inception IS ↑", "Inception KID ↓", "classifier FID ↓"]
    grades = pd.read_csv(paths["csv"]).set_index("run")[columns.GRADE]
    assert (grades["dcgan-keras-tensorflow-seed0"], grades["dcgan-pytorch-seed0"]) == ("images", "rough images")
