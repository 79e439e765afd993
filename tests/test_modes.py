"""Execution modes and thread counts through the train CLIs: accepted modes, refusals with the valid ones,
and what config.json records. Each CLI that trains runs in a fresh process (a mode or a thread pool cannot be
undone); PyTorch's refusals, which come before anything is set up, run in this process."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmark.datasets import resolve_data_dir

ROOT = Path(__file__).resolve().parent.parent
TINY = ["--model", "vanilla", "--batch-size", "8", "--num-samples", "16", "--curve-samples", "8", "--log-every", "1",
        "--curve-every", "0", "--threads", "1"]


@pytest.fixture(scope="module", autouse=True)
def needs_mnist():
    if not (resolve_data_dir() / "train-images-idx3-ubyte.gz").exists():
        pytest.skip("MNIST not found: set $MNIST_DIR")


def torch_cuda_available() -> bool:
    import torch
    return torch.cuda.is_available()


def train(module: str, out: Path, *extra: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", module, "--out", str(out), *TINY, *extra], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def environment(run_dir: Path) -> dict:
    return json.loads((run_dir / "config.json").read_text())["environment"]


@pytest.mark.parametrize("mode, scope, adam", [("compile", "forward passes", "adam default"),
                                               ("compile-step", "whole updates", "adam fused")])
def test_pytorch_compile_records_the_mode_its_compile_time_and_threads(tmp_path, mode, scope, adam):
    """torch.compile (Inductor) on the vanilla model, 2 iterations (about 40 s each on 1 CPU thread, most of it
    compiling); tests/test_pytorch_modes.py checks that the modes train as eager does."""
    result = train("pytorch_impl.train", tmp_path / "run", "--steps", "2", "--mode", mode)
    assert result.returncode == 0, result.stderr[-3000:]
    env = environment(tmp_path / "run")
    assert env["execution_mode"] == mode and env["compiled"] is True and env["compiled_scope"] == scope
    assert env["optimizers"] == {"generator": adam, "discriminator": adam}
    assert env["compile_seconds"] > 0
    cpus = env["threads"]["cpus"]  # --threads 1: one thread on one core the run may use (threads.CoreClaims)
    assert env["threads"] == {"requested": 1, "cpus": cpus, "pinned": True, "intra_op": 1, "inter_op": 1}
    assert len(cpus) == 1 and set(cpus) <= os.sched_getaffinity(0)


def pytorch_cli(out: Path, *extra: str) -> int:
    """``pytorch_impl.train``'s ``main`` in this process, which has loaded torch already (a refusal is the subject,
    not the process); without ``--threads``, which would pin this process. Its return value is the CLI's exit code."""
    from pytorch_impl.train import main

    return main(["--out", str(out), "--model", "vanilla", "--steps", "1", *extra])


@pytest.mark.parametrize("extra, message", [
    (["--mode", "xla"], "unknown mode 'xla' for pytorch; valid: eager, fused, compile, compile-step, reduce-overhead"),
    (["--mode", "reduce-overhead", "--device", "cpu"], "needs --device cuda"),
])
def test_a_mode_pytorch_lacks_exits_2_with_the_valid_ones(tmp_path, capsys, extra, message):
    assert pytorch_cli(tmp_path / "run", *extra) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("error: ") and message in last


def test_a_mode_keras_jax_lacks_exits_2_with_the_valid_ones(tmp_path):
    result = train("tensorflow_impl.train", tmp_path / "run", "--steps", "1", "--backend", "jax", "--mode", "graph")
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and "unknown mode 'graph' for keras-jax; valid: jit" in last


@pytest.mark.skipif(torch_cuda_available(), reason="this machine has a GPU: --device cuda works here")
def test_device_cuda_without_a_gpu_exits_2_in_one_line_pytorch(tmp_path, capsys):
    """In this process: a traceback would be an exception here, failing the test."""
    assert pytorch_cli(tmp_path / "run", "--device", "cuda") == 2
    assert "--device cuda asked for" in capsys.readouterr().err.strip().splitlines()[-1]


@pytest.mark.skipif(torch_cuda_available(), reason="this machine has a GPU: --device cuda works here")
def test_device_cuda_without_a_gpu_exits_2_in_one_line_keras(tmp_path):
    result = train("tensorflow_impl.train", tmp_path / "run", "--steps", "1", "--device", "cuda", "--backend", "jax")
    assert result.returncode == 2
    assert "--device cuda asked for" in result.stderr.strip().splitlines()[-1]
    assert "Traceback" not in result.stderr


@pytest.mark.skipif(not torch_cuda_available(), reason="no GPU here: the mocked checks in test_gpu_hazards.py run")
@pytest.mark.parametrize("module, extra", [("pytorch_impl.train", []), ("pytorch_impl.train", ["--mode", "reduce-overhead"]),
                                           ("tensorflow_impl.train", ["--backend", "jax"])])
