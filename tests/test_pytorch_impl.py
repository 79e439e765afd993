import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from benchmark import initial_weights, runs
from benchmark.data import TrainingStream
from benchmark.datasets import resolve_data_dir
from benchmark.spec import MODEL_NAMES, get_spec, parameter_count
from pytorch_impl import losses as L
from pytorch_impl.models import build_discriminator, build_generator
from pytorch_impl.sample import main as sample
from pytorch_impl.train import TorchGAN, main
from suites import assert_trained_alike, metrics_without_time

ROOT = Path(__file__).resolve().parent.parent
TINY = ["--batch-size", "8", "--num-samples", "40", "--curve-samples", "16", "--log-every", "1"]


@pytest.fixture(scope="module", autouse=True)
def needs_mnist():
    if not (resolve_data_dir() / "train-images-idx3-ubyte.gz").exists():
        pytest.skip("MNIST not found: set $MNIST_DIR")


def train(out: Path, model: str = "vanilla", steps: int = 3, *extra: str) -> int:
    return main(["--model", model, "--steps", str(steps), "--out", str(out), *TINY, *extra])


def weights(run_dir: Path) -> dict[str, torch.Tensor]:
    state = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)
    return {f"{net}.{k}": v for net in ("generator", "discriminator") for k, v in state[net].items()}


def built(spec, seed: int = 0) -> tuple[nn.Sequential, nn.Sequential]:
    weights = initial_weights.draw(spec, seed)
    return build_generator(spec, weights["generator"]), build_discriminator(spec, weights["discriminator"])


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_shapes_and_parameter_counts_match_the_spec(name):
    spec = get_spec(name)
    generator, discriminator = built(spec)
    images = generator(torch.randn(5, spec.training.noise_dim))
    assert images.shape == (5, 1, 28, 28)
    assert -1.0 <= images.min() and images.max() <= 1.0
    assert discriminator(images).shape == (5, 1)
    assert sum(p.numel() for p in generator.parameters()) == parameter_count(spec.architecture.generator, (100,))
    assert sum(p.numel() for p in discriminator.parameters()) == parameter_count(spec.architecture.discriminator,
                                                                                 (1, 28, 28))


def test_batch_norm_uses_the_spec_values_not_pytorch_defaults():
    norms = [m for m in built(get_spec("dcgan"))[0].modules() if isinstance(m, nn.BatchNorm2d)]
    assert norms and all((m.momentum, m.eps) == (0.1, 1e-5) for m in norms)
    assert all(abs(m.weight.mean().item() - 1.0) < 0.01 and m.bias.abs().max() == 0 for m in norms)


@pytest.mark.parametrize("name, std", [("dcgan", 0.02), ("vanilla", None)])
def test_initial_weights_follow_the_spec_distribution(name, std):
    layer = [m for m in built(get_spec(name))[1].modules() if isinstance(m, nn.Linear)][0]
    fan_out, fan_in = layer.weight.shape
    expected = std or (2.0 / (fan_in + fan_out)) ** 0.5  # Glorot-uniform std = limit / sqrt(3)
    assert layer.weight.std().item() == pytest.approx(expected, rel=0.02)
    assert abs(layer.weight.mean().item()) < 0.05 * expected
    assert layer.bias is None if name == "dcgan" else layer.bias.abs().max().item() == 0.0


REAL, FAKE = torch.tensor([[0.0], [2.0]]), torch.tensor([[1.0], [-1.0]])


