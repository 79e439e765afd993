"""Faults and bad input: corrupt checkpoints, torn logs, bad arguments, locks, signals, unsafe weights files.

Tiny vanilla PyTorch runs (batch 8, a few iterations) in this process where possible, in a subprocess where a
signal or a kill is part of the test.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmark import checkpoints, runs
from benchmark.datasets import resolve_data_dir
from benchmark.training import write_timing
from pytorch_impl.train import main
from suites import metrics_without_time

ROOT = Path(__file__).resolve().parent.parent
TINY = ["--batch-size", "8", "--num-samples", "16", "--curve-samples", "16", "--log-every", "1"]
needs_mnist = pytest.mark.skipif(not (resolve_data_dir() / "train-images-idx3-ubyte.gz").exists(),
                                 reason="MNIST not found: set $MNIST_DIR")


def train(out: Path, steps: int = 4, *extra: str) -> int:
    return main(["--model", "vanilla", "--steps", str(steps), "--out", str(out), *TINY, *extra])


def weights(path: Path) -> dict[str, torch.Tensor]:
    state = torch.load(path, weights_only=True)
    return {f"{net}.{k}": v for net in ("generator", "discriminator") for k, v in state[net].items()}


def same_weights(a: Path, b: Path) -> bool:
    first, second = weights(a), weights(b)
    return first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)


def last_pt(run_dir: Path) -> Path:
    return run_dir / runs.CHECKPOINTS / "last.pt"


def flip_byte(path: Path, offset: int | None = None) -> None:
    data = bytearray(path.read_bytes())
    offset = len(data) // 2 if offset is None else offset
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


# ------------------------------------------------------------------------------------ 7. checkpoints

@needs_mnist
def test_a_bit_flipped_last_checkpoint_is_not_loaded_and_the_previous_one_is(tmp_path, capsys):
    assert train(tmp_path / "straight", 6) == 0
    assert train(tmp_path / "run", 4, "--checkpoint-every", "2") == 0
    previous = checkpoints.previous_of(last_pt(tmp_path / "run"))
    assert previous.exists() and (previous.parent / "previous.pt.sha256").exists()
    flip_byte(last_pt(tmp_path / "run"))
    capsys.readouterr()
    assert train(tmp_path / "run", 6, "--checkpoint-every", "2") == 0
    assert "last.pt: SHA-256 does not match its record" in capsys.readouterr().err
    assert runs.read_json(tmp_path / "run" / runs.CONFIG)["resumed_from_step"] == 2
    assert same_weights(last_pt(tmp_path / "run"), last_pt(tmp_path / "straight"))
    assert metrics_without_time(tmp_path / "run") == metrics_without_time(tmp_path / "straight")


@needs_mnist
@pytest.mark.parametrize("damage", ["truncate", "random", "empty", "flip"])
def test_a_corrupt_checkpoint_without_a_good_previous_one_is_refused_in_one_line(tmp_path, capsys, damage):
    assert train(tmp_path, 2, "--checkpoint-every", "0") == 0
    path = last_pt(tmp_path)
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif damage == "random":
        path.write_bytes(np.random.default_rng(0).bytes(path.stat().st_size))
    elif damage == "empty":
        path.write_bytes(b"")
    else:
        flip_byte(path)
    capsys.readouterr()
    assert train(tmp_path, 4) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "no usable checkpoint" in err and "last.pt: SHA-256" in err
    assert "Traceback" not in err


def test_checkpoint_rotation_keeps_one_verifiable_file_at_every_instant(tmp_path):
    last = tmp_path / "last.bin"
    checkpoints.save(last, lambda p: p.write_bytes(b"one"))
    checkpoints.save(last, lambda p: p.write_bytes(b"two"))
    assert checkpoints.load(last, lambda p: {"content": p.read_bytes()}) == {"content": b"two"}
    os.replace(last, checkpoints.previous_of(last))  # killed after renaming the file, before its record
    assert checkpoints.load(last, lambda p: {"content": p.read_bytes()}) == {"content": b"two"}
    with pytest.raises(runs.RunError, match="next"):  # a refusal by the framework passes through
        checkpoints.load(last, lambda p: (_ for _ in ()).throw(runs.RunError("next")))


# ------------------------------------------------------------------------------------ 5. arguments

@pytest.mark.parametrize("args, message", [
    (["--steps", "0"], "argument --steps: must be at least 1, got 0"),
    (["--epochs", "0"], "argument --epochs: must be at least 1, got 0"),
    (["--steps", "-3"], "argument --steps: must be at least 1, got -3"),
    (["--batch-size", "0"], "argument --batch-size: must be at least 1, got 0"),
    (["--batch-size", "-4"], "argument --batch-size: must be at least 1, got -4"),
    (["--seed", "-1"], "argument --seed: must be in 0..4294967295, got -1"),
    (["--num-samples", "0"], "argument --num-samples: must be at least 1, got 0"),
    (["--curve-samples", "0"], "argument --curve-samples: must be at least 1, got 0"),
    (["--checkpoint-every", "-1"], "argument --checkpoint-every: must be 0 or more, got -1"),
])
def test_bad_lengths_and_counts_are_refused_before_anything_runs(tmp_path, capsys, args, message):
    with pytest.raises(SystemExit) as exit_:
        main(["--model", "vanilla", "--out", str(tmp_path / "run"), *args])
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_out_at_a_file_is_refused_in_one_line(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    assert main(["--model", "vanilla", "--steps", "1", "--out", str(tmp_path / "file")]) == 2
    assert capsys.readouterr().err.strip() == f"error: --out {tmp_path / 'file'}: exists and is not a folder"


def test_an_unreadable_data_folder_is_refused_in_one_line(tmp_path, capsys, monkeypatch):
    """Tests run as root, which chmod 000 does not stop: the permission error is injected instead."""
    folder = tmp_path / "mnist"
    folder.mkdir()
    real_exists = Path.exists

    def exists(path: Path) -> bool:
        if str(path).startswith(str(folder)):
            raise PermissionError(13, "Permission denied", str(path))
        return real_exists(path)

    monkeypatch.setattr(Path, "exists", exists)
    assert main(["--model", "vanilla", "--steps", "1", "--out", str(tmp_path / "run"), "--data-dir", str(folder)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: MNIST folder {folder}: Permission denied") and "Traceback" not in err


def test_sample_refuses_a_non_positive_count(tmp_path, capsys):
    from pytorch_impl.sample import main as sample_main
    with pytest.raises(SystemExit) as exit_:
        sample_main(["--run", str(tmp_path), "--n", "0", "--out", str(tmp_path / "grid.png")])
    assert exit_.value.code == 2 and "argument --n: must be at least 1, got 0" in capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    (["--seeds", "0,-1"], "--seeds: expected comma-separated integers in 0..4294967295"),
    (["--device", "cuda"], "--device cuda: no GPU visible"),
    (["--data-dir", "BAD"], "SHA-256 mismatch"),
])
@needs_mnist
def test_run_all_checks_device_data_and_seeds_before_starting_runs(tmp_path, capsys, monkeypatch, args, message):
    from benchmark import machine, run_all
    monkeypatch.setattr(machine, "gpu_names", lambda: None)
    bad = tmp_path / "bad-mnist"  # the real files, but for a corrupt training-images file
    shutil.copytree(resolve_data_dir(), bad, ignore=shutil.ignore_patterns("train-images-idx3-ubyte*"))
    (bad / "train-images-idx3-ubyte.gz").write_bytes(b"not mnist")
    args = [str(bad) if a == "BAD" else a for a in args]
    assert run_all.main(["--out", str(tmp_path / "suite"), "--models", "vanilla", *args]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "suite").exists()


# ------------------------------------------------------------------------------------ 2. another framework

def _snapshot(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


@needs_mnist
def test_the_other_framework_is_refused_in_an_existing_run_folder(tmp_path, capsys):
    assert train(tmp_path, 2) == 0
    before = _snapshot(tmp_path)
    from tensorflow_impl.train import main as keras_main
    assert keras_main(["--model", "vanilla", "--steps", "3", "--out", str(tmp_path), *TINY]) == 2
    assert (f"error: {tmp_path} holds a run with framework 'pytorch', this run has 'keras'"
            in capsys.readouterr().err)
    assert _snapshot(tmp_path) == before


@needs_mnist
def test_a_folder_of_another_framework_is_refused_by_pytorch(tmp_path, capsys):
    assert train(tmp_path, 2) == 0
    runs.write_json(tmp_path / runs.CONFIG, {**runs.read_json(tmp_path / runs.CONFIG), "framework": "keras"})
    before = _snapshot(tmp_path)
    assert train(tmp_path, 3) == 2
    assert "holds a run with framework 'keras', this run has 'pytorch'" in capsys.readouterr().err
    assert _snapshot(tmp_path) == before


# ------------------------------------------------------------------------------------ 3. locks

HOLD_LOCK = ("import sys, time; from benchmark.locking import FolderLock; "
             "lock = FolderLock(sys.argv[1], 'suite'); lock.acquire(); print('locked', flush=True); time.sleep(600)")


def _locked_by_child(folder: Path) -> subprocess.Popen:
    child = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(folder)], cwd=ROOT, stdout=subprocess.PIPE,
                             text=True)
    assert child.stdout.readline().strip() == "locked"
    return child


def test_a_folder_lock_names_its_holder_and_a_dead_holders_lock_is_taken_over(tmp_path, capsys):
    from benchmark.locking import FolderLock, LockHeld
    child = _locked_by_child(tmp_path)
    try:
        with pytest.raises(LockHeld, match=rf"{tmp_path} is in use by pid {child.pid} on .* \(suite, since "):
            FolderLock(tmp_path, "suite").acquire()
    finally:
        child.kill()
        child.wait()
    assert (tmp_path / ".lock").exists()  # killed: the file stays, the kernel dropped the lock
    with FolderLock(tmp_path, "suite"):
        assert f"taking over the lock on {tmp_path} left by pid {child.pid}" in capsys.readouterr().err
        with pytest.raises(LockHeld, match=f"pid {os.getpid()}"):
            FolderLock(tmp_path, "suite").acquire()
    assert not (tmp_path / ".lock").exists()


@needs_mnist
def test_a_second_suite_on_a_locked_folder_exits_2_without_touching_it(tmp_path, capsys):
    from benchmark import run_all
    child = _locked_by_child(tmp_path / "suite")
    try:
        assert run_all.main(["--out", str(tmp_path / "suite"), "--models", "vanilla", "--resume", "--no-report"]) == 2
    finally:
        child.kill()
        child.wait()
    assert f"is in use by pid {child.pid}" in capsys.readouterr().err
    assert [p.name for p in (tmp_path / "suite").iterdir()] == [".lock"]


@needs_mnist
def test_a_run_folder_being_trained_is_refused(tmp_path, capsys):
    child = _locked_by_child(tmp_path)
    try:
        assert train(tmp_path, 2) == 2
    finally:
        child.kill()
        child.wait()
    assert f"error: {tmp_path} is in use by pid {child.pid}" in capsys.readouterr().err
    assert not (tmp_path / runs.CONFIG).exists()


# ------------------------------------------------------------------------------------ 6. torn metrics line

@needs_mnist
def test_a_torn_last_metrics_line_is_dropped_and_the_run_resumes(tmp_path, capsys):
    assert train(tmp_path / "straight", 6) == 0
    assert train(tmp_path / "run", 4, "--checkpoint-every", "2") == 0
    with (tmp_path / "run" / runs.METRICS).open("a") as file:
        file.write('{"d_loss": 0.69, "epoch": 0, "ste')  # a disk full in the middle of an append
    assert len(runs.MetricsLog(tmp_path / "run" / runs.METRICS).records()) == 4
    assert train(tmp_path / "run", 6, "--checkpoint-every", "2") == 0
    assert "dropped a torn last line" in capsys.readouterr().err
    assert metrics_without_time(tmp_path / "run") == metrics_without_time(tmp_path / "straight")


def test_a_corrupt_metrics_line_before_the_last_is_an_error(tmp_path):
    (tmp_path / runs.METRICS).write_text('{"step": 1}\nnot json\n{"step": 3}\n')
    with pytest.raises(runs.RunError, match="line 2 is not a metrics record"):
        runs.MetricsLog(tmp_path / runs.METRICS).records()


# ------------------------------------------------------------------------------------ 9. timing, completed runs

@needs_mnist
def test_rerunning_a_completed_run_leaves_it_as_it_is(tmp_path, capsys):
    assert train(tmp_path, 6) == 0
    before = _snapshot(tmp_path)
    timing = runs.read_json(tmp_path / runs.TIMING)
    assert train(tmp_path, 6) == 0
    assert f"{tmp_path} is complete (6 steps): nothing to do" in capsys.readouterr().err
    assert _snapshot(tmp_path) == before and runs.read_json(tmp_path / runs.TIMING) == timing
    assert timing["steady_steps"] == 1 and timing["steady_seconds_per_step"] > 0


@needs_mnist
def test_timing_accumulates_over_segments(tmp_path):
    assert train(tmp_path, 7) == 0 and train(tmp_path, 14) == 0 and train(tmp_path, 15) == 0
    timing = runs.read_json(tmp_path / runs.TIMING)
    segments = timing["segments"]
    assert [(s["resumed_from_step"], s["end_step"], s["steady_steps"]) for s in segments] == [(0, 7, 2), (7, 14, 2),
                                                                                               (14, 15, 0)]
    assert timing["steady_steps"] == 4
    assert timing["steady_seconds_per_step"] == pytest.approx(sum(s["steady_seconds"] for s in segments) / 4)
    assert timing["images_per_second"] == pytest.approx(8 / timing["steady_seconds_per_step"])
    assert timing["warmup_seconds"] == segments[0]["warmup_seconds"] > 0
    assert timing["train_seconds"] == pytest.approx(sum(s["train_seconds"] for s in segments), rel=0.01)


def _segment(start: int, end: int) -> dict:
    steady = end - start - 5
    return {"resumed_from_step": start, "end_step": end, "setup_seconds": 1.0, "warmup_seconds": 0.5,
            "steady_steps": steady, "steady_seconds": 0.1 * steady, "steady_seconds_per_step": 0.1,
            "train_seconds": 0.1 * (end - start), "total_seconds": 0.1 * (end - start) + 1.5}


def test_a_killed_segment_keeps_its_timing_up_to_its_last_checkpoint(tmp_path):
    """Written at every checkpoint, replaced by the same process's later writes, kept by a resume from its last
    checkpoint, dropped by a resume from before its end (no step counted twice); it tells the suite where a resume
    starts (``runs.checkpointed_step``, the ETA's steps left)."""
    path = tmp_path / runs.TIMING
    assert runs.checkpointed_step(tmp_path) == 0

    def covered() -> list[tuple[int, int]]:
        return [(s["resumed_from_step"], s["end_step"]) for s in runs.read_json(path)["segments"]]
    write_timing(path, _segment(0, 15), 1.5, 8)
    write_timing(path, _segment(0, 30), 3.0, 8)  # the next checkpoint of the same process, which is then killed
    assert runs.checkpointed_step(tmp_path) == 30
    write_timing(path, _segment(30, 60), 6.0, 8)  # resumed from step 30
    assert covered() == [(0, 30), (30, 60)] and runs.checkpointed_step(tmp_path) == 60
    assert runs.read_json(path)["steady_steps"] == 25 + 25
    write_timing(path, _segment(15, 60), 6.0, 8)  # resumed from step 15 instead (step 30's checkpoint was corrupt)
    assert covered() == [(15, 60)]


# ------------------------------------------------------------------------------------ 4. signals

@needs_mnist
def test_a_stop_signal_landing_while_a_step_is_saved_checkpoints_the_next_step(tmp_path, monkeypatch):
    """A SIGINT that arrives while step 2's grid is written (no checkpoint due there) is taken at step 3, which
    checkpoints: the run never ends interrupted without a checkpoint to resume from."""
    save_png = runs.save_png

    def save_png_then_interrupt(path, image):
        save_png(path, image)
        os.kill(os.getpid(), signal.SIGINT)
    monkeypatch.setattr(runs, "save_png", save_png_then_interrupt)
    assert train(tmp_path, 10, "--grid-every", "2", "--checkpoint-every", "100", "--curve-every", "0") == 4
    assert runs.read_json(tmp_path / runs.RESULT)["step"] == 3
    assert torch.load(tmp_path / runs.CHECKPOINTS / "last.pt", weights_only=True)["meta"]["step"] == 3


# Runs a training entry point as ``python -m`` does, sending itself SIGINT (COUNT times) when the framework's
# import starts: the moment a Ctrl-C used to be lost or turned into a traceback.
SIGNAL_DURING_IMPORT = """
import os, runpy, signal, sys
module, framework, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
class SignalOnImport:
    def find_spec(self, name, path=None, target=None):
        if name == framework:
            sys.meta_path.remove(self)
            for _ in range(count):
                os.kill(os.getpid(), signal.SIGINT)
        return None
sys.meta_path.insert(0, SignalOnImport())
sys.argv = [module, *sys.argv[4:]]
runpy.run_module(module, run_name="__main__", alter_sys=True)
"""


def _signalled_run(out: Path, module: str, framework: str, count: int) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-c", SIGNAL_DURING_IMPORT, module, framework, str(count), "--model",
                           "vanilla", "--steps", "50", "--out", str(out), *TINY], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


