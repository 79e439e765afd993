"""The report's prose sections: environment, set-up, how to read the tables, parity, problems."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from benchmark import eval_format as ev
from benchmark import runs
from benchmark.report.collect import SuiteData, read_json, suite_profile
from benchmark.report import grading
from benchmark.report.columns import CLASSIFIER_FID, NUM_SAMPLES_SCORED, OTHER_CPU_SHARE, PRETTY
from benchmark.report.document import Document
from benchmark.report.plots import plot_lockstep
from benchmark.report.stats import (ALPHA, BOOTSTRAP_RESAMPLES, CONFIDENCE, INTERVAL_MIN_PAIRS, PAIRED_T_BELOW,
                                    SATURATION_SHARE, SIGNIFICANCE_MIN_PAIRS, detectable_text, number)
from benchmark.report.tables import SATURATED, audit_tables, lockstep_table

DEFAULT_PARITY_DIR = Path(__file__).resolve().parents[2] / "results" / "parity"
LOCKSTEP_FILE, DEFAULTS_AUDIT_FILE = "lockstep.json", "defaults_audit.json"
CONTENTION_SHARE = 0.10  # CPU share of other processes above which a run's timings are flagged


def environment_section(doc: Document, data: SuiteData) -> None:
    env = data.suite.get("environment", {})
    doc.heading(2, "Environment")
    gpus = env.get("gpus")
    items = [f"CPU: {env.get('cpu', '?')} ({env.get('cpu_count', '?')} logical cores)",
             f"GPU: {'; '.join(gpus) if gpus else 'none'}"
             + (f" (NVIDIA driver {env['gpu_driver']})" if env.get("gpu_driver") else ""),
             f"Platform: {env.get('platform', '?')}, Python {env.get('python', '?')}",
             "Versions: " + ", ".join(f"{k} {v}" for k, v in env.get("versions", {}).items() if v),
             f"Code: git commit `{env.get('git_commit') or 'unknown'}`"]
    doc.bullets([i for i in items if not i.endswith("?")])
    rows = []
    for framework in data.frameworks:
        frame = data.table[data.table["framework"] == framework]
        config = {}
        for name in frame["run"]:
            if name in data.run_dirs:
                config = read_json(data.run_dirs[name] / runs.CONFIG, {})
                if config:
                    break
        described = config.get("environment", {})
        if not described:
            continue
        precision = described.get("precision", {})
        rows.append({"framework": PRETTY.get(framework, framework),
                     "versions": ", ".join(f"{k} {v}" for k, v in (described.get("versions") or {}).items()),
                     "device": f"{described.get('device')} ({described.get('device_name')})",
                     "determinism": described.get("determinism"),
                     "compiled": described.get("compiled", described.get("jit_compile")),
                     "GPU stack": ", ".join(f"{k} {v}" for k, v in (described.get("accelerator") or {}).items()
                                            if v) or "—",
                     "precision": ", ".join(f"{k}={v}" for k, v in precision.items())
                     if isinstance(precision, dict) else precision})
    doc.table(pd.DataFrame(rows))


def setup_section(doc: Document, data: SuiteData) -> None:
    recorded = data.suite.get("profile", {})
    profile = suite_profile(data.suite)
    options = data.suite.get("options", {})
    doc.heading(2, "Set-up")
    length = profile.length_text() if profile else "?"
    steps = data.table.groupby("model")["steps_planned"].first().dropna() if "steps_planned" in data.table else {}
    if profile and profile.model_steps and profile.steps is None:
        steps = {}  # the length text lists them already
    threads = options.get("threads")
    doc.bullets([
        f"Profile **{recorded.get('name', '?')}**: {recorded.get('description', '')}; training length {length}"
        + (f" ({', '.join(f'{m} {int(s)}' for m, s in steps.items())} iterations)" if len(steps) else "")
        + (f", batch size {recorded['batch_size']}" if recorded.get("batch_size") else ", the spec's batch size"),
        f"Training budget across models: {profile.budget_text() if profile else '?'}.",
        f"Seeds: {', '.join(map(str, options.get('seeds', [])))}; device requested: {options.get('device', '?')}; "
        f"{options.get('jobs', 1)} training process(es) at a time"
        + (f", {threads} CPU thread(s) each" if threads else "")
        + (" — **timings perturbed by parallel runs**: compare them within this suite only"
           if options.get("jobs", 1) > 1 else ""),
        f"Scored samples per run: {recorded.get('num_samples')} from the fixed evaluation noise, against the first "
        f"{recorded.get('reference_count') or ev.DEFAULT_REFERENCE_COUNT:,} {data.dataset_title} test images; curve "
        "points: "
        f"{recorded.get('curve_samples')} samples each",
        *(f"Left out of this profile: **{model}** — {reason}." for model, reason in
          (recorded.get("left_out") or {}).items() if model not in data.models),
        "Every training run and every evaluation ran in its own process; the frameworks never shared one.",
        f"Suite started {data.suite.get('started', '?')}, last updated {data.suite.get('updated', '?')}, "
        f"state: {data.suite.get('state', '?')}",
    ])
    share = pd.to_numeric(data.table.get(OTHER_CPU_SHARE, pd.Series(dtype=float)), errors="coerce").dropna()
    if len(share):
        busy = data.table.loc[share[share > CONTENTION_SHARE].index, "run"]
        text = (f"Other processes used {share.median():.0%} (median) and at most {share.max():.0%} of the machine's "
                "CPU while the runs trained (column `other_cpu_share` of the CSV).")
        if len(busy):
            text += (f" **{len(busy)} run(s) trained while other processes used more than {CONTENTION_SHARE:.0%} of "
                     f"the CPU** ({', '.join(busy)}): their timings measure the contention as much as the framework.")
        doc.text(text)


def problems_section(doc: Document, data: SuiteData) -> None:
    table = data.table
    bad = table[~table["status"].isin([runs.COMPLETED])]
    exit_failed = pd.to_numeric(table["eval_exit_code"], errors="coerce").fillna(0) != 0
    unscored = ~table["evaluated"].astype(bool)  # no readable eval.json, whatever the suite recorded
    eval_failed = table[(table["status"] == runs.COMPLETED) & (exit_failed | unscored)]
    doc.heading(2, "Failed, diverged and unfinished runs")
    if bad.empty and eval_failed.empty:
        doc.text("None: every planned run completed and was evaluated.")
        return
    doc.text("Runs that did not complete are left out of every mean above (a diverged run has no final samples; "
             "its curve and losses are still plotted up to the divergence); each is listed with its exit status "
             "and the last lines of its log.")
    listing = pd.concat([bad, eval_failed]).copy()
    listing["problem"] = [_problem(row) for _, row in listing.iterrows()]
    columns = [c for c in ("run", "problem", "steps_done", "steps_planned") if c in listing]
    doc.table(listing[columns])
    for _, row in listing.iterrows():
        tail = row.get("log_tail")
        if isinstance(tail, str) and tail:
            doc.text(f"`{row['run']}` ({row['problem']}), last lines of its log:")
            doc.code(tail)


def _problem(row: pd.Series) -> str:
    status = row.get("status")
    exit_text = row.get("exit") if isinstance(row.get("exit"), str) else None
    if status == runs.COMPLETED:
        code = row.get("eval_exit_code")
        if pd.isna(code) or code == 0:
            return "trained, but not evaluated (no readable eval.json)"
        return f"trained, but its evaluation failed (exit {int(code)})"
    if status == "pending":
        return "not started (the suite was stopped)"
    if status == runs.DIVERGED:
        return f"diverged (non-finite loss) [{exit_text or 'exit 3'}]"
    return f"{status} [{exit_text}]" if exit_text else str(status)


def grade_rule(data: SuiteData) -> str:
    """The grading rule with its thresholds in this suite's FID units (``grading.rule_text``)."""
    real = data.references.get(ev.REFERENCE_REAL, {})
    noise = data.references.get(ev.REFERENCE_NOISE, {})
    if real.get(CLASSIFIER_FID) is None or noise.get(CLASSIFIER_FID) is None:
        return "runs are graded against the reference rows, which are missing here: no grades."
    return grading.rule_text(real[CLASSIFIER_FID], noise[CLASSIFIER_FID], real.get(NUM_SAMPLES_SCORED),
                             conditional=bool(data.conditional_models), subject=data.images, unit=data.unit)


