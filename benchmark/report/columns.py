"""Column names of ``summary.csv`` and the metrics the report tabulates, defined once; framework labels and colours."""
from __future__ import annotations

from dataclasses import dataclass

from benchmark import eval_format as ev
from benchmark.frameworks import FRAMEWORKS

FRAMEWORK_ORDER = tuple(f.name for f in FRAMEWORKS.values())
COLORS = {f.name: f.color for f in FRAMEWORKS.values()}
PRETTY = {f.name: f.pretty for f in FRAMEWORKS.values()}

# Quality columns: eval.json's metric blocks, prefixed by the extractor (the data set's classifier, Inception).
CLASSIFIER = {key: f"classifier_{key}" for key in ev.CLASSIFIER_KEYS}
INCEPTION = {key: f"inception_{key}" for key in ev.INCEPTION_KEYS}
CLASSIFIER_FID, CLASSIFIER_IS = CLASSIFIER[ev.KEY_FID], CLASSIFIER[ev.KEY_IS_MEAN]
CLASSIFIER_KID = CLASSIFIER[ev.KEY_KID_MEAN]
CLASSES_COVERED, KL_TO_UNIFORM = "classes_covered", ev.KEY_KL_TO_UNIFORM  # eval.json: digits_covered
CLASS_HISTOGRAM, LARGEST_CLASS, SMALLEST_CLASS = "class_histogram", "largest_class_share", "smallest_class_share"
GRADE, FID_POSITION = "grade", "fid_position"  # benchmark.report.grading, per run
NUM_SAMPLES_SCORED = "num_samples_scored"
CURVE_LAST_FID = "curve_last_classifier_fid"
# Speed columns
TRAIN_SECONDS, SETUP_SECONDS, COMPILE_SECONDS = "train_seconds", "setup_seconds", "compile_seconds"
WARMUP_SECONDS, STARTUP_SECONDS = "warmup_seconds", "startup_seconds"
STEADY_MS_PER_STEP, IMAGES_PER_SECOND = "steady_ms_per_step", "images_per_second"
OTHER_CPU_SHARE = "other_cpu_share"
INITIAL_WEIGHTS = "initial_weights_sha256"  # fingerprint of the weights a run started from (pairing)
# Conditional columns: eval.json's conditional block (empty for an unconditional run); CONDITIONAL says whether the
# run's spec conditions on a label (config.json), so that a conditional run without the block is still known as one.
CONDITIONAL = "conditional"
ACCURACY, PER_CLASS_ACCURACY = "requested_class_accuracy", "requested_class_accuracy_per_class"
WORST_ACCURACY, WORST_ACCURACY_CLASS = "worst_class_accuracy", "worst_accuracy_class"
INTRA_FID, INTRA_FID_PER_CLASS = "intra_class_fid", "intra_class_fid_per_class"
WORST_INTRA_FID, WORST_INTRA_FID_CLASS = "worst_class_intra_fid", "worst_intra_fid_class"
CONDITIONAL_COLUMNS = (CONDITIONAL, ACCURACY, WORST_ACCURACY_CLASS, WORST_ACCURACY, PER_CLASS_ACCURACY, INTRA_FID,
                       WORST_INTRA_FID_CLASS, WORST_INTRA_FID, INTRA_FID_PER_CLASS)


@dataclass(frozen=True)
class Metric:
    column: str
    label: str
    better: str  # "lower", "higher" or "" (no direction)
    digits: int = 4
    spread: str | None = None  # column of the metric's own standard deviation (IS over splits, KID over subsets)


