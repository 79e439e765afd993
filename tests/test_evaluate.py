"""Evaluation: torch-fidelity's FID against a closed form, sanity values of the MNIST metrics, the run-folder
CLI, the offline Inception behaviour (no weights; a random weights file made here) and PYTHONHASHSEED parity."""
import json
import math
import os
import subprocess
import sys
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch
import torch_fidelity
from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric

from benchmark import evaluate as ev
from benchmark import fidelity
from benchmark.classifier import DEFAULT_WEIGHTS, file_sha256, load_classifier, predict
from benchmark.data import DataError

N = 2000  # images per side in the sanity checks: 10,000 gives the same picture, slower
# Values of the committed classifier at N = 2000 (FID falls with N: 5.1 for 10,000 train vs 10,000 test).
FID_REAL, FID_NOISE, KID_REAL = 48.55, 2053.9, 100.0
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module", autouse=True)
def cache(tmp_path_factory):
    """A fresh statistics cache for this module (so no stale cache hides a bug), shared by its tests."""
    with pytest.MonkeyPatch.context() as patch:
        path = tmp_path_factory.mktemp("cache")
        patch.setenv(fidelity.CACHE_ENV, str(path))
        patch.delenv(fidelity.INCEPTION_WEIGHTS_ENV, raising=False)
        yield path


def mnist_metrics(images, reference, name, metrics=("isc", "fid", "kid", "prc")):
    return fidelity.calculate(images, fidelity.CLASSIFIER_EXTRACTOR, DEFAULT_WEIGHTS, reference, name, metrics)


# --- FID formula ---------------------------------------------------------------------------------------

def test_fid_matches_the_closed_form_of_two_gaussians():
    # N(mu1, s^2 I) vs N(mu2, S): (S1 S2)^(1/2) = s S^(1/2), so FID = |mu1 - mu2|^2 + d s^2 + tr S - 2 s tr S^(1/2)
    rng = np.random.default_rng(0)
    d, s = 6, 1.5
    a = rng.standard_normal((d, d))
    sigma2 = a @ a.T + d * np.eye(d)
    mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
    expected = (np.sum((mu1 - mu2) ** 2) + d * s ** 2 + np.trace(sigma2)
                - 2 * s * np.sum(np.sqrt(np.linalg.eigvalsh(sigma2))))
    fid = fid_statistics_to_metric({"mu": mu1, "sigma": s ** 2 * np.eye(d)}, {"mu": mu2, "sigma": sigma2}, False)
    assert fid[torch_fidelity.KEY_METRIC_FID] == pytest.approx(expected, rel=1e-9)
    # and from samples: the statistics torch-fidelity estimates converge on the same value
    x1 = mu1 + s * rng.standard_normal((200_000, d))
    x2 = mu2 + rng.standard_normal((200_000, d)) @ np.linalg.cholesky(sigma2).T
    stats = [fid_features_to_statistics(torch.from_numpy(x)) for x in (x1, x2)]
    assert fid_statistics_to_metric(*stats, False)[torch_fidelity.KEY_METRIC_FID] == pytest.approx(expected, rel=0.02)


def test_fid_of_equal_gaussians_is_zero():
    stats = {"mu": np.zeros(3), "sigma": np.diag([1.0, 2.0, 3.0])}
    assert fid_statistics_to_metric(stats, stats, False)[torch_fidelity.KEY_METRIC_FID] == pytest.approx(0, abs=1e-9)


# --- coverage (pure) -----------------------------------------------------------------------------------

def test_coverage_of_one_digit_and_of_uniform_digits():
    one = ev.coverage(np.full(100, 7))
    assert one[ev.KEY_HISTOGRAM] == [0] * 7 + [100, 0, 0]
    assert one[ev.KEY_DIGITS_COVERED] == 1
    assert one[ev.KEY_KL_TO_UNIFORM] == pytest.approx(math.log(10))
    uniform = ev.coverage(np.repeat(np.arange(10), 50))
    assert uniform[ev.KEY_DIGITS_COVERED] == 10
    assert uniform[ev.KEY_KL_TO_UNIFORM] == pytest.approx(0, abs=1e-12)


def test_a_digit_under_one_percent_is_not_covered():
    predictions = np.concatenate([np.full(995, 3), np.full(5, 4)])  # digit 4: 0.5 % of the samples
    assert ev.coverage(predictions)[ev.KEY_DIGITS_COVERED] == 1
    predictions = np.concatenate([np.full(990, 3), np.full(10, 4)])  # digit 4: exactly 1 %
    assert ev.coverage(predictions)[ev.KEY_DIGITS_COVERED] == 2