def reference_bullets(data: SuiteData) -> list[str]:
    """How to read the reference columns, the saturation mark, the verdict and the paired statistics."""
    if data.references:
        real = data.references.get(ev.REFERENCE_REAL, {})
        references = (f"Reference columns, scored like the runs ({number(real.get(NUM_SAMPLES_SCORED))} images, the "
                      f"same classifier, the same test images): **real training {data.images}** (a seeded sample "
                      f"of {data.dataset_title}'s training set: the best a generator can score at this sample "
                      "count) and **uniform noise** (independent pixels in [0, 255]: a generator that learnt nothing).")
    else:
        references = ("No reference rows were found for this sample count: compute them with `python -m "
                      f"benchmark.references {data.out.as_posix()}/{ev.REFERENCES_DIR} --num-samples N`.")
    return [
        references,
        f"A metric marked ({SATURATED}) cannot tell uniform noise from real {data.images} at this sample count (noise "
        f"within the metric's spread of the real value, or at least {SATURATION_SHARE:.0%} of it where higher is "
        "better): do not read it.",
        "Verdict: " + grade_rule(data),
        "Paired comparison: with the same seed both frameworks start from the same weights and see the same "
        "batches and noise, so each seed gives one difference (Keras − PyTorch). The table shows the mean "
        f"difference and every seed's difference; from {INTERVAL_MIN_PAIRS} pairs on with a {CONFIDENCE:.0%} "
        f"percentile bootstrap interval ({BOOTSTRAP_RESAMPLES:,} resamples, seeded), below that with the range of the "
        "differences instead (with 2 pairs a bootstrap interval is just the two differences and covers the true "
        "mean about half the time). A two-sided paired test: the paired t-test below "
        f"{PAIRED_T_BELOW} pairs, Wilcoxon's signed-rank test from {PAIRED_T_BELOW} on (it cannot reach p < 0.05 "
        f"with fewer); both need at least 2 pairs, and no result from fewer than {SIGNIFICANCE_MIN_PAIRS} pairs is "
        "called significant. " + detectable_text(_pairs(data)),
    ]


