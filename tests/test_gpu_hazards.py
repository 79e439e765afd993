"""GPU throughput hazards checked on the CPU: plain (uncompressed) checkpoints, cuDNN autotuning, fused Adam on
CUDA only, the device-truth checks of ``--device cuda`` (the GPU side mocked), PyTorch's training inputs staged on
the device, and Keras steps that update their variables in place (TensorFlow) or donate them (JAX)."""
from __future__ import annotations

import inspect
import types
import zipfile

import numpy as np
import pytest
import torch

from benchmark import runs
from benchmark.data import TrainingStream
from benchmark.run_config import RunConfig
from benchmark.spec import get_spec
from benchmark.training import RunError
from pytorch_impl import runtime as torch_runtime
from pytorch_impl.optimizers import build_optimizer
from pytorch_impl.seeding import seed_everything
from pytorch_impl.train import DeviceFeed, to_device


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

    from tensorflow_impl.train import make_trainer

    trainer = make_trainer(get_spec("vanilla"), RunConfig(model="vanilla", seed=0, device="cpu"),
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


def test_fused_adam_and_foreach_rmsprop_only_when_asked_for():
    """torch 2.14 has no fused RMSprop: asking for fused optimisers gives its foreach implementation."""
    params = [torch.nn.Parameter(torch.zeros(3))]
    adam, rmsprop = get_spec("dcgan").objective.g_optimizer, get_spec("wgan").objective.g_optimizer
    assert build_optimizer(params, adam, fused=True).defaults["fused"] is True
    assert not build_optimizer(params, adam).defaults["fused"]
    assert "fused" not in inspect.signature(torch.optim.RMSprop).parameters
    assert build_optimizer(params, rmsprop, fused=True).defaults["foreach"] is True
    assert not build_optimizer(params, rmsprop).defaults["foreach"]


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


def _synthetic_stream(n_critic: int) -> TrainingStream:
    images = np.random.default_rng(0).integers(0, 256, (100, 28, 28), dtype=np.uint8)
    return TrainingStream(images, batch_size=8, noise_dim=4, seed=3, n_critic=n_critic)


@pytest.mark.parametrize("n_critic, dtype", [(1, torch.float32), (5, torch.float64)])
def test_the_device_feed_holds_exactly_the_host_pipelines_inputs_across_chunks_and_a_resume(n_critic, dtype):
    stream = _synthetic_stream(n_critic)  # 12 batches an epoch: the steps below cross epochs
    cpu = torch.device("cpu")
    # Chunks of 3: steps 0-2, 3-5, 6-8; then a resume at step 5, whose fresh feed starts its chunk there.
    for start, end in ((0, 8), (5, 9)):
        feed = DeviceFeed(stream, cpu, dtype, chunk=3)
        for step in range(start, end):
            staged, host = feed(step), stream.step(step)
            for field in ("real", "d_noise", "g_noise", "gp_weight"):
                expected = torch.from_numpy(getattr(host, field)).to(dtype)
                assert torch.equal(getattr(staged, field), expected) and getattr(staged, field).dtype == dtype, \
                    (step, field)


def test_the_device_feed_copies_three_arrays_per_chunk(monkeypatch):
    from pytorch_impl import train as torch_train

    copies = []
    real_copy = torch_train.to_device
    monkeypatch.setattr(torch_train, "to_device", lambda array, *a: copies.append(array.shape) or real_copy(array, *a))
    feed = DeviceFeed(_synthetic_stream(1), torch.device("cpu"), torch.float32, chunk=4)
    for step in range(8):
        feed(step)
    assert copies == [(4, 1, 8), (4, 2, 8, 4), (4, 1, 8)] * 2  # rows, noise, gp weights of steps 0-3, then 4-7


def test_host_to_device_copies_are_pinned_and_non_blocking_on_cuda_only(monkeypatch):
    calls = []
    monkeypatch.setattr(torch.Tensor, "pin_memory", lambda self: calls.append("pin") or self)
    real_to = torch.Tensor.to

    def to(self, device, dtype, non_blocking=False):
        calls.append(("to", device.type, non_blocking))
        return real_to(self, "cpu", dtype)

    monkeypatch.setattr(torch.Tensor, "to", to)
    array = np.arange(6, dtype=np.float32)
    assert torch.equal(to_device(array, torch.device("cuda"), torch.float64), torch.arange(6, dtype=torch.float64))
    to_device(array, torch.device("cpu"), torch.float32)
    assert calls == ["pin", ("to", "cuda", True), ("to", "cpu", True)]


def test_the_jax_step_donates_the_old_state_and_keeps_the_new():
    jax = pytest.importorskip("jax")
    from tensorflow_impl import backend_ops

    state = {"value": [jax.numpy.arange(4.0), jax.numpy.ones(3)]}
    step = backend_ops._jax_compile_step(lambda s, x: ([s[0] + x, s[1] * 2], x * 3), lambda: state["value"],
                                         lambda new: state.update(value=new), jit_compile=True)
    old = state["value"]
    assert float(step(jax.numpy.float32(1.0))) == 3.0
    assert all(a.is_deleted() for a in old)  # donated: XLA could write the new state into them
    np.testing.assert_array_equal(state["value"][0], [1.0, 2.0, 3.0, 4.0])
    np.testing.assert_array_equal(state["value"][1], [2.0, 2.0, 2.0])


def test_the_tensorflow_step_updates_the_variables_inside_the_graph(monkeypatch):
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "tensorflow":
        pytest.skip("the TensorFlow backend's step")

    from tensorflow_impl.train import make_trainer, placeholder_inputs

    spec = get_spec("vanilla")
    trainer = make_trainer(spec, RunConfig(model="vanilla", seed=0, device="cpu"), compile_step=False)

    def values() -> list[np.ndarray]:
        return [keras.ops.convert_to_numpy(v) for group in trainer.state() for v in group]

    before = values()
    trainer.compile(placeholder_inputs(spec))
    assert all(np.array_equal(a, b) for a, b in zip(before, values()))  # the compile call's update is undone
    assigned = []
    real_assign = keras.Variable.assign
    monkeypatch.setattr(keras.Variable, "assign", lambda self, value: assigned.append(self) or real_assign(self, value))
    trainer.train_step(placeholder_inputs(spec))
    assert assigned == []  # no per-variable assignment from Python: the compiled graph updated them in place
    assert int(keras.ops.convert_to_numpy(trainer.g_optimizer.iterations)) == 1
    assert not all(np.array_equal(a, b) for a, b in zip(before, values()))


@pytest.mark.parametrize("n_critic, dtype", [(1, "float32"), (5, "float64")])
def test_the_keras_device_feed_holds_exactly_the_host_pipelines_inputs(n_critic, dtype):
    keras = pytest.importorskip("keras")
    from tensorflow_impl.trainer import DeviceFeed as KerasFeed

    if dtype == "float64" and keras.backend.backend() == "jax":
        pytest.skip("float64 on JAX needs x64 mode, set per run (parity)")
    stream = _synthetic_stream(n_critic)
    for start, end in ((0, 8), (5, 9)):  # chunks of 3 across epochs, then a resume at step 5
        feed = KerasFeed(stream, "cpu", dtype, (1, 28, 28), chunk=3)  # the spec's image shape, channels first
        for step in range(start, end):
            staged, host = feed(step), stream.step(step)
            for field in ("real", "d_noise", "g_noise", "gp_weight"):
                expected = getattr(host, field)[..., None] if field == "real" else getattr(host, field)
                value = keras.ops.convert_to_numpy(getattr(staged, field))
                assert value.dtype == dtype and np.array_equal(value, expected.astype(dtype)), (step, field)