# --- sanity values of the MNIST metrics ----------------------------------------------------------------

@pytest.fixture(scope="module")
def test_vs_train(mnist):
    (train, _), (test, _) = mnist
    return mnist_metrics(train[:N], test[:N], f"mnist-test-{N}")


def test_mnist_fid_of_real_data_is_near_zero_and_of_noise_very_large(mnist, test_vs_train):
    (_, _), (test, _) = mnist
    real = test_vs_train[torch_fidelity.KEY_METRIC_FID]
    noise = np.random.default_rng(0).integers(0, 256, size=(N, 28, 28), dtype=np.uint8)
    fid_noise = mnist_metrics(noise, test[:N], f"mnist-test-{N}", ("fid",))[torch_fidelity.KEY_METRIC_FID]
    assert real == pytest.approx(FID_REAL, rel=0.02)
    assert fid_noise == pytest.approx(FID_NOISE, rel=0.02)
    assert real / fid_noise == pytest.approx(0, abs=0.03)  # "near 0" on the scale of these features


def test_mnist_is_of_real_data_is_near_10_and_precision_recall_high(test_vs_train):
    assert test_vs_train[torch_fidelity.KEY_METRIC_ISC_MEAN] == pytest.approx(10, abs=0.6)
    assert test_vs_train[torch_fidelity.KEY_METRIC_PRECISION] == pytest.approx(0.87, abs=0.03)
    assert test_vs_train[torch_fidelity.KEY_METRIC_RECALL] == pytest.approx(0.87, abs=0.03)
    # not 0: the classifier was trained on the training images, so their features differ from the test set's
    assert test_vs_train[torch_fidelity.KEY_METRIC_KID_MEAN] == pytest.approx(KID_REAL, rel=0.02)


def test_mnist_is_of_a_single_digit_is_near_1(mnist):
    (_, _), (test, labels) = mnist
    ones = test[labels == 1][:500]
    repeated = np.repeat(test[:1], 500, axis=0)
    assert mnist_metrics(ones, test[:N], f"mnist-test-{N}", ("isc",))[
        torch_fidelity.KEY_METRIC_ISC_MEAN] == pytest.approx(1, abs=0.1)
    assert mnist_metrics(repeated, test[:N], f"mnist-test-{N}", ("isc",))[
        torch_fidelity.KEY_METRIC_ISC_MEAN] == pytest.approx(1, abs=1e-6)


def test_coverage_of_a_one_digit_sample_set_is_1(mnist):
    (_, _), (test, labels) = mnist
    result = ev.coverage(predict(load_classifier(), test[labels == 1]))
    assert result[ev.KEY_DIGITS_COVERED] == 1
    assert result[ev.KEY_KL_TO_UNIFORM] == pytest.approx(math.log(10), abs=0.05)


# --- run folders and the CLI ---------------------------------------------------------------------------

def make_run(path: Path, images: np.ndarray, steps=(200, 100)) -> Path:
    path.mkdir()
    np.savez(path / ev.SAMPLES_FILE, images=images)
    (path / "config.json").write_text(json.dumps({"framework": "pytorch", "model": "dcgan", "seed": 1}))
    (path / "result.json").write_text(json.dumps({"status": "completed"}))
    (path / ev.EVAL_SAMPLES_DIR).mkdir()
    for step in steps:
        np.savez(path / ev.EVAL_SAMPLES_DIR / f"step_{step:08d}.npz", images=images[:500], step=step,
                 elapsed=step / 10)
    return path


EVAL_KEYS = {ev.KEY_RUN, ev.KEY_CLASSIFIER, ev.KEY_INCEPTION, ev.KEY_COVERAGE, ev.KEY_NUM_SAMPLES, ev.KEY_REFERENCE,
             ev.KEY_SECONDS, ev.KEY_VERSIONS, ev.KEY_SAMPLES_SHA256, ev.KEY_CONDITIONAL, ev.KEY_DATASET}