def _pairs(data: SuiteData) -> int:
    """The suite's planned seeds: the pairs its paired tests have when every run completed."""
    return len(data.suite.get("options", {}).get("seeds") or []) or int(data.table["seed"].nunique())


def inception_note(data: SuiteData) -> str | None:
    table = data.table
    if "inception_available" not in table or table["inception_available"].isna().all():
        return None
    official = table.get("inception_official_weights")
    if table["inception_available"].fillna(False).astype(bool).any():
        if official is not None and not official.fillna(False).astype(bool).all():
            return "Inception metrics were computed with unofficial weights in some runs and are not reported."
        return None
    reasons = table["inception_reason"].dropna().unique()
    return ("Inception metrics (FID, IS, KID on Inception-v3 features): **not computed** — "
            + ("; ".join(reasons) if len(reasons) else "no reason recorded")
            + ". They are left blank, never zero.")


def parity_section(doc: Document, parity_dir: Path, plots: Path) -> None:
    doc.heading(2, "Parity: the two implementations in lockstep")
    lockstep = read_json(parity_dir / LOCKSTEP_FILE)
    audit = read_json(parity_dir / DEFAULTS_AUDIT_FILE)
    if lockstep is None and audit is None:
        doc.text(f"No parity results in `{parity_dir}`: run `python -m benchmark.parity lockstep` and "
                 "`python -m benchmark.parity audit`, then `python -m benchmark.report` again.")
        return
    if lockstep is not None:
        details = ""
        if isinstance(lockstep, dict):
            details = ", ".join(f"{k} {lockstep[k]}" for k in ("model", "steps", "batch_size", "seed") if k in lockstep)
        note = lockstep.get("note") if isinstance(lockstep, dict) else None
        doc.text(f"`{LOCKSTEP_FILE}` ({details}): "
                 + (note or "both frameworks start from the same weights and consume the same batches and noise")
                 + ". The drift is how far their losses and generator weights are apart after each iteration.")
        doc.image(plot_lockstep(lockstep, plots / "parity_drift.png"), "Lockstep drift between PyTorch and Keras")
        doc.table(lockstep_table(lockstep))
    if audit is not None:
        doc.heading(3, "Framework defaults that differ, measured, and how the spec neutralises them")
        doc.text(f"From `{DEFAULTS_AUDIT_FILE}` (`python -m benchmark.parity audit`).")
        for title, table in audit_tables(audit):
            if title not in ("", "overview"):
                doc.text(f"**{title.replace('_', ' ')}**:")
            doc.table(table)