def test_device_cuda_on_a_gpu_runs_there_and_records_the_stack(tmp_path, module, extra):
    """On a GPU machine: each framework really computes on the GPU and records its CUDA version."""
    result = train(module, tmp_path / "run", "--steps", "2", "--device", "cuda", *extra, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    env = environment(tmp_path / "run")
    assert env["device"] == "cuda" and env["device_name"] and env["accelerator"]["cuda"]


def test_keras_tensorflow_graph_mode_and_default_xla(tmp_path):
    pytest.importorskip("tensorflow")
    result = train("tensorflow_impl.train", tmp_path / "graph", "--steps", "1", "--backend", "tensorflow",
                   "--mode", "graph")
    assert result.returncode == 0, result.stderr[-3000:]
    env = environment(tmp_path / "graph")
    assert env["execution_mode"] == "graph" and env["compiler"] == "tf.function"
    assert env["threads"]["requested"] == 1 and env["threads"]["intra_op"] == 1 and len(env["threads"]["cpus"]) == 1


def test_keras_jax_records_jit_and_single_thread_xla(tmp_path):
    pytest.importorskip("jax")
    result = train("tensorflow_impl.train", tmp_path / "jax", "--steps", "1", "--backend", "jax")
    assert result.returncode == 0, result.stderr[-3000:]
    env = environment(tmp_path / "jax")
    assert env["execution_mode"] == "jit" and env["compile_seconds"] > 0
    assert "--xla_cpu_multi_thread_eigen=false" in env["threads"]["xla_flags"]
    assert env["threads"]["pinned"] and len(env["threads"]["cpus"]) == 1  # the flag alone is not one core


def test_keras_fit_on_jax_trains_checkpoints_between_steps_and_resumes(tmp_path):
    """``--mode fit`` (``Model.fit`` driving the iterations, the project's bookkeeping in a callback) on JAX, where
    fit carries the state as arrays between steps: a checkpoint and a grid after every step, then a resume."""
    pytest.importorskip("jax")
    run = tmp_path / "fit"
    first = train("tensorflow_impl.train", run, "--steps", "2", "--backend", "jax", "--mode", "fit",
                  "--checkpoint-every", "1", "--grid-every", "1")
    assert first.returncode == 0, first.stderr[-3000:]
    env = environment(run)
    assert env["execution_mode"] == "fit" and env["compiler"].startswith("Model.fit")
    second = train("tensorflow_impl.train", run, "--steps", "3", "--backend", "jax", "--mode", "fit")
    assert second.returncode == 0, second.stderr[-3000:]
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines] == [1, 2, 3] and all(set(line) >= {"d_loss", "g_loss"} for line in lines)
    assert sorted(p.name for p in (run / "grids").iterdir())[:2] == ["step_00000001.png", "step_00000002.png"]
    assert json.loads((run / "result.json").read_text())["status"] == "completed"
    assert json.loads((run / "config.json").read_text())["resumed_from_step"] == 2
    assert_keras_file_holds_the_exported_generator(run)


def test_keras_fit_on_torch_trains_one_pinned_thread_and_exports_a_keras_file(tmp_path):
    """``keras-torch-fit``: Keras on its torch backend (eager ``Model.fit``, ``backward()`` in ``train_step``) trains
    through the CLI on one pinned torch thread; its ``generator.keras`` loads on this process's backend."""
    run = tmp_path / "torch"
    result = train("tensorflow_impl.train", run, "--steps", "2", "--backend", "torch", "--mode", "fit")
    assert result.returncode == 0, result.stderr[-3000:]
    env = environment(run)
    assert env["backend"] == "torch" and env["execution_mode"] == "fit" and "torch" in env["versions"]
    assert env["compiler"] == "Model.fit (jit_compile=False)"  # fit does not compile on torch
    assert env["threads"]["intra_op"] == 1 and env["threads"]["pinned"] and len(env["threads"]["cpus"]) == 1
    assert env["precision"]["tf32_matmul"] is False
    assert_keras_file_holds_the_exported_generator(run)


def assert_keras_file_holds_the_exported_generator(run: Path) -> None:
    """``export/generator.keras`` loads here (``keras.saving.load_model``) with the arrays of the neutral export."""
    import keras
    import numpy as np

    from benchmark import exports

    arrays, framework = exports.read_layers(run)
    loaded = keras.saving.load_model(run / exports.FOLDER / "generator.keras").get_weights()
    flat = [array for layer in arrays for array in layer]
    assert framework == "keras" and len(loaded) == len(flat) > 0
    assert all(np.array_equal(a, b) for a, b in zip(loaded, flat))
