"""The project's layers, stated once; ``tests/test_architecture.py`` checks every import against them.

* **Core**: the modules below. What a training run needs and nothing more: the spec, the data sets and the
  training inputs, the run folder and its checkpoints, the shared training driver, sampling, the framework
  registry and thread settings. The core imports no harness module and no implementation.
* **Implementations** (``pytorch_impl``, ``tensorflow_impl``): one framework each. They import the core, their
  own package and third-party libraries, nothing else (not the harness, not each other).
* **Harness**: every other ``benchmark`` module (suite, executors, evaluation, report, parity, speed, ...). It
  imports the core and other harness modules, and reaches an implementation only through the framework
  registry: ``benchmark.frameworks.implementation(family, submodule)`` or ``importlib.import_module`` of a
  registered entry's ``module``, never an ``import pytorch_impl...`` of its own.

This module is core and imports nothing, so the test (and anyone) can read it without a framework.
"""
from __future__ import annotations

ROOT_PACKAGE = "benchmark"
IMPLEMENTATIONS = ("pytorch_impl", "tensorflow_impl")
CORE = (
    "benchmark",  # the package itself (its __init__)
    "benchmark.layering",
    "benchmark.spec",
    "benchmark.datasets",
    "benchmark.downloads",
    "benchmark.data",
    "benchmark.runs",
    "benchmark.run_config",
    "benchmark.checkpoints",
    "benchmark.training",
    "benchmark.interrupts",
    "benchmark.arguments",
    "benchmark.locking",
    "benchmark.sampling",
    "benchmark.frameworks",
    "benchmark.threads",
    "benchmark.initial_weights",
    "benchmark.exports",
    "benchmark.toy_training",
    "benchmark.toy_measures",
)
CORE_LAYER, IMPLEMENTATION_LAYER, HARNESS_LAYER = "core", "implementation", "harness"


def layer_of(module: str) -> str | None:
    """``core``, ``implementation`` or ``harness`` for a module of this project (dotted name); None for
    anything else (the standard library, third-party packages, the tests)."""
    top = module.split(".")[0]
    if top in IMPLEMENTATIONS:
        return IMPLEMENTATION_LAYER
    if top != ROOT_PACKAGE:
        return None
    if any(module == core or module.startswith(core + ".") and core != ROOT_PACKAGE for core in CORE):
        return CORE_LAYER
    return HARNESS_LAYER