@needs_mnist
@pytest.mark.parametrize("module, framework", [("pytorch_impl.train", "torch"), ("tensorflow_impl.train", "keras")])
def test_a_ctrl_c_while_the_framework_loads_interrupts_the_run(tmp_path, module, framework):
    done = _signalled_run(tmp_path, module, framework, 1)
    assert done.returncode == 4, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    result = runs.read_json(tmp_path / runs.RESULT)
    assert (result["status"], result["step"], result["signal"]) == ("interrupted", 0, "SIGINT")


@needs_mnist
def test_a_second_ctrl_c_exits_at_once(tmp_path):
    done = _signalled_run(tmp_path, "pytorch_impl.train", "torch", 2)
    assert done.returncode == 4 and "SIGINT again: exiting now" in done.stderr
    assert not (tmp_path / runs.CONFIG).exists()  # it did not go on to set up the run


def test_a_second_ctrl_c_makes_the_suite_kill_its_children_and_they_count_as_interrupted(tmp_path):
    from benchmark import suite, suite_plan
    from benchmark.profiles import get_profile
    options = suite_plan.SuiteOptions(out=tmp_path, profile=get_profile("smoke"), models=["vanilla"],
                                      frameworks=["pytorch"], seeds=[0])
    harness = suite.Suite(options, stream=open(os.devnull, "w"))
    stubborn = subprocess.Popen([sys.executable, "-c", "import signal, time; signal.signal(signal.SIGINT, "
                                 "signal.SIG_IGN); print('ready', flush=True); time.sleep(60)"],
                                stdout=subprocess.PIPE, text=True)
    assert stubborn.stdout.readline().strip() == "ready"
    harness.executor.children.add(stubborn)  # as the local executor holds a running training process
    harness.interrupt(signal.SIGINT)
    with pytest.raises(subprocess.TimeoutExpired):
        stubborn.wait(timeout=0.5)  # the first Ctrl-C asks; this child ignores it
    harness.interrupt(signal.SIGINT)
    assert stubborn.wait(timeout=10) == -signal.SIGKILL
    assert suite.training_status(-signal.SIGKILL, tmp_path, stopping=True) == runs.INTERRUPTED
    assert suite.training_status(1, tmp_path, stopping=True) == runs.INTERRUPTED
    assert suite.training_status(-signal.SIGKILL, tmp_path) == runs.FAILED