def test_losses_against_hand_computed_values():
    # softplus(0) = 0.693147, softplus(-2) = 0.126928, softplus(1) = 1.313262, softplus(-1) = 0.313262
    assert L.nonsaturating_d(REAL, FAKE).item() == pytest.approx((0.693147 + 0.126928) / 2 + (1.313262 + 0.313262) / 2, abs=1e-5)
    assert L.nonsaturating_g(FAKE).item() == pytest.approx((0.313262 + 1.313262) / 2, abs=1e-5)
    assert L.least_squares_d(REAL, FAKE, 0.0, 1.0).item() == pytest.approx(0.5 * 1 + 0.5 * 1, abs=1e-6)
    assert L.least_squares_d(REAL, FAKE, -1.0, 1.0).item() == pytest.approx(0.5 * 1 + 0.5 * (4 + 0) / 2, abs=1e-6)
    assert L.least_squares_g(FAKE, 1.0).item() == pytest.approx(0.5 * (0 + 4) / 2, abs=1e-6)
    assert L.wasserstein_d(REAL, FAKE).item() == pytest.approx(0.0 - 1.0)
    assert L.wasserstein_g(FAKE).item() == pytest.approx(0.0)


def test_gradient_penalty_equals_its_closed_form_on_a_linear_critic():
    torch.manual_seed(0)
    critic = nn.Sequential(nn.Flatten(), nn.Linear(784, 1))
    real, fake = torch.randn(4, 1, 28, 28), torch.randn(4, 1, 28, 28)
    penalty = L.gradient_penalty(critic, real, fake, torch.rand(4))
    closed_form = (critic[1].weight.norm() - 1.0) ** 2  # the gradient of a linear critic is its weight everywhere
    assert penalty.item() == pytest.approx(closed_form.item(), rel=1e-5)
    penalty.backward()
    assert critic[1].weight.grad is not None and critic[1].weight.grad.abs().sum() > 0


def test_clipping_keeps_every_critic_weight_within_the_clip_value():
    critic = built(get_spec("wgan"))[1]
    with torch.no_grad():
        for p in critic.parameters():
            p.mul_(100.0)
    L.clip_weights(critic, 0.01)
    assert max(p.abs().max().item() for p in critic.parameters()) == pytest.approx(0.01)


def test_a_wgan_iteration_clips_and_runs_n_critic_critic_steps():
    spec = get_spec("wgan")
    gan = TorchGAN(spec, seed=0, device="cpu")
    images = np.random.default_rng(0).integers(0, 255, (100, 28, 28), dtype=np.uint8)
    losses = gan.train_step(TrainingStream(images, 8, 100, 0, n_critic=5).step(0))
    assert set(losses) == {"d_loss", "g_loss"}
    assert max(p.abs().max().item() for p in gan.discriminator.parameters()) <= 0.01
    assert gan.d_optimizer.state[next(gan.discriminator.parameters())]["step"] == 5
    assert gan.g_optimizer.state[next(gan.generator.parameters())]["step"] == 1


@pytest.fixture(scope="module")
def lsgan_run(tmp_path_factory) -> Path:
    """An lsgan run of 8 iterations (5 warm-up, 3 timed), trained once for the tests that read it or a copy of it."""
    run_dir = tmp_path_factory.mktemp("lsgan")
    assert train(run_dir, "lsgan", 8) == 0
    return run_dir


def test_steady_state_timing_is_reported_after_the_warm_up(lsgan_run):
    timing = runs.read_json(lsgan_run / runs.TIMING)
    assert timing["warmup_steps"] == 5 and timing["steady_steps"] == 3
    assert timing["images_per_second"] == pytest.approx(8 / timing["steady_seconds_per_step"])


def test_a_run_continued_or_of_another_seed_equals_or_differs_from_one_trained_at_once(lsgan_run, tmp_path):
    """Two runs of one seed, one of them stopped after 2 iterations and continued: identical metrics, samples and
    weights (a fresh run that was not deterministic could not match the other); another seed's metrics differ."""
    assert train(tmp_path / "twice", "lsgan", 2) == 0 and train(tmp_path / "twice", "lsgan", 8) == 0
    assert runs.read_json(tmp_path / "twice" / runs.CONFIG)["resumed_from_step"] == 2
    assert_trained_alike(lsgan_run, tmp_path / "twice", lambda run: {k: v.numpy() for k, v in weights(run).items()})
    assert train(tmp_path / "other", "lsgan", 8, "--seed", "1") == 0
    assert metrics_without_time(lsgan_run) != metrics_without_time(tmp_path / "other")


