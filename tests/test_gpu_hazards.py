"""GPU throughput hazards checked on the CPU: plain (uncompressed) checkpoints, cuDNN autotuning, fused Adam on
CUDA only, and the device-truth checks of ``--device cuda`` (the GPU side mocked)."""
from __future__ import annotations

import types
import zipfile

import numpy as np
import pytest
import torch

from benchmark import runs
from benchmark.spec import get_spec
from benchmark.training import RunError
from pytorch_impl import runtime as torch_runtime
from pytorch_impl.optimizers import build_optimizer
from pytorch_impl.seeding import seed_everything


def _compress_types(path) -> set[int]:
    with zipfile.ZipFile(path) as archive:
        return {info.compress_type for info in archive.infolist()}


def test_checkpoint_npz_is_stored_plain_and_samples_compressed(tmp_path):
    weights = np.zeros((64, 64), np.float32)
    runs.write_npz(tmp_path / "last.npz", compressed=False, weights=weights)
    runs.write_npz(tmp_path / "samples.npz", images=weights.astype(np.uint8))
    assert _compress_types(tmp_path / "last.npz") == {zipfile.ZIP_STORED}
    assert _compress_types(tmp_path / "samples.npz") == {zipfile.ZIP_DEFLATED}
    with np.load(tmp_path / "last.npz") as data:
        assert np.array_equal(data["weights"], weights)


def test_keras_checkpoints_are_plain(tmp_path):
    pytest.importorskip("keras")
    import argparse

    from tensorflow_impl.train import make_trainer

    trainer = make_trainer(get_spec("vanilla"), argparse.Namespace(seed=0, device="cpu", deterministic=False),
                           compile_step=False)
    trainer.save_checkpoint(tmp_path / "last.npz", {"step": 0})
    assert _compress_types(tmp_path / "last.npz") == {zipfile.ZIP_STORED}


def test_cudnn_autotuning_is_on_unless_deterministic():
    try:
        seed_everything(0)
        assert torch.backends.cudnn.benchmark is True
        seed_everything(0, deterministic=True)
        assert torch.backends.cudnn.benchmark is False
    finally:
        torch.use_deterministic_algorithms(False)
        torch.backends.cudnn.deterministic = False


def test_fused_adam_only_when_asked_for_and_never_for_rmsprop():
    params = [torch.nn.Parameter(torch.zeros(3))]
    adam, rmsprop = get_spec("dcgan").objective.g_optimizer, get_spec("wgan").objective.g_optimizer
    assert build_optimizer(params, adam, fused=True).defaults["fused"] is True
    assert not build_optimizer(params, adam).defaults["fused"]
    assert not build_optimizer(params, rmsprop, fused=True).defaults.get("fused")


def test_pytorch_device_truth(monkeypatch):
    cpu_module = torch.nn.Linear(2, 2)
    torch_runtime.check_on_gpu(cpu_module, torch.device("cpu"))  # nothing to check
    with pytest.raises(RunError, match="--device cuda asked for, but PyTorch computes on"):
        torch_runtime.check_on_gpu(cpu_module, torch.device("cuda"))  # CPU parameters (and no GPU here)
    on_gpu = types.SimpleNamespace(device=types.SimpleNamespace(type="cuda"))
    fake_module = types.SimpleNamespace(parameters=lambda: [on_gpu])

    class Probe:
        device = types.SimpleNamespace(type="cuda")

        def __add__(self, other):
            return self

    monkeypatch.setattr(torch_runtime.torch, "ones", lambda *a, **k: Probe())
    torch_runtime.check_on_gpu(fake_module, torch.device("cuda"))  # parameters and a result on the GPU
    Probe.device = types.SimpleNamespace(type="cpu")
    with pytest.raises(RunError, match="computes on cpu"):
        torch_runtime.check_on_gpu(fake_module, torch.device("cuda"))


def test_keras_device_truth(monkeypatch):
    keras = pytest.importorskip("keras")
    from tensorflow_impl import runtime as keras_runtime

    backend = keras.backend.backend()
    keras_runtime.check_on_gpu("cpu")
    with pytest.raises(RunError, match=f"Keras \\({backend}\\) computes on cpu"):
        keras_runtime.check_on_gpu("cuda")  # the real check: no GPU on this machine
    monkeypatch.setitem(keras_runtime.DEVICE_PLATFORM, backend, lambda: "gpu")
    keras_runtime.check_on_gpu("cuda")


