"""The benchmark suite: train every model with every framework and seed, evaluate, write the report.

    python benchmark/run_all.py --profile smoke|quick|full [--out results/NAME] [--resume] ...

Each training run and each evaluation runs in a process of its own (``benchmark.suite``); the report
(``OUT/report.md``, ``OUT/report.html``, ``OUT/summary.csv``, ``OUT/plots/``) is written at the end, and
again by ``python -m benchmark.report OUT`` at any time.

Exit status: 0 every run finished (completed or diverged) and was evaluated; 1 some run or evaluation failed
(see the report); 2 bad arguments; 4 interrupted (continue with ``--resume``).
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmark import suite as suite_lib  # noqa: E402
from benchmark.profiles import BUDGETS, PROFILES, ProfileError, get_profile  # noqa: E402
from benchmark.spec import MODEL_NAMES, SpecError, get_spec  # noqa: E402

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 4


def _profile_help() -> str:
    return "; ".join(f"{p.name}: {p.description} ({p.length_text()}, {len(p.seeds)} seed(s), "
                     f"{p.num_samples} samples; {p.budget_note})"
                     + (f" [leaves out {', '.join(p.left_out)}]" if p.left_out else "") for p in PROFILES.values())


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python benchmark/run_all.py", description=__doc__.split("\n")[0],
        epilog="Profiles: " + _profile_help() + ". Frameworks: pytorch, keras (= keras-<--keras-backend>), "
               "keras-tensorflow, keras-jax.")
    p.add_argument("--profile", default="smoke", choices=tuple(PROFILES), help="suite size (default: smoke)")
    p.add_argument("--models", help=f"comma-separated models (default: the profile's; smoke and full: all of "
                                     f"{','.join(MODEL_NAMES)}); ARCHITECTURE+OBJECTIVE pairs are accepted too")
    p.add_argument("--frameworks", default="pytorch,keras",
                   help="comma-separated: pytorch, keras, keras-tensorflow, keras-jax (default: pytorch,keras)")
    p.add_argument("--keras-backend", default="tensorflow", choices=suite_lib.KERAS_BACKENDS,
                   help="backend that plain 'keras' means (default: tensorflow)")
    p.add_argument("--seeds", help="comma-separated seeds (default: the profile's)")
    p.add_argument("--steps", type=int, help="iterations per run, instead of the profile's training length")
    p.add_argument("--budget", choices=BUDGETS,
                   help="hold epoch/image lengths equal across models in real images (WGAN and WGAN-GP then make 5x "
                        "fewer generator updates) or in generator updates (default: the profile's; full: images)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--out", help="suite folder (default: results/PROFILE)")
    p.add_argument("--resume", action="store_true",
                   help="continue the suite in --out: skip finished runs, continue interrupted or failed ones "
                        "from their last checkpoint")
    p.add_argument("--jobs", type=int,
                   help="training processes at a time (default: the profile's; quick: 2 with one thread each). "
                        "More than 1 shares the machine: compare timings only within one suite")
    p.add_argument("--threads", type=int,
                   help="CPU threads per training process: OMP_NUM_THREADS and TensorFlow's intra/inter-op pools "
                        "(default: the profile's; quick: 1)")
    p.add_argument("--data-dir", help="MNIST folder (default: $MNIST_DIR, else the user cache)")
    p.add_argument("--deterministic", action="store_true", help="deterministic kernels in every run")
    inception = p.add_mutually_exclusive_group()
    inception.add_argument("--inception", dest="inception", action="store_true", default=None,
                           help="compute the Inception metrics (default: the profile's choice; full: yes)")
    inception.add_argument("--no-inception", dest="inception", action="store_false")
    p.add_argument("--no-report", action="store_true", help="train and evaluate only")
    return p


def _int_list(text: str, what: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise suite_lib.SuiteError(f"--{what}: expected comma-separated integers, got {text!r}") from None
    if not values:
        raise suite_lib.SuiteError(f"--{what}: empty")
    return values


def options_from(args: argparse.Namespace) -> suite_lib.SuiteOptions:
    """Validate everything up front: a typo must fail in a second, not after an hour of training."""
    profile = get_profile(args.profile)
    if args.steps is not None:
        if args.steps < 1:
            raise suite_lib.SuiteError("--steps must be at least 1")
        profile = dataclasses.replace(profile, steps=args.steps, images=None, epochs=None)
    if args.budget:
        profile = dataclasses.replace(profile, budget=args.budget)
    jobs = profile.jobs if args.jobs is None else args.jobs
    threads = profile.threads if args.threads is None else args.threads
    if threads is not None and threads < 1:
        raise suite_lib.SuiteError("--threads must be at least 1")
    chosen = args.models or ",".join(profile.models or MODEL_NAMES)
    models = [name.strip() for name in chosen.split(",") if name.strip()]
    if not models:
        raise suite_lib.SuiteError("--models: empty")
    for model in models:
        get_spec(model)
    if jobs < 1:
        raise suite_lib.SuiteError("--jobs must be at least 1")
    return suite_lib.SuiteOptions(
        out=Path(args.out or f"results/{profile.name}"), profile=profile, models=list(dict.fromkeys(models)),
        frameworks=suite_lib.parse_frameworks(args.frameworks, args.keras_backend),
        seeds=_int_list(args.seeds, "seeds") if args.seeds else list(profile.seeds), device=args.device,
        jobs=jobs, resume=args.resume, data_dir=args.data_dir, deterministic=args.deterministic,
        inception=args.inception, threads=threads)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        options = options_from(args)
    except (suite_lib.SuiteError, SpecError, ProfileError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    if options.jobs > 1:
        print(f"note: {options.jobs} training processes at a time"
              + (f", {options.threads} thread(s) each" if options.threads else "")
              + ": they share the machine, so compare timings only within this suite", file=sys.stderr)
    for model, reason in options.profile.left_out.items():
        if model not in options.models:
            print(f"note: profile {options.profile.name} leaves out {model}: {reason}", file=sys.stderr)
    suite = suite_lib.Suite(options)
    restore = suite_lib.install_signal_handlers(suite)
    try:
        outcomes = suite.run()
    except suite_lib.SuiteError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        restore()
    if not args.no_report:
        from benchmark import report  # pandas and matplotlib: only once there is something to report
        paths = report.build_report(options.out)
        print(f"report: {paths['markdown']}  (self-contained: {paths['html']}; one row per run: {paths['csv']})")
    if suite.stop.is_set():
        return EXIT_INTERRUPTED
    problems = [o for o in outcomes.values() if o.problem]
    if problems:
        print(f"{len(problems)} run(s) failed or were not evaluated: {', '.join(o.name for o in problems)}",
              file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