# ------------------------------------------------------------------------------------ 1. unsafe pickles

class _CreatesAFile:
    """Unpickling this calls ``open(path, "w")``: the marker file shows that loading ran code."""

    def __init__(self, path: Path):
        self.path = path

    def __reduce__(self):
        return open, (str(self.path), "w")


@pytest.fixture
def fidelity_cache(tmp_path, monkeypatch):
    from benchmark import fidelity
    monkeypatch.setenv(fidelity.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.delenv(fidelity.INCEPTION_WEIGHTS_ENV, raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    return tmp_path / "cache" / "fidelity"


def test_a_crafted_inception_weights_file_is_refused_without_running_its_code(tmp_path, fidelity_cache, monkeypatch):
    from benchmark import fidelity
    from benchmark.data import DataError
    crafted, marker = tmp_path / "crafted.pth", tmp_path / "pwned"
    torch.save({"fc.weight": torch.zeros(2), "payload": _CreatesAFile(marker)}, crafted)
    with pytest.raises(DataError, match="refused: not a plain weights file"):
        fidelity.resolve_inception_weights(crafted)
    monkeypatch.setenv(fidelity.INCEPTION_WEIGHTS_ENV, str(crafted))
    with pytest.raises(DataError, match="refused"):
        fidelity.resolve_inception_weights()
    assert not marker.exists()
    plain = tmp_path / "plain.pth"
    torch.save({"fc.weight": torch.zeros(2)}, plain)
    assert fidelity.resolve_inception_weights(plain) == plain


def test_the_hub_file_and_a_download_must_have_the_official_sha256(tmp_path, fidelity_cache, monkeypatch):
    from benchmark import fidelity
    from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3
    monkeypatch.setattr(torch.hub, "download_url_to_file", lambda url, dst, **kw: Path(dst).write_bytes(b"evil"))
    with pytest.raises(fidelity.InceptionUnavailable, match="download .* failed .*not the official"):
        fidelity.resolve_inception_weights()
    cached = tmp_path / "hub" / "checkpoints" / Path(URL_INCEPTION_V3).name
    assert not cached.exists() and not list(cached.parent.iterdir())
    cached.write_bytes(b"a file with the official name, not the official content")
    with pytest.raises(fidelity.InceptionUnavailable, match="is not the official weights"):
        fidelity.resolve_inception_weights()


def test_a_planted_reference_cache_file_is_recomputed_not_unpickled(tmp_path, fidelity_cache):
    from benchmark import fidelity
    from benchmark.classifier import DEFAULT_WEIGHTS
    rng = np.random.default_rng(0)
    images, reference = (rng.integers(0, 256, (24, 28, 28), dtype=np.uint8) for _ in range(2))
    first = fidelity.calculate(images, fidelity.CLASSIFIER_EXTRACTOR, DEFAULT_WEIGHTS, reference, "ref", ("fid",))
    cached = sorted(fidelity_cache.glob("ref-*.pt"))
    assert cached
    marker = tmp_path / "pwned"
    for path in cached:
        torch.save({"mu": _CreatesAFile(marker)}, path)
    again = fidelity.calculate(images, fidelity.CLASSIFIER_EXTRACTOR, DEFAULT_WEIGHTS, reference, "ref", ("fid",))
    assert not marker.exists()
    assert again == first


# ------------------------------------------------------------------------------------ 8. diverged samples

@needs_mnist
def test_non_finite_images_end_the_run_as_diverged_and_are_never_saved(tmp_path, monkeypatch):
    from pytorch_impl.train import TorchGAN
    trained = {"steps": 0}
    real_step, real_generate = TorchGAN.train_step, TorchGAN.generate

    def train_step(self, inputs):
        trained["steps"] += 1
        return real_step(self, inputs)

    def generate(self, noise):  # the weights went NaN at step 3; the next loss check (step 5) is later
        images = real_generate(self, noise)
        return images * np.nan if trained["steps"] >= 3 else images

    monkeypatch.setattr(TorchGAN, "train_step", train_step)
    monkeypatch.setattr(TorchGAN, "generate", generate)
    assert train(tmp_path, 6, "--log-every", "5", "--grid-every", "1", "--curve-every", "1") == 3
    result = runs.read_json(tmp_path / runs.RESULT)
    assert (result["status"], result["step"], result["reason"]) == ("diverged", 3, "non-finite generated images")
    assert sorted(p.name for p in (tmp_path / runs.GRIDS).iterdir()) == ["step_00000001.png", "step_00000002.png"]
    assert sorted(p.name for p in (tmp_path / runs.EVAL_SAMPLES).iterdir()) == ["step_00000001.npz",
                                                                                "step_00000002.npz"]
    assert not (tmp_path / runs.SAMPLES).exists()


@needs_mnist
def test_evaluation_skips_the_sample_sets_of_a_diverged_step(tmp_path, monkeypatch):
    from benchmark import evaluate, fidelity
    monkeypatch.setenv(fidelity.CACHE_ENV, str(tmp_path / "cache"))
    rng = np.random.default_rng(0)
    for step in (1, 2, 3):  # step 3: what older runs saved for NaN pixels
        images = rng.integers(0, 256, (16, 28, 28), dtype=np.uint8) if step < 3 else np.zeros((16, 28, 28), np.uint8)
        runs.write_npz(tmp_path / "run" / runs.EVAL_SAMPLES / runs.step_name(step, ".npz"), images=images,
                       step=step, elapsed=float(step))
    runs.write_json(tmp_path / "run" / runs.RESULT, {"status": "diverged", "step": 3})
    curve = evaluate.evaluate_curve(tmp_path / "run", reference_count=50)
    assert [entry["step"] for entry in curve] == [1, 2]


# ------------------------------------------------------------------------------------ 10. minor

@needs_mnist
def test_evaluating_too_few_samples_fails_that_folder_only(tmp_path, capsys, monkeypatch):
    from benchmark import evaluate, fidelity
    monkeypatch.setenv(fidelity.CACHE_ENV, str(tmp_path / "cache"))
    rng = np.random.default_rng(0)
    for name, count in (("tiny", 3), ("fine", 16)):
        runs.write_npz(tmp_path / name / runs.SAMPLES, images=rng.integers(0, 256, (count, 28, 28), dtype=np.uint8))
    code = evaluate.main([str(tmp_path / "tiny"), str(tmp_path / "fine"), "--no-inception", "--reference-count", "50"])
    assert code == 2
    err = capsys.readouterr().err
    assert f"error: {tmp_path / 'tiny' / runs.SAMPLES}: 3 image(s); the metrics need at least 4" in err
    assert (tmp_path / "fine" / runs.EVAL).exists() and not (tmp_path / "tiny" / runs.EVAL).exists()


def test_an_unexpected_evaluation_error_fails_that_folder_only(tmp_path, capsys, monkeypatch):
    from benchmark import evaluate
    done = []

    def evaluate_run(run_dir, **options):
        if Path(run_dir).name == "bad":
            raise np.linalg.LinAlgError("Array must not contain infs or NaNs")
        done.append(Path(run_dir).name)
        return {}

    monkeypatch.setattr(evaluate, "evaluate_run", evaluate_run)
    monkeypatch.setattr(evaluate, "_summary", lambda result: "ok")
    assert evaluate.main([str(tmp_path / "bad"), str(tmp_path / "good")]) == 1
    assert f"error: {tmp_path / 'bad'}: evaluation failed (LinAlgError" in capsys.readouterr().err
    assert done == ["good"]


def test_atomic_writes_honour_the_umask_and_clear_stale_temporaries(tmp_path, monkeypatch):
    monkeypatch.setattr(runs, "UMASK", 0o027)
    stale = tmp_path / ".last.pt.abc123.tmp"
    stale.write_bytes(b"x" * 1000)  # left by a kill -9 in the middle of a checkpoint
    other = tmp_path / ".other.npz.def456.tmp"
    other.write_bytes(b"y")
    runs.atomic_write(tmp_path / "last.pt", lambda f: f.write(b"new"))
    assert not stale.exists() and other.exists()
    assert (tmp_path / "last.pt").stat().st_mode & 0o777 == 0o640  # mkstemp alone gives 0600


@needs_mnist
def test_a_new_training_segment_clears_what_a_killed_one_left(tmp_path):
    assert train(tmp_path, 2) == 0
    stale = tmp_path / runs.CHECKPOINTS / ".last.pt.k9k9k9.tmp"
    stale.write_bytes(b"x" * 1000)
    assert train(tmp_path, 3, "--checkpoint-every", "0", "--grid-every", "0", "--curve-every", "0") == 0
    assert not stale.exists()


@needs_mnist
def test_run_all_exits_3_when_a_run_diverged(tmp_path, capsys, monkeypatch):
    from benchmark import run_all, suite
    outcome = suite.Outcome("wgan-pytorch-seed0", "wgan", "pytorch", 0, 6, "runs/wgan-pytorch-seed0",
                            status=runs.DIVERGED, exit_code=3, eval_exit_code=0)
    monkeypatch.setattr(suite.Suite, "run", lambda self: {outcome.name: outcome})
    assert run_all.main(["--out", str(tmp_path / "s"), "--models", "wgan", "--no-report"]) == 3
    assert "1 run(s) diverged: wgan-pytorch-seed0" in capsys.readouterr().err


# ------------------------------------------------------------------------------------ all faults at once

@needs_mnist
def test_kill_9_a_torn_metrics_line_and_a_corrupt_checkpoint_still_end_like_an_uninterrupted_run(tmp_path, capsys):
    """The uninterrupted run trains in this process (one thread, as the children: the same numbers), the faulty one
    in a child that is killed."""
    arguments = ["--model", "vanilla", "--steps", "60", "--deterministic", "--checkpoint-every", "15",
                 "--curve-every", "0", "--grid-every", "0", *TINY]
    command = [sys.executable, "-m", "pytorch_impl.train", *arguments]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    faulty, straight = tmp_path / "faulty", tmp_path / "straight"
    deterministic = torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.deterministic
    try:
        assert main([*arguments, "--out", str(straight)]) == 0, capsys.readouterr().err[-3000:]
    finally:  # --deterministic switched them on for this whole process
        torch.use_deterministic_algorithms(deterministic[0])
        torch.backends.cudnn.deterministic = deterministic[1]

    process = subprocess.Popen(command + ["--out", str(faulty)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    metrics, deadline = faulty / runs.METRICS, time.time() + 300
    while not (metrics.exists() and len(metrics.read_text().splitlines()) >= 35) and time.time() < deadline:
        time.sleep(0.005)
    assert process.poll() is None, "the run ended before it could be killed"
    process.kill()
    assert process.wait(timeout=60) == -signal.SIGKILL
    assert not (faulty / runs.RESULT).exists()  # no stale verdict for the suite to misread
    [killed] = runs.read_json(faulty / runs.TIMING)["segments"]  # written at its last checkpoint: 30 or 45
    assert killed["resumed_from_step"] == 0 and killed["end_step"] in (30, 45) and killed["steady_steps"] > 0

    with metrics.open("a") as file:
        file.write('{"d_loss": 1.38, "epoch": 0, "g_')  # the disk filled up mid-line
    last = last_pt(faulty)
    if last.exists():  # (absent only if the kill fell between the rotation and the write: previous.pt then)
        flip_byte(last)
    resumed = subprocess.run(command + ["--out", str(faulty)], cwd=ROOT, env=env, capture_output=True, text=True,
                             timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resumed from previous.pt" in resumed.stderr and "dropped a torn last line" in resumed.stderr

    assert same_weights(last_pt(faulty), last_pt(straight))
    assert metrics_without_time(faulty) == metrics_without_time(straight)
    assert [r["step"] for r in runs.MetricsLog(metrics).records()] == list(range(1, 61))
    assert np.array_equal(np.load(faulty / runs.SAMPLES)["images"], np.load(straight / runs.SAMPLES)["images"])
    assert runs.read_json(faulty / runs.RESULT)["status"] == "completed"
    # The killed segment stays if the resume began where it ended; from an earlier checkpoint, it is dropped.
    resumed_from = runs.read_json(faulty / runs.CONFIG)["resumed_from_step"]
    kept = [(0, killed["end_step"])] if killed["end_step"] <= resumed_from else []
    segments = runs.read_json(faulty / runs.TIMING)["segments"]
    assert [(s["resumed_from_step"], s["end_step"]) for s in segments] == kept + [(resumed_from, 60)]
    assert not list(faulty.rglob("*.tmp"))


@needs_mnist
def test_resuming_with_another_configuration_is_refused_in_one_line(tmp_path, capsys):
    """The run's configuration is saved in run_config.json; a resume may train longer, never differently."""
    from benchmark.run_config import RunConfig
    assert train(tmp_path, 2) == 0
    stored = RunConfig.read(tmp_path / runs.RUN_CONFIG)
    assert (stored.model, stored.steps, stored.batch_size, stored.num_samples, stored.mode) == ("vanilla", 2, 8, 16,
                                                                                                "eager")
    (tmp_path / runs.RESULT).unlink()  # as if it had been interrupted after its last checkpoint
    capsys.readouterr()
    assert train(tmp_path, 2, "--num-samples", "32", "--deterministic") == 2
    assert capsys.readouterr().err.strip() == (
        f"error: {tmp_path} was started with another configuration (num_samples 16 -> 32; deterministic False -> "
        f"True); resume it with the same flags, or use another --out folder")
    assert train(tmp_path, 3, "--log-every", "2") == 0  # training longer, logging less often: a resume
    assert RunConfig.read(tmp_path / runs.RUN_CONFIG).steps == 3


# ------------------------------------------------------------------------------------ second round (issue 21)

@needs_mnist
def test_a_resume_shorter_than_the_checkpoint_is_refused_in_one_line(tmp_path, capsys):
    assert train(tmp_path, 6) == 0
    before = _snapshot(tmp_path)
    capsys.readouterr()
    assert train(tmp_path, 4) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: {tmp_path} has trained 6 iterations, more than the 4 asked for; resume it with --steps 6 or more, "
        f"or use another --out folder")
    assert _snapshot(tmp_path) == before


@needs_mnist
def test_a_suite_resumed_shorter_than_its_runs_is_refused_in_one_line(tmp_path, capsys):
    from benchmark import run_all
    run_dir = tmp_path / "suite" / runs.RUNS_DIR / "vanilla-pytorch-seed0"
    runs.write_json(run_dir / runs.RESULT, {runs.KEY_STATUS: runs.COMPLETED, runs.KEY_STEP: 20})
    before = _snapshot(tmp_path)
    assert run_all.main(["--out", str(tmp_path / "suite"), "--models", "vanilla", "--frameworks", "pytorch",
                         "--steps", "10", "--resume", "--no-report"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: {run_dir} has trained 20 iterations, more than the 10 planned now; resume with its length (or "
        f"longer), or use another --out")
    assert _snapshot(tmp_path) == before


def _unwritable(monkeypatch, folder: Path) -> None:
    """A read-only file system under ``folder`` (tests run as root, which chmod does not stop)."""
    import errno
    real_open = os.open

    def open_(path, *args, **kwargs):
        if str(path).startswith(str(folder)):
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", open_)


@needs_mnist
def test_a_read_only_out_is_refused_in_one_line(tmp_path, capsys, monkeypatch):
    from benchmark import run_all
    (tmp_path / "ro").mkdir()
    _unwritable(monkeypatch, tmp_path / "ro")
    assert main(["--model", "vanilla", "--steps", "1", "--out", str(tmp_path / "ro")]) == 2
    assert capsys.readouterr().err == f"error: {tmp_path / 'ro'}: cannot write there (Read-only file system)\n"
    assert run_all.main(["--out", str(tmp_path / "ro"), "--models", "vanilla", "--no-report"]) == 2
    assert capsys.readouterr().err == f"error: {tmp_path / 'ro'}: cannot write there (Read-only file system)\n"
    assert list((tmp_path / "ro").iterdir()) == []


@needs_mnist
def test_run_all_refuses_an_out_that_is_a_file_in_one_line(tmp_path, capsys):
    from benchmark import run_all
    (tmp_path / "file").write_text("x")
    assert run_all.main(["--out", str(tmp_path / "file"), "--models", "vanilla", "--no-report"]) == 2
    assert capsys.readouterr().err == f"error: --out {tmp_path / 'file'}: exists and is not a folder\n"


@needs_mnist
def test_a_crafted_checkpoint_with_a_valid_digest_is_refused_in_one_line_without_running_its_code(tmp_path, capsys):
    marker = tmp_path / "pwned"
    last_pt(tmp_path / "run").parent.mkdir(parents=True)
    checkpoints.save(last_pt(tmp_path / "run"), lambda path: torch.save({"meta": _CreatesAFile(marker)}, path))
    assert train(tmp_path / "run", 2) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "last.pt: unreadable (UnpicklingError: " in err
    assert len(err.splitlines()) == 1 and not marker.exists()


@needs_mnist
def test_repeated_seeds_are_one_run_each_and_relative_paths_are_the_callers(tmp_path, monkeypatch):
    """Children run in the repository root: a relative --out or --data-dir reaches them as the caller meant it."""
    from benchmark import run_all, suite_plan
    mnist = resolve_data_dir()
    monkeypatch.chdir(tmp_path)
    options = run_all.options_from(run_all.parser().parse_args(
        ["--seeds", "1,0,1,0", "--models", "vanilla", "--out", "rel-out", "--data-dir", os.path.relpath(mnist)]))
    assert options.seeds == [1, 0]
    assert options.out == tmp_path / "rel-out" and Path(options.data_dir) == mnist.absolute()
    run = suite_plan.plan(options)[0]
    command = suite_plan.train_command(run, options.out / runs.RUNS_DIR / run.name, options)
    assert Path(command[command.index("--data-dir") + 1]).is_absolute()
    assert Path(command[command.index("--out") + 1]).is_absolute()


@needs_mnist
def test_sighup_checkpoints_a_training_run_like_sigterm(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    process = subprocess.Popen([sys.executable, "-m", "pytorch_impl.train", "--model", "vanilla", "--steps", "100000",
                                "--checkpoint-every", "0", "--out", str(tmp_path), *TINY], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 300
        while not (tmp_path / runs.METRICS).exists() and process.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        process.send_signal(signal.SIGHUP)
        assert process.wait(timeout=120) == 4, process.stderr.read()[-2000:]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    result = runs.read_json(tmp_path / runs.RESULT)
    assert (result["status"], result["signal"]) == ("interrupted", "SIGHUP") and result["step"] > 0
    assert last_pt(tmp_path).exists()  # saved on the stop: no periodic checkpoint was due


def test_scores_are_redone_when_missing_torn_or_not_of_the_current_samples(tmp_path):
    from benchmark import eval_format as ev
    from benchmark.suite import evaluation_needed
    images = np.zeros((8, 28, 28), np.uint8)
    runs.write_npz(tmp_path / runs.SAMPLES, images=images)
    runs.write_npz(tmp_path / runs.EVAL_SAMPLES / runs.step_name(5, ".npz"), images=images, step=5, elapsed=1.0)
    assert evaluation_needed(tmp_path, runs.COMPLETED) == (True, False)  # never scored
    runs.write_json(tmp_path / runs.EVAL, {ev.KEY_SAMPLES_SHA256: checkpoints.file_sha256(tmp_path / runs.SAMPLES)})
    runs.write_json(tmp_path / runs.CURVE, [{ev.KEY_STEP: 5, ev.KEY_SAMPLES_SHA256: checkpoints.file_sha256(
        tmp_path / runs.EVAL_SAMPLES / runs.step_name(5, ".npz"))}])
    assert evaluation_needed(tmp_path, runs.COMPLETED) == (False, False)
    runs.write_npz(tmp_path / runs.EVAL_SAMPLES / runs.step_name(10, ".npz"), images=images, step=10, elapsed=2.0)
    assert evaluation_needed(tmp_path, runs.COMPLETED) == (True, False)  # trained on: a curve point more
    assert evaluation_needed(tmp_path, runs.DIVERGED) == (True, True)
    runs.write_json(tmp_path / runs.RESULT, {runs.KEY_STATUS: runs.DIVERGED, runs.KEY_STEP: 10})
    assert evaluation_needed(tmp_path, runs.DIVERGED) == (False, True)  # the set of the divergence step is not scored
    runs.write_npz(tmp_path / runs.SAMPLES, images=images + 1)  # resumed longer: new final samples
    assert evaluation_needed(tmp_path, runs.COMPLETED) == (True, False)
    (tmp_path / runs.EVAL).write_text('{"mnist": {"fid": 3')  # torn
    assert evaluation_needed(tmp_path, runs.COMPLETED) == (True, False)


@needs_mnist
def test_evaluation_writes_the_fingerprints_of_what_it_scored(tmp_path, monkeypatch):
    from benchmark import eval_format as ev, evaluate, fidelity
    monkeypatch.setenv(fidelity.CACHE_ENV, str(tmp_path / "cache"))
    rng = np.random.default_rng(0)
    runs.write_npz(tmp_path / runs.SAMPLES, images=rng.integers(0, 256, (16, 28, 28), dtype=np.uint8))
    runs.write_npz(tmp_path / runs.EVAL_SAMPLES / runs.step_name(2, ".npz"),
                   images=rng.integers(0, 256, (16, 28, 28), dtype=np.uint8), step=2, elapsed=1.0)
    assert evaluate.main([str(tmp_path), "--no-inception", "--reference-count", "50"]) == 0
    assert ev.scores_current(tmp_path) and ev.curve_current(tmp_path)