QUALITY = (
    Metric(CLASSIFIER_FID, "classifier FID", "lower"),
    Metric(CLASSIFIER_IS, "classifier IS", "higher", spread=CLASSIFIER[ev.KEY_IS_STD]),
    Metric(CLASSIFIER_KID, "classifier KID", "lower", spread=CLASSIFIER[ev.KEY_KID_STD]),
    Metric(CLASSIFIER[ev.KEY_PRECISION], "precision (classifier features)", "higher"),
    Metric(CLASSIFIER[ev.KEY_RECALL], "recall (classifier features)", "higher"),
    Metric(INCEPTION[ev.KEY_FID], "Inception FID", "lower"),
    Metric(INCEPTION[ev.KEY_IS_MEAN], "Inception IS", "higher", spread=INCEPTION[ev.KEY_IS_STD]),
    Metric(INCEPTION[ev.KEY_KID_MEAN], "Inception KID", "lower", spread=INCEPTION[ev.KEY_KID_STD]),
    Metric(CLASSES_COVERED, "classes covered (of 10)", "higher"),
    Metric(KL_TO_UNIFORM, "KL(class histogram ‖ uniform), nats", "lower"),
)
# The data sets whose published GAN numbers are the Inception metrics (CIFAR-10's FID and IS): their quality tables
# put those first when they were computed.
INCEPTION_FIRST = ("cifar10",)
SPEED = (
    Metric(TRAIN_SECONDS, "training time, s", "lower"),
    Metric(COMPILE_SECONDS, "compile (before the first iteration), s", "lower"),
    Metric(WARMUP_SECONDS, "warm-up (first 5 iterations), s", "lower"),
    Metric(SETUP_SECONDS, "process set-up (imports, data, models, compile), s", "lower"),
    Metric(STEADY_MS_PER_STEP, "steady-state ms / iteration", "lower"),
    Metric(IMAGES_PER_SECOND, "steady-state real images / s", "higher"),
)
CONDITIONAL_QUALITY = (
    Metric(ACCURACY, "requested-class accuracy", "higher"),
    Metric(WORST_ACCURACY, "worst class's requested-class accuracy", "higher"),
    Metric(INTRA_FID, "intra-class classifier FID (mean over classes)", "lower"),
    Metric(WORST_INTRA_FID, "worst class's intra-class classifier FID", "lower"),
)
INCEPTION_COLUMNS = tuple(INCEPTION[key] for key in (ev.KEY_FID, ev.KEY_IS_MEAN, ev.KEY_KID_MEAN))
SUMMARY_COLUMNS = (
    "run", "model", "framework", "seed", "status", "exit_code", "exit", "steps_planned", "steps_done", "epochs",
    "batch_size", TRAIN_SECONDS, SETUP_SECONDS, COMPILE_SECONDS, WARMUP_SECONDS, STARTUP_SECONDS, STEADY_MS_PER_STEP,
    IMAGES_PER_SECOND, "process_seconds", "train_wall_seconds", OTHER_CPU_SHARE, "eval_wall_seconds",
    "eval_exit_code", "evaluated", NUM_SAMPLES_SCORED, *CLASSIFIER.values(), "inception_available", "inception_reason",
    "inception_official_weights", *INCEPTION.values(), CLASSES_COVERED, KL_TO_UNIFORM, LARGEST_CLASS, SMALLEST_CLASS,
    CLASS_HISTOGRAM, *CONDITIONAL_COLUMNS, FID_POSITION, GRADE, "curve_points",
    CURVE_LAST_FID, "device", "device_name", "node", "determinism", "backend", "git_commit", "run_dir")
ALL_RUNS_COLUMNS = ("run", "status", "steps_done", GRADE, CLASSIFIER_FID, CLASSIFIER_IS, CLASSES_COVERED, LARGEST_CLASS,
                    SMALLEST_CLASS, TRAIN_SECONDS, IMAGES_PER_SECOND)
# summary.csv's columns before the classifier was one per data set (the committed results use them) -> today's
LEGACY_COLUMNS = {**{f"mnist_{key}": column for key, column in CLASSIFIER.items()},
                  "curve_last_mnist_fid": CURVE_LAST_FID, ev.KEY_DIGITS_COVERED: CLASSES_COVERED,
                  "intra_class_mnist_fid": INTRA_FID, "intra_class_mnist_fid_per_class": INTRA_FID_PER_CLASS,
                  "requested_digit_accuracy": ACCURACY, "requested_digit_accuracy_per_class": PER_CLASS_ACCURACY}
