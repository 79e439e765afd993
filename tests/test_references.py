"""Reference rows: seeded sets, scored with the run's metrics (real digits far below uniform noise), cached by count."""
from __future__ import annotations

import numpy as np

from benchmark import eval_format as ev
from benchmark import fidelity, references, suite_plan
from benchmark.profiles import get_profile


def test_reference_sets_are_seeded_training_digits_and_uniform_noise(mnist):
    (train, train_labels), _ = mnist
    sets = references.reference_sets(300)
    again = references.reference_sets(300)
    (real, real_labels), (noise, noise_labels) = sets[ev.REFERENCE_REAL], sets[ev.REFERENCE_NOISE]
    assert real.shape == noise.shape == (300, 28, 28) and real.dtype == noise.dtype == np.uint8
    for name in ev.REFERENCE_SETS:
        assert all(np.array_equal(a, b) for a, b in zip(sets[name], again[name]))
    assert not np.array_equal(real, train[:300])  # a seeded sample, not the first images
    rows = [int(np.flatnonzero((train == image).all(axis=(1, 2)))[0]) for image in real[:5]]
    assert np.array_equal(real_labels[:5], train_labels[rows])  # each digit keeps its own label
    assert np.array_equal(noise_labels, np.arange(300) % 10)  # the labels a conditional run requests
    assert noise.min() == 0 and noise.max() == 255 and abs(noise.mean() - 127.5) < 1.0


def test_compute_references_scores_and_caches(mnist, tmp_path, monkeypatch):
    monkeypatch.setenv(fidelity.CACHE_ENV, str(tmp_path / "cache"))
    path, value = references.compute_references(tmp_path / "refs", 300, reference_count=1000)
    assert path.name == ev.reference_file_name(300, 1000)
    real, noise = (value[ev.KEY_SETS][name] for name in (ev.REFERENCE_REAL, ev.REFERENCE_NOISE))
    assert real[ev.KEY_NUM_SAMPLES] == noise[ev.KEY_NUM_SAMPLES] == 300
    assert real[ev.KEY_CLASSIFIER][ev.KEY_FID] < 0.05 * noise[ev.KEY_CLASSIFIER][ev.KEY_FID]
    assert real[ev.KEY_COVERAGE][ev.KEY_DIGITS_COVERED] == 10
    # scored as a conditional generator's samples: real digits read as their labels, noise as one class in ten
    assert real[ev.KEY_CONDITIONAL][ev.KEY_ACCURACY] > 0.95 and noise[ev.KEY_CONDITIONAL][ev.KEY_ACCURACY] < 0.2
    real_intra, noise_intra = real[ev.KEY_CONDITIONAL][ev.KEY_INTRA_FID], noise[ev.KEY_CONDITIONAL][ev.KEY_INTRA_FID]
    assert len(real[ev.KEY_CONDITIONAL][ev.KEY_INTRA_FID_PER_CLASS]) == 10 and real_intra < 0.1 * noise_intra
    assert noise[ev.KEY_INCEPTION][ev.KEY_AVAILABLE] is False
    written = path.stat().st_mtime_ns
    assert references.compute_references(tmp_path / "refs", 300, reference_count=1000)[1] == value
    assert path.stat().st_mtime_ns == written  # reused, not scored again


def test_suite_scores_the_references_at_the_profile_sample_count(tmp_path):
    profile = get_profile("quick")
    options = suite_plan.SuiteOptions(out=tmp_path, profile=profile, models=["dcgan"], frameworks=["pytorch"],
                                      seeds=[0], data_dir="/data")
    command = suite_plan.references_command(options)
    assert command[1:5] == ["-m", "benchmark.references", str(tmp_path / ev.REFERENCES_DIR), "--num-samples"]
    assert command[5] == str(profile.num_samples) and "--no-inception" in command
    assert command[-2:] == ["--data-dir", "/data"]