def test_tensorflow_op_placed_on_a_listed_gpu_that_lands_on_cpu_is_caught(monkeypatch):
    tf = pytest.importorskip("tensorflow")
    from tensorflow_impl import runtime as keras_runtime

    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: ["/physical_device:GPU:0"])
    assert keras_runtime._tf_device_platform() == "cpu"  # soft placement put the op on the CPU


def test_jax_platform_is_read_from_its_default_device(monkeypatch):
    jax = pytest.importorskip("jax")
    from tensorflow_impl import runtime as keras_runtime

    assert keras_runtime._jax_device_platform() == "cpu"
    monkeypatch.setattr(jax, "devices", lambda *a: [types.SimpleNamespace(platform="gpu")])
    assert keras_runtime._jax_device_platform() == "gpu"


def test_cuda_graph_mode_compiles_with_reduce_overhead_and_only_on_cuda():
    calls = []
    fake = types.SimpleNamespace(compile=lambda **kwargs: calls.append(kwargs))
    assert torch_runtime.check_mode("reduce-overhead", torch.device("cuda")) == "reduce-overhead"
    torch_runtime.compile_module(fake, "reduce-overhead")
    torch_runtime.compile_module(fake, "compile")
    torch_runtime.compile_module(fake, "eager")
    assert calls == [{"mode": "reduce-overhead"}, {"mode": "default"}]
    with pytest.raises(RunError, match="needs --device cuda"):
        torch_runtime.check_mode("reduce-overhead", torch.device("cpu"))


def test_speed_reads_one_iteration_device_time_from_the_profiler(monkeypatch):
    from benchmark import speed_worker

    class FakeProfile:
        def __init__(self, activities):
            self.activities = activities

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def key_averages(self):
            return [types.SimpleNamespace(self_device_time_total=1500.0),
                    types.SimpleNamespace(self_device_time_total=500.0)]

    steps = []
    trainer = types.SimpleNamespace(device=torch.device("cuda"), synchronize=lambda: None,
                                    train_step=lambda inputs: steps.append(inputs))
    monkeypatch.setattr(torch.profiler, "profile", FakeProfile)
    assert speed_worker._torch_device_ms(None, trainer, "inputs") == (2.0, None)  # 2000 µs of kernels
    assert steps == ["inputs"]
    trainer.device = torch.device("cpu")
    assert speed_worker._torch_device_ms(None, trainer, "inputs") == (None, speed_worker.CPU_NOTE)


def test_the_gpu_stack_is_recorded_on_a_gpu_only(monkeypatch):
    assert torch_runtime.accelerator_stack(torch.device("cpu")) is None
    monkeypatch.setattr(torch.backends.cudnn, "is_available", lambda: True)
    monkeypatch.setattr(torch.backends.cudnn, "version", lambda: 91002)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (9, 0))
    monkeypatch.setattr(torch.version, "cuda", "13.0")
    assert torch_runtime.accelerator_stack(torch.device("cuda")) == {"cuda": "13.0", "cudnn": "91002",
                                                                     "compute_capability": "9.0"}


def test_keras_gpu_stack_per_backend(monkeypatch):
    keras = pytest.importorskip("keras")
    from tensorflow_impl import runtime as keras_runtime

    assert keras_runtime.accelerator_stack("cpu") is None
    if keras.backend.backend() == "jax":
        import jax
        client = types.SimpleNamespace(platform_version="cuda 12080")
        monkeypatch.setattr(jax, "devices", lambda *a: [types.SimpleNamespace(client=client)])
        assert keras_runtime.accelerator_stack("gpu") == {"cuda": "cuda 12080"}
    else:
        import tensorflow as tf
        monkeypatch.setattr(tf.sysconfig, "get_build_info", lambda: {"cuda_version": "12.5.1", "cudnn_version": "9"})
        assert keras_runtime.accelerator_stack("gpu") == {"cuda": "12.5.1", "cudnn": "9"}


def test_the_nvidia_driver_is_read_from_nvidia_smi(tmp_path, monkeypatch):
    from benchmark import machine

    fake = tmp_path / "nvidia-smi"
    fake.write_text("#!/bin/sh\necho 580.95.05\necho 580.95.05\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert machine.gpu_driver() == "580.95.05"
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    assert machine.gpu_driver() is None
