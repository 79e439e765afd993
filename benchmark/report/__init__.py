"""The suite report: ``report.md``, a self-contained ``report.html``, ``summary.csv`` and ``plots/``.

    python -m benchmark.report OUT [--parity-dir results/parity]

Reads only files: ``OUT/suite.json`` (the harness's record of every run, failures included), each run folder
(``benchmark.runs``: config, metrics, timing, result, samples, grids; ``benchmark.evaluate``'s eval.json and
curve.json), the reference rows (``benchmark.references``) and the lockstep parity files when they exist. No
framework is imported.

Every number is a mean ± standard deviation (ddof 1) over seeds with the number of seeds; PyTorch and Keras
are compared with Welch's two-sided t-test where both sides have at least two seeds, and pairwise by seed
(``stats``). Modules: ``columns`` (names, defined once), ``collect`` (files -> one table), ``stats``, ``tables``,
``plots``, ``document`` (Markdown and HTML), ``sections`` (prose), ``build`` (``build_report``).
"""
from benchmark.report.build import build_report, copy_scored_samples

__all__ = ["build_report", "copy_scored_samples"]
