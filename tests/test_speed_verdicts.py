"""The report's speed verdicts from a speed phase's speed.json: default modes, fastest paths, overlapping
intervals, and the section in the report."""
from __future__ import annotations

from benchmark import report, runs
from benchmark.report import speed_verdicts, summary
from benchmark.speed import SPEED_DIR, SPEED_JSON
from test_report import fabricate_suite  # the report's fabricated run folders


def _row(framework: str, family: str, median: float, low: float, high: float, model: str = "dcgan",
         process_medians: tuple[float, ...] = ()) -> dict:
    windows = [{"ms_per_iteration": value, "discarded": False, "contended": False} for value in (low, median, high)]
    windows.append({"ms_per_iteration": 10 * high, "discarded": True, "contended": True})  # retimed: not spread
    return {"model": model, "framework": framework, "family": family, "batch_size": 64, "status": "ok",
            "median_ms": median, "ci_low_ms": low, "ci_high_ms": high, "ci_confidence": 0.94,
            "iterations_per_second": 1000 / median, "compile_seconds": None if framework == "pytorch-eager" else 9.5,
            "times_floor": 1000.0, "floor": "empty step", "windows": windows, "contended_windows": 0,
            "process_medians_ms": list(process_medians)}


def _speed(rows: list[dict]) -> dict:
    return {"environment": {"cpu": "Test CPU", "cpu_count": 2, "gpus": [], "threads": 1},
            "settings": {"windows": 5, "iterations_per_window": 10, "warmup_iterations": 5,
                         "contention_threshold": 0.1, "retries": 2},
            "results": rows, "skipped": [{"framework": "pytorch-reduce-overhead", "reason": "needs a GPU"}]}


ROWS = [_row("pytorch-eager", "pytorch", 100.0, 95.0, 105.0), _row("pytorch-compile", "pytorch", 80.0, 78.0, 82.0),
        _row("keras-tf-xla", "keras", 50.0, 48.0, 52.0), _row("keras-tf-graph", "keras", 60.0, 55.0, 65.0),
        _row("keras-jax-jit", "keras", 102.0, 90.0, 110.0)]


def test_default_and_fastest_verdicts_with_their_intervals():
    [line] = speed_verdicts.verdicts(_speed(ROWS))
    default, fastest = line.split("**Each on its fastest path**")
    # PyTorch eager 100 vs Keras-TF XLA 50: ratio 0.5, interval [48/105, 52/95] = [0.46, 0.55]
    assert ("**Keras (TensorFlow)** is 2.00× faster (PyTorch 100.00 vs Keras (TensorFlow) 50.00 ms/iteration, "
            "Keras/PyTorch time ratio 0.50 [0.46, 0.55])") in default
    # PyTorch eager vs Keras-JAX: 102 vs 100 with overlapping intervals: no winner named
    assert "no clear difference (PyTorch 100.00 vs Keras (JAX) 102.00" in default and "overlap" in default
    # fastest: PyTorch compile 80 vs Keras-TF XLA 50
    assert fastest.startswith(" (PyTorch (compile), Keras (TensorFlow))")
    assert "**Keras (TensorFlow)** is 1.60× faster (PyTorch (compile) 80.00" in fastest


def test_keras_fit_stands_for_keras_by_default_with_the_cost_of_the_idiom():
    rows = [*ROWS[:2], _row("keras-tf-xla", "keras", 50.0, 48.0, 52.0, process_medians=(49.0, 51.0)), *ROWS[3:],
            _row("keras-tf-fit", "keras", 65.0, 60.0, 70.0, process_medians=(63.0, 68.0))]
    [line] = speed_verdicts.verdicts(_speed(rows))
    default, fastest = line.split("**Each on its fastest path**")
    assert "**as users run them by default** (PyTorch: its eager loop; Keras: Model.fit): " in default
    # PyTorch eager 100 [95, 105] vs Keras fit 65 [60, 70]: 0.65 [0.57, 0.74]
    assert ("**Keras fit (TensorFlow)** is 1.54× faster (PyTorch 100.00 vs Keras fit (TensorFlow) 65.00 "
            "ms/iteration, Keras/PyTorch time ratio 0.65 [0.57, 0.74])") in default
    assert "The project's stateless Keras step beside it: **Keras (TensorFlow)** is 2.00× faster" in default
    # fit 65 [60, 70] over the stateless XLA step 50 [48, 52]: 1.30 [1.15, 1.46]; JAX's fit was not timed
    assert ("**The cost of Keras' idiom**: Keras fit (TensorFlow) 65.00 vs Keras (TensorFlow) 50.00 ms/iteration, "
            "fit/stateless time ratio 1.30 [1.15, 1.46] (slower)") in default
    # process k of fit over process k of the stateless step (the same round): 63/49, 68/51; 2 pairs: no interval
    assert ("(slower); per pair of worker processes (same round) 1.29, 1.33 (range 1.29–1.33; 2 pairs: no "
            "confidence interval below 5)") in default and "95%" not in default
    assert "Keras (TensorFlow))" in fastest  # the fastest Keras path is still the stateless XLA step
    by_default, _ = summary.speed_cells(_speed(rows), "dcgan")  # the first screen says the same, shorter
    # PyTorch 100 [95, 105] vs fit 65 [60, 70]: 1/0.65 = 1.54×, bounds 95/70 and 105/60
    assert by_default.startswith("PyTorch eager vs Keras Model.fit: **Keras fit (TensorFlow)** 1.54× faster than "
                                 "PyTorch [1.36, 1.75] (stateless Keras step: **Keras (TensorFlow)** 2.00× faster "
                                 "than PyTorch [1.83, 2.19]; no clear difference (Keras (JAX)/PyTorch")
    assert by_default.endswith("; fit/stateless (tensorflow) 1.30 [1.15, 1.46])")
    assert summary.speed_cells(_speed(ROWS), "dcgan")[0].startswith("**Keras (TensorFlow)** 2.00× faster than PyTorch")