def test_continuing_a_fused_run_equals_training_longer_at_once(tmp_path):
    assert train(tmp_path / "once", "vanilla", 4, "--mode", "fused") == 0
    assert train(tmp_path / "twice", "vanilla", 2, "--mode", "fused") == 0
    assert train(tmp_path / "twice", "vanilla", 4, "--mode", "fused") == 0
    assert runs.read_json(tmp_path / "twice" / runs.CONFIG)["resumed_from_step"] == 2
    assert metrics_without_time(tmp_path / "once") == metrics_without_time(tmp_path / "twice")
    once, twice = weights(tmp_path / "once"), weights(tmp_path / "twice")
    assert all(torch.equal(once[k], twice[k]) for k in once)


def test_sigterm_checkpoints_and_the_same_command_resumes_exactly(tmp_path):
    """SIGTERM once 5 iterations are logged: the 75 left keep the run training well past the signal's arrival."""
    command = [sys.executable, "-m", "pytorch_impl.train", "--model", "vanilla", "--steps", "80", "--deterministic",
               "--checkpoint-every", "0", "--curve-every", "0", "--grid-every", "0", *TINY]
    stopped = subprocess.Popen(command + ["--out", str(tmp_path / "stopped")], cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    metrics = tmp_path / "stopped" / runs.METRICS
    deadline = time.time() + 120
    while not (metrics.exists() and len(metrics.read_text().splitlines()) >= 5) and time.time() < deadline:
        time.sleep(0.01)
    stopped.send_signal(signal.SIGTERM)
    assert stopped.wait(timeout=60) == runs.EXIT_CODES["interrupted"]
    result = runs.read_json(tmp_path / "stopped" / runs.RESULT)
    assert result["status"] == "interrupted" and result["signal"] == "SIGTERM" and 5 <= result["step"] < 80
    assert (tmp_path / "stopped" / "checkpoints" / "last.pt").exists()

    for out in ("stopped", "straight"):
        subprocess.run(command + ["--out", str(tmp_path / out)], cwd=ROOT, check=True, capture_output=True)
    resumed, straight = weights(tmp_path / "stopped"), weights(tmp_path / "straight")
    assert all(torch.equal(resumed[k], straight[k]) for k in straight)
    assert metrics_without_time(tmp_path / "stopped") == metrics_without_time(tmp_path / "straight")


def test_a_nan_loss_ends_the_run_as_diverged(tmp_path, monkeypatch):
    monkeypatch.setattr(L, "nonsaturating_g", lambda fake: fake.mean() * float("nan"))
    assert train(tmp_path, "vanilla", 5) == runs.EXIT_CODES["diverged"] == 3
    result = runs.read_json(tmp_path / runs.RESULT)
    assert result["status"] == "diverged" and result["step"] == 1 and result["losses"]["g_loss"] == "nan"
    assert not (tmp_path / runs.SAMPLES).exists()


def test_a_checkpoint_of_another_model_is_refused(lsgan_run, tmp_path, capsys):
    shutil.copytree(lsgan_run, tmp_path / "run")
    assert train(tmp_path / "run", "dcgan", 9) == 2
    assert "holds a run with model 'lsgan', this run has 'dcgan'" in capsys.readouterr().err


def test_sample_cli_writes_a_grid_and_an_interpolation_strip(lsgan_run, tmp_path):
    """The CLI's ``main`` in this process: its arguments, loading and drawing (``python -m pytorch_impl.sample`` as a
    process: tests/test_exports.py)."""
    for extra, shape in (([], (2 + 2 * 30, 2 + 8 * 30)), (["--interpolate"], (2 + 3 * 30, 2 + 10 * 30))):
        out = tmp_path / "grid.png"
        assert sample(["--run", str(lsgan_run), "--n", "16" if not extra else "3", "--out", str(out), *extra]) == 0
        assert np.asarray(Image.open(out)).shape == shape
