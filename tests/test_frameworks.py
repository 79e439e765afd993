"""The framework registry: labels, short names, modes, refusals; and the suite and report reading it."""
from __future__ import annotations

import sys

import pytest

from benchmark import frameworks as fw
from benchmark import suite_plan
from benchmark.report import collect as report_collect, columns as report_columns
from benchmark.profiles import get_profile


def test_every_entry_is_complete_and_each_framework_has_one_default():
    for entry in fw.FRAMEWORKS.values():
        assert entry.family in (fw.PYTORCH, fw.KERAS)
        assert entry.module == {"pytorch": "pytorch_impl.train", "keras": "tensorflow_impl.train"}[entry.family]
        assert (entry.backend is None) == (entry.family == fw.PYTORCH)
        assert entry.color.startswith("#") and entry.description and entry.pretty
    defaults = sorted(e.name for e in fw.FRAMEWORKS.values() if e.default)
    assert defaults == ["keras-jax", "keras-tensorflow", "pytorch"]
    assert len({e.color for e in fw.FRAMEWORKS.values()}) == len(fw.FRAMEWORKS)


def test_labels_and_short_names():
    assert {"pytorch-eager", "pytorch-fused", "pytorch-compile", "pytorch-compile-step", "keras-tf-xla",
            "keras-tf-graph", "keras-jax-jit"} <= set(fw.FRAMEWORKS)
    assert fw.get_framework("pytorch").label == "pytorch-eager"
    assert fw.get_framework("keras").label == "keras-tf-xla"
    assert fw.get_framework("keras", "jax").label == "keras-jax-jit"
    assert fw.get_framework("keras-tensorflow").mode == "xla"
    assert fw.get_framework("pytorch-compile").name == "pytorch-compile"
    assert fw.get_framework("pytorch-eager").name == "pytorch"
    assert fw.by_name("keras-jax").label == "keras-jax-jit"
    assert fw.by_name("nope") is None


def test_modes_per_framework_and_unknown_names():
    assert fw.modes("pytorch") == ["eager", "fused", "compile", "compile-step", "reduce-overhead"]
    assert fw.modes("keras", "tensorflow") == ["xla", "graph", "fit"]
    assert fw.modes("keras", "jax") == ["jit", "fit"]
    assert fw.modes("keras", "torch") == ["fit"]  # Keras' torch backend: Model.fit only, no default
    assert fw.find("keras", "torch").label == "keras-torch-fit" == fw.get_framework("keras-torch-fit").name
    assert fw.find("keras", "tensorflow").label == "keras-tf-xla"
    assert fw.find("keras", "tensorflow", "graph").label == "keras-tf-graph"
    with pytest.raises(fw.FrameworkError, match="valid: jit, fit"):
        fw.find("keras", "jax", "graph")
    with pytest.raises(fw.FrameworkError,
                       match="valid: pytorch, keras, keras-fit, keras-tensorflow, keras-jax, pytorch-eager"):
        fw.get_framework("caffe")
    with pytest.raises(fw.FrameworkError, match="Keras backend"):
        fw.get_framework("keras", "torch")


def test_keras_fit_is_the_fit_mode_on_the_chosen_backend():
    assert fw.get_framework("keras-fit").label == "keras-tf-fit"
    assert fw.get_framework("keras-fit", "jax").label == "keras-jax-fit"
    assert fw.get_framework("keras-jax-fit").name == "keras-jax-fit"  # not a default: its label names its runs
    assert suite_plan.parse_frameworks("pytorch,keras-fit,keras") == ["pytorch", "keras-tf-fit", "keras-tensorflow"]
    assert suite_plan.parse_frameworks("keras-fit", "jax") == ["keras-jax-fit"]


def test_duplicates_are_refused():
    entry = fw.FRAMEWORKS["pytorch-compile"]
    with pytest.raises(fw.FrameworkError, match="twice"):
        fw.register_framework(entry)
    with pytest.raises(fw.FrameworkError, match="default"):
        fw.register_framework(fw.Framework("pytorch-other", "pytorch", "pytorch_impl.train", None, "other", True,
                                           "#000000", "x", "x"))
    assert "pytorch-other" not in fw.FRAMEWORKS


def test_the_suite_names_runs_by_mode_and_passes_it_on(tmp_path):
    assert suite_plan.parse_frameworks("pytorch,pytorch-compile,keras-tf-graph,keras-tensorflow") == [
        "pytorch", "pytorch-compile", "keras-tf-graph", "keras-tensorflow"]
    assert suite_plan.parse_frameworks("pytorch-eager,pytorch") == ["pytorch"]
    run = suite_plan.PlannedRun("dcgan", "pytorch-compile", 0, 10)
    assert run.name == "dcgan-pytorch-compile-seed0"
    options = suite_plan.SuiteOptions(out=tmp_path, profile=get_profile("smoke"), models=["dcgan"],
                                      frameworks=["pytorch-compile"], seeds=[0])
    command = suite_plan.train_command(run, tmp_path, options)
    assert command[command.index("--mode") + 1] == "compile"
    default = suite_plan.train_command(suite_plan.PlannedRun("dcgan", "keras-jax", 0, 10), tmp_path, options)
    assert "--mode" not in default and default[default.index("--backend") + 1] == "jax"


def test_the_report_labels_runs_from_the_registry():
    assert report_collect.framework_label({"framework": "pytorch", "environment": {"execution_mode": "compile"}}) == \
        "pytorch-compile"
    assert report_collect.framework_label({"framework": "pytorch", "environment": {}}) == "pytorch"
    assert report_collect.framework_label({"framework": "keras", "backend": "jax"}) == "keras-jax"
    assert report_collect.framework_label({"framework": "keras", "backend": "tensorflow",
                                   "environment": {"execution_mode": "graph"}}) == "keras-tf-graph"
    assert report_columns.COLORS["pytorch"] == fw.FRAMEWORKS["pytorch-eager"].color
    assert report_columns.PRETTY["keras-tf-graph"] == "Keras (TensorFlow graph)"


def test_run_all_help_lists_every_registered_label(monkeypatch):
    from benchmark import run_all

    monkeypatch.setenv("COLUMNS", "10000")  # no line breaks inside a hyphenated label
    shown = " ".join(run_all.parser().format_help().split())
    for label, entry in fw.FRAMEWORKS.items():
        assert label in shown and entry.description.split()[0] in shown


def test_each_family_trains_with_its_own_interpreter(tmp_path, monkeypatch):
    """On a GPU the Makefile points GANBENCH_KERAS_PYTHON at the Keras family's venv; without it, this interpreter."""
    options = suite_plan.SuiteOptions(out=tmp_path, profile=get_profile("smoke"), models=["dcgan"],
                                      frameworks=["pytorch", "keras-jax"], seeds=[0])
    keras_run, torch_run = (suite_plan.PlannedRun("dcgan", name, 0, 10) for name in ("keras-jax", "pytorch"))
    monkeypatch.delenv(fw.PYTHON_ENV[fw.KERAS], raising=False)
    assert suite_plan.train_command(keras_run, tmp_path, options)[0] == sys.executable
    monkeypatch.setenv(fw.PYTHON_ENV[fw.KERAS], "/opt/keras-venv/bin/python")
    assert suite_plan.train_command(keras_run, tmp_path, options)[0] == "/opt/keras-venv/bin/python"
    assert suite_plan.train_command(torch_run, tmp_path, options)[0] == sys.executable
    assert suite_plan.eval_command([tmp_path], options)[0] == sys.executable  # torch-fidelity: the harness's venv