def test_evaluate_run_writes_eval_json_with_the_documented_keys(mnist, tmp_path):
    (train, _), _ = mnist
    run = make_run(tmp_path / "run", train[:N])
    result = ev.evaluate_run(run, inception=False, reference_count=N)
    assert json.loads((run / ev.EVAL_FILE).read_text()) == result
    assert set(result) == EVAL_KEYS
    assert result[ev.KEY_RUN] == {"framework": "pytorch", "model": "dcgan", "seed": 1, "status": "completed"}
    assert set(result[ev.KEY_CLASSIFIER]) == set(ev.CLASSIFIER_METRICS)
    assert result[ev.KEY_INCEPTION] == {ev.KEY_AVAILABLE: False, ev.KEY_REASON: ev.NO_INCEPTION_REASON,
                                        ev.KEY_WEIGHTS_SHA256: None, ev.KEY_OFFICIAL_WEIGHTS: False,
                                        **dict.fromkeys(ev.INCEPTION_METRICS)}
    assert result[ev.KEY_NUM_SAMPLES] == N and result[ev.KEY_REFERENCE] == f"mnist-test-{N}"
    assert result[ev.KEY_COVERAGE][ev.KEY_DIGITS_COVERED] == 10
    assert sum(result[ev.KEY_COVERAGE][ev.KEY_HISTOGRAM]) == N
    assert result[ev.KEY_VERSIONS][ev.KEY_CLASSIFIER_SHA256] == file_sha256(DEFAULT_WEIGHTS)
    assert result[ev.KEY_SAMPLES_SHA256] == file_sha256(run / ev.SAMPLES_FILE)
    assert result[ev.KEY_CONDITIONAL] is None  # no requested labels in the samples


def test_conditional_accuracy_counts_the_requested_digit_overall_and_per_class():
    predictions, labels = np.array([0, 1, 1, 2, 9, 9]), np.array([0, 1, 2, 2, 9, 3])
    result = ev.conditional_accuracy(predictions, labels)
    assert result[ev.KEY_ACCURACY] == pytest.approx(4 / 6)
    assert result[ev.KEY_PER_CLASS_ACCURACY] == [1.0, 1.0, 0.5, 0.0, None, None, None, None, None, 1.0]


def test_real_digits_with_their_labels_score_high_and_shuffled_labels_near_chance(mnist, tmp_path):
    """The reference rows of a conditional generator: real digits requested as themselves, and at random."""
    (train, train_labels), (test, test_labels) = mnist
    images, labels = train[:1000], train_labels[:1000].astype(np.int64)
    shuffled = np.random.default_rng(0).permutation(labels)
    run = make_run(tmp_path / "run", images, steps=())
    np.savez(run / ev.SAMPLES_FILE, images=images, labels=labels)
    true = ev.evaluate_run(run, inception=False, reference_count=N)[ev.KEY_CONDITIONAL]
    wrong = ev.conditional_accuracy(predict(load_classifier(), images), shuffled)
    wrong_fid = ev.intra_class_fid(images, shuffled, test[:N], test_labels[:N], f"mnist-test-{N}", DEFAULT_WEIGHTS)
    assert true[ev.KEY_ACCURACY] > 0.97 and min(true[ev.KEY_PER_CLASS_ACCURACY]) > 0.9
    assert wrong[ev.KEY_ACCURACY] == pytest.approx(0.1, abs=0.05)
    assert len(true[ev.KEY_INTRA_FID_PER_CLASS]) == 10 and true[ev.KEY_WORST_CLASS] in range(10)
    assert wrong_fid[ev.KEY_INTRA_FID] > 3 * true[ev.KEY_INTRA_FID]


def test_evaluate_curve_scores_every_step_in_order(mnist, tmp_path):
    (train, _), _ = mnist
    run = make_run(tmp_path / "run", train[:N])
    curve = ev.evaluate_curve(run, reference_count=N)
    assert json.loads((run / ev.CURVE_FILE).read_text()) == curve
    assert [(point[ev.KEY_STEP], point[ev.KEY_ELAPSED]) for point in curve] == [(100, 10.0), (200, 20.0)]
    assert curve[0][ev.KEY_CLASSIFIER_FID] == pytest.approx(curve[1][ev.KEY_CLASSIFIER_FID], rel=1e-6)  # same images