def test_the_idiom_cost_from_five_process_pairs_has_a_bootstrap_interval():
    stateless = _row("keras-jax-jit", "keras", 50.0, 49.0, 51.0, process_medians=(50.0,) * 5)
    fit = _row("keras-jax-fit", "keras", 64.0, 60.0, 68.0, process_medians=(60.0, 62.0, 64.0, 66.0, 68.0))
    text = speed_verdicts.idiom_cost(stateless, fit)
    head, interval = text.split("mean 1.28, 95% bootstrap interval [")
    low, high = (float(v) for v in interval.split("]")[0].split(", "))
    assert head.endswith("per pair of worker processes (same round) ") and "range" not in text
    assert 1.20 <= low < 1.28 < high <= 1.36 and text.endswith("(5 pairs: 1.20, 1.24, 1.28, 1.32, 1.36)")


def test_pytorch_faster_and_one_family_missing():
    rows = [_row("pytorch-eager", "pytorch", 10.0, 9.0, 11.0), _row("keras-tf-xla", "keras", 30.0, 29.0, 31.0),
            _row("pytorch-eager", "pytorch", 10.0, 9.0, 11.0, model="vanilla")]
    [line] = speed_verdicts.verdicts(_speed(rows))  # vanilla has no Keras row: no verdict for it
    assert line.startswith("`dcgan`, batch 64") and "**PyTorch** is 3.00× faster" in line


def test_table_states_the_spread_of_the_kept_windows():
    table = speed_verdicts.speed_table(_speed(ROWS + [{"model": "dcgan", "framework": "keras-jax-jit",
                                                       "batch_size": 256, "status": "failed", "error": "boom"}]))
    first = table.iloc[0]
    assert first["windows: fastest–slowest (n)"] == "95.00–105.00 (3)"  # the discarded window is left out
    assert first["interval of the median"] == "95.00–105.00 (94%)" and first["default"] == "yes"
    assert table.iloc[1]["default"] == "no" and table.iloc[1]["compile s"] == "9.5"
    assert table.iloc[-1]["ms / iteration (median)"] == "failed: boom"


def test_report_section_with_and_without_a_speed_phase(tmp_path):
    out = fabricate_suite(tmp_path / "suite", seeds=(0, 1), failing=False)
    markdown = report.build_report(out, tmp_path / "no-parity")["markdown"].read_text()
    assert "## Speed verdict" in markdown and "No speed phase ran in this suite" in markdown
    runs.write_json(out / SPEED_DIR / SPEED_JSON, _speed(ROWS))
    markdown = report.build_report(out, tmp_path / "no-parity")["markdown"].read_text()
    section = markdown.split("## Speed verdict", 1)[1].split("## Model")[0]
    assert "**as users run them by default**" in section and "5 windows of 10 iterations" in section
    assert "| dcgan | 64 | PyTorch (compile) | no | 80.00 |" in section
    assert "Not timed: pytorch-reduce-overhead (needs a GPU)." in section
    assert "![Speed phase: median ms per iteration" in section and (out / "plots" / "speed.png").stat().st_size > 0


def test_contended_windows_are_named_in_the_verdict():
    rows = [_row("pytorch-eager", "pytorch", 10.0, 9.0, 11.0), _row("keras-tf-xla", "keras", 30.0, 29.0, 31.0)]
    rows[1]["contended_windows"] = 3
    [line] = speed_verdicts.verdicts(_speed(rows))
    assert "3 of their windows were contended: read with care" in line