def reading_section(doc: Document, data: SuiteData) -> None:
    """How to read the tables: cells, tests, metrics, timing, curves, references, verdict, paired statistics."""
    doc.heading(2, "How to read the tables")
    doc.bullets([
        "Each cell: mean ± standard deviation (ddof 1) over seeds; the column header gives the number of "
        "completed runs (seeds), and a cell with fewer values says (n=k). ↓ lower is better, ↑ higher is better.",
        f"Significance: Welch's two-sided t-test (unequal variances, scipy.stats.ttest_ind(equal_var=False)) between "
        f"the frameworks' per-seed values, marked significant at p < {ALPHA} from {SIGNIFICANCE_MIN_PAIRS} seeds per "
        "framework on (a p-value from 2 is shown, never called), and never for the timings of runs that shared the "
        "machine (trained side by side: the speed verdict comes from the speed phase, not from these). It needs at "
        "least two seeds per framework (n/a otherwise); with three seeds it detects only large differences, and no "
        "correction for the many tests is applied.",
        f"Classifier FID / IS / KID / precision / recall use the features of the project's {data.dataset_title} "
        f"classifier (`{ev.train_classifier_command(data.dataset)}`; in-domain, the more informative on "
        f"{data.images}); Inception metrics use torch-fidelity's Inception-v3. KID is ×1 (not ×1000).",
        "Coverage: the classifier's predicted class of every sample; a class is covered with at least 1 % of the "
        "samples; KL to uniform is 0 for a balanced set, ln 10 = 2.30 for a single class.",
        "Timing: training seconds exclude sample grids, evaluation sample sets and checkpoints. Keras compiles its "
        "training iteration (tf.function / XLA or jax.jit) before the first one, timed as compile (part of set-up); "
        "PyTorch runs eagerly (no compile: —). Warm-up is the first 5 iterations of the process (tracing left over, "
        "allocator growth); steady state is every later iteration, timed after a device sync. Images/s counts real "
        "images consumed (WGAN and WGAN-GP: 5 critic batches per iteration).",
        "Curves: classifier FID of the smaller evaluation sets saved during training, so they are comparable with each "
        "other, not with the final table (FID depends on the sample count).",
    ] + ([conditional_metrics_text(data)] if data.conditional_models else []) + reference_bullets(data))


def conditional_metrics_text(data: SuiteData) -> str:
    return (
        "Conditional models: each scored sample was generated for a requested class (the evaluation labels 0, 1, ..., "
        "9 in turn: a tenth of the samples each). **Requested-class accuracy**: the share of samples the classifier "
        "reads as the class requested, overall and for the worst class. **Intra-class classifier FID**: the FID of "
        "each requested class's samples against that class's test images, averaged over the ten classes, with the "
        "worst class named; each class has a tenth of the samples, so it is higher than the whole set's FID, and is "
        f"read against the reference rows' (real training {data.images} with their true labels, uniform noise with "
        "the evaluation labels). The unconditional metrics score the whole set as for every model. Class grids: row "
        "c requests class c, each column one noise vector in every row.")