def test_cli_errors_are_one_line_and_exit_2(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert ev.main([str(tmp_path / "missing"), str(tmp_path / "empty"), "--no-inception"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [f"error: {tmp_path / 'missing'}: not a directory",
                     f"error: {tmp_path / 'empty' / ev.SAMPLES_FILE} not found"]


def test_cli_rejects_samples_of_the_wrong_type(tmp_path, capsys):
    run = make_run(tmp_path / "run", np.zeros((10, 28, 28), np.float32), steps=())
    assert ev.main([str(run), "--no-inception"]) == 2
    assert "'images' must be uint8 [N, 28, 28] (MNIST); got float32" in capsys.readouterr().err


# --- Inception, offline ---------------------------------------------------------------------------------

def test_without_weights_inception_is_unavailable_with_the_reason_and_the_rest_completes(mnist, tmp_path,
                                                                                       monkeypatch):
    def offline(target):
        raise urllib.error.URLError("no network (test)")

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # an empty torch hub cache
    monkeypatch.setattr(fidelity, "_download_inception_weights", offline)
    (train, _), _ = mnist
    result = ev.evaluate_images(train[:N], reference_count=N)
    inception = result[ev.KEY_INCEPTION]
    assert inception[ev.KEY_AVAILABLE] is False
    assert "download" in inception[ev.KEY_REASON] and "no network (test)" in inception[ev.KEY_REASON]
    assert all(inception[key] is None for key in ev.INCEPTION_METRICS)
    assert all(math.isfinite(value) for value in result[ev.KEY_CLASSIFIER].values())


def test_a_named_weights_file_that_does_not_exist_is_an_error(tmp_path):
    with pytest.raises(DataError, match="Inception weights file not found"):
        fidelity.resolve_inception_weights(tmp_path / "absent.pth")


@pytest.fixture(scope="module")
def random_inception_weights(tmp_path_factory):
    """A state dict of the right shapes: torch-fidelity's own module, randomly initialised, loading nothing."""
    from torch_fidelity import feature_extractor_inceptionv3 as inception

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(inception, "load_state_dict_from_url", lambda *args, **kwargs: {})
        patch.setattr(inception.FeatureExtractorInceptionV3, "load_state_dict", lambda self, state: None)
        torch.manual_seed(0)
        module = inception.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    path = tmp_path_factory.mktemp("weights") / "random-inception.pth"
    torch.save(module.state_dict(), path)
    return path


def test_inception_path_runs_offline_with_a_local_weights_file(mnist, random_inception_weights, cache):
    # The numbers of random weights mean nothing: they are checked for consistency, never written to a report.
    _, (test, _) = mnist
    n = 8  # Inception resizes to 299 x 299 (slow on a CPU); a few images exercise every metric of the path
    inception = ev.evaluate_images(test[:n], reference_count=n, inception_weights=random_inception_weights)[
        ev.KEY_INCEPTION]
    sha = file_sha256(random_inception_weights)
    assert inception[ev.KEY_AVAILABLE] is True and inception[ev.KEY_REASON] is None
    assert inception[ev.KEY_WEIGHTS_SHA256] == sha and inception[ev.KEY_OFFICIAL_WEIGHTS] is False
    assert inception[ev.KEY_FID] == pytest.approx(0, abs=1e-2)  # the samples are the reference
    assert 1 <= inception[ev.KEY_IS_MEAN] <= 1008  # IS lies between 1 and the number of classes
    assert all(math.isfinite(inception[key]) for key in ev.INCEPTION_METRICS)
    # the reference's cached features are keyed by this weights file, so real weights never reuse them
    assert list(Path(cache, "fidelity").glob(f"mnist-test-{n}-{sha[:16]}-inception-v3-compat-*"))


# --- PARITY-NOTES §6: the features' order must not depend on string hashing ------------------------------

HASH_SCRIPT = """
import json, sys
from benchmark import fidelity
from benchmark.classifier import DEFAULT_WEIGHTS
from benchmark.data import load_mnist
order = list({"logits", "features"})  # how torch-fidelity's features_list is built (a set)
train, test = load_mnist("train")[0][:500], load_mnist("test")[0][:500]
print(json.dumps({"order": order, "metrics": fidelity.calculate(train, fidelity.CLASSIFIER_EXTRACTOR,
      DEFAULT_WEIGHTS, test, "mnist-test-500")}))
"""


def test_metrics_do_not_depend_on_pythonhashseed(mnist, tmp_path):
    outputs = []
    for seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=seed, **{fidelity.CACHE_ENV: str(tmp_path / seed)})
        done = subprocess.run([sys.executable, "-c", HASH_SCRIPT], cwd=REPO, env=env, capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        outputs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    assert outputs[0]["order"] != outputs[1]["order"]  # the two processes really did order them differently
    assert outputs[0]["metrics"] == outputs[1]["metrics"]
