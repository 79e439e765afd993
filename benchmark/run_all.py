"""The benchmark suite: train every model with every framework and seed, evaluate, write the report.

    python benchmark/run_all.py [--profile quick|cpu-complete|full|smoke] [--out results/local/NAME] [--resume] ...

Without ``--profile`` it runs the machine's profile, as ``make bench`` does: ``full`` where a GPU is found,
``quick`` otherwise (``smoke``, CI's pipeline check whose numbers mean nothing, only when asked for).

Each training run and each evaluation runs in a process of its own (``benchmark.suite``); the report
(``OUT/report.md``, ``OUT/report.html``, ``OUT/summary.csv``, ``OUT/plots/``) is written at the end, and
again by ``python -m benchmark.report OUT`` at any time.

Exit status: 0 every run completed and was evaluated; 1 some run or evaluation failed (see the report); 2 bad
arguments, or the suite folder is in use; 3 some run diverged (recorded and evaluated as far as it went; no run
failed); 4 interrupted (continue with ``--resume``).
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmark import (arguments, datasets, estimate, eval_format, executors, machine, runs,  # noqa: E402
                       suite as suite_lib, suite_plan)
from benchmark.data import DataError  # noqa: E402
from benchmark.frameworks import FRAMEWORKS, KERAS_BACKENDS  # noqa: E402
from benchmark.locking import LockError  # noqa: E402
from benchmark.profiles import BUDGETS, PROFILES, ProfileError, get_profile  # noqa: E402
from benchmark.runs import EXIT_DIVERGED, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE  # noqa: E402
from benchmark.spec import MODEL_NAMES, SpecError, get_spec  # noqa: E402


def _profile_help() -> str:
    return "; ".join(f"{p.name}: {p.description} ({p.length_text()}, {len(p.seeds)} seed(s), "
                     f"{p.num_samples} samples; {p.budget_note})"
                     + (f" [leaves out {', '.join(p.left_out)}]" if p.left_out else "") for p in PROFILES.values())


def _framework_help() -> str:
    return "; ".join(f"{f.label}{f' (= {f.name})' if f.name != f.label else ''}: {f.description}"
                     + (" [default]" if f.default else "") for f in FRAMEWORKS.values())


def machine_profile() -> str:
    """The profile that fits this machine: ``full`` with a GPU (``nvidia-smi -L`` lists one), else ``quick``."""
    return "full" if machine.gpu_names() else "quick"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python benchmark/run_all.py", description=__doc__.split("\n")[0],
        epilog="Profiles: " + _profile_help() + ". Frameworks (keras = keras-<--keras-backend>): "
               + _framework_help() + ".")
    p.add_argument("--profile", choices=tuple(PROFILES),
                   help="suite size (default: the machine's: full with a GPU, quick without; smoke only when asked)")
    p.add_argument("--models", help=f"comma-separated models (default: the profile's; smoke, cpu-complete and full: "
                                     f"all of "
                                     f"{','.join(MODEL_NAMES)}); ARCHITECTURE+OBJECTIVE pairs are accepted too")
    p.add_argument("--frameworks",
                   help=f"comma-separated, from: pytorch, keras, {', '.join(FRAMEWORKS)} and their short names "
                        "(default: the profile's; pytorch,keras but toy: pytorch,keras-tensorflow,keras-jax)")
    p.add_argument("--keras-backend", default="tensorflow", choices=KERAS_BACKENDS,
                   help="backend that plain 'keras' means (default: tensorflow)")
    p.add_argument("--seeds", help="comma-separated seeds (default: the profile's)")
    p.add_argument("--steps", type=int, help="iterations per run, instead of the profile's training length")
    p.add_argument("--budget", choices=BUDGETS,
                   help="hold epoch/image lengths equal across models in real images (WGAN and WGAN-GP then make 5x "
                        "fewer generator updates) or in generator updates (default: the profile's; full: images)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--out", help="suite folder (default: results/local/PROFILE, apart from the committed reports)")
    p.add_argument("--resume", action="store_true",
                   help="continue the suite in --out: skip finished runs, continue interrupted or failed ones "
                        "from their last checkpoint")
    p.add_argument("--jobs", type=int,
                   help="training processes at a time (default: the profile's; quick: 2 with one thread each), each "
                        "on a GPU of its own or on cores of its own; with --executor ray, tasks in flight (default: "
                        "as many as the cluster fits). More than 1 on one machine shares it: compare timings only "
                        "within one suite")
    p.add_argument("--executor", choices=executors.EXECUTORS, default="local",
                   help="where the training and evaluation processes run: this machine (default), or Ray tasks")
    p.add_argument("--ray-address", help="with --executor ray: the cluster to join (e.g. HEAD_IP:6379; default: "
                                         "a Ray instance of this process's own)")
    p.add_argument("--allow-mixed-devices", action="store_true",
                   help="report even when the runs' timings come from different device models")
    p.add_argument("--threads", type=int,
                   help="CPU threads of every training run's thread pools, the same for every framework (default: "
                        "the profile's, else cores // jobs; quick: 1); set through OMP/MKL/TF variables and XLA "
                        "flags, and recorded in each config.json")
    arguments.add_dataset_arguments(p)
    p.add_argument("--deterministic", action="store_true", help="deterministic kernels in every run")
    inception = p.add_mutually_exclusive_group()
    inception.add_argument("--inception", dest="inception", action="store_true", default=None,
                           help="compute the Inception metrics (default: the profile's choice; full: yes)")
    inception.add_argument("--no-inception", dest="inception", action="store_false")
    p.add_argument("--no-speed", action="store_true",
                   help="skip the profile's speed phase (benchmark.speed after training: the report's speed verdict)")
    p.add_argument("--no-report", action="store_true", help="train and evaluate only")
    return p


def _int_list(text: str, what: str) -> list[int]:
    try:
        values = [arguments.seed(part) for part in text.split(",") if part.strip()]
    except argparse.ArgumentTypeError as error:
        raise suite_plan.SuiteError(f"--{what}: expected comma-separated integers in 0..{arguments.MAX_SEED}, "
                                   f"got {text!r} ({error})") from None
    if not values:
        raise suite_plan.SuiteError(f"--{what}: empty")
    return list(dict.fromkeys(values))  # a repeated seed would be two runs racing for one folder


def _check_environment(args: argparse.Namespace) -> None:
    """What every run needs, checked once: the data and, when asked for, a GPU on this machine (a Ray cluster's GPUs
    are checked by its executor)."""
    if args.device == "cuda" and args.executor == "local" and not machine.gpu_names():
        raise suite_plan.SuiteError("--device cuda: no GPU visible (nvidia-smi lists none); use --device auto or cpu")
    for split in ("train", "test"):
        datasets.load_dataset(split, args.data_dir, dataset=args.dataset)


def _absolute(path: str) -> Path:
    """``path`` as the caller means it: the children run in the repository root, wherever the caller is."""
    return Path(os.path.abspath(os.path.expanduser(path)))


def options_from(args: argparse.Namespace) -> suite_plan.SuiteOptions:
    """Validate everything up front: a typo must fail in a second, not after an hour of training."""
    profile = get_profile(args.profile or machine_profile())
    if args.steps is not None:
        if args.steps < 1:
            raise suite_plan.SuiteError("--steps must be at least 1")
        profile = dataclasses.replace(profile, steps=args.steps, images=None, epochs=None)
    if args.budget:
        profile = dataclasses.replace(profile, budget=args.budget)
    jobs = profile.jobs if args.jobs is None else args.jobs
    threads = profile.threads if args.threads is None else args.threads
    if threads is not None and threads < 1:
        raise suite_plan.SuiteError("--threads must be at least 1")
    chosen = args.models or ",".join(profile.models or MODEL_NAMES)
    models = [name.strip() for name in chosen.split(",") if name.strip()]
    if not models:
        raise suite_plan.SuiteError("--models: empty")
    for model in models:
        get_spec(model, args.dataset)
    reason = eval_format.unevaluated_reason(args.dataset)
    if reason:
        raise suite_plan.SuiteError(f"--dataset {args.dataset}: {reason}")
    if jobs < 1:
        raise suite_plan.SuiteError("--jobs must be at least 1")
    if args.ray_address and args.executor != "ray":
        raise suite_plan.SuiteError("--ray-address needs --executor ray")
    _check_environment(args)
    out = _absolute(args.out or f"results/local/{profile.name}")
    if out.exists() and not out.is_dir():
        raise suite_plan.SuiteError(f"--out {out}: exists and is not a folder")
    return suite_plan.SuiteOptions(
        out=out, profile=profile, models=list(dict.fromkeys(models)),
        frameworks=suite_plan.parse_frameworks(args.frameworks or ",".join(profile.frameworks), args.keras_backend),
        seeds=_int_list(args.seeds, "seeds") if args.seeds else list(profile.seeds), device=args.device,
        jobs=jobs, resume=args.resume,
        data_dir=str(_absolute(args.data_dir)) if args.data_dir else None, deterministic=args.deterministic,
        inception=args.inception, executor=args.executor, ray_address=args.ray_address, threads=threads,
        speed=not args.no_speed, dataset=args.dataset)


def preamble(options: suite_plan.SuiteOptions) -> list[str]:
    """What the suite says once it holds its folder and before it trains: the plan with its expected time here
    (calibrated when it is long enough to matter), and the profile's notes."""
    lines = []
    if options.jobs > 1 and options.executor == "local":
        lines.append(f"note: {options.jobs} training processes at a time, {options.thread_count} thread(s) each: they "
                     f"share the machine, so compare timings only within this suite")
    rough = estimate.estimate(options).seconds
    lines.append(estimate.plan_text(options, estimate.calibrate() if rough >= estimate.CALIBRATE_FROM_SECONDS
                                    else None))
    lines += [f"note: profile {options.profile.name} leaves out {model}: {reason}"
              for model, reason in options.profile.left_out.items() if model not in options.models]
    return lines


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if get_profile(args.profile or machine_profile()).runner == "toy":
        from benchmark import toy_suite
        return toy_suite.main(args)
    try:
        options = options_from(args)
    except (suite_plan.SuiteError, SpecError, ProfileError, DataError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    try:
        suite = suite_lib.Suite(options, preamble=lambda: preamble(options))
    except executors.ExecutorError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    restore = suite_lib.install_signal_handlers(suite)
    try:
        outcomes = suite.run()
    except (suite_plan.SuiteError, LockError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        restore()
    if not args.no_report:
        from benchmark import devices, report  # pandas and matplotlib: only once there is something to report
        try:
            paths = report.build_report(options.out, allow_mixed_devices=args.allow_mixed_devices)
        except devices.MixedDevicesError as error:
            print(f"error: no report: {error} (python -m benchmark.report {options.out} {devices.ALLOW_FLAG})",
                  file=sys.stderr)
            return EXIT_FAILED
        print(f"report: {paths['markdown']}  (self-contained: {paths['html']}; one row per run: {paths['csv']})")
    if suite.stop.is_set():
        return EXIT_INTERRUPTED
    problems = [o for o in outcomes.values() if o.problem]
    if problems:
        print(f"{len(problems)} run(s) failed or were not evaluated: {', '.join(o.name for o in problems)}",
              file=sys.stderr)
        return EXIT_FAILED
    diverged = [o for o in outcomes.values() if o.status == runs.DIVERGED]
    if diverged:
        print(f"{len(diverged)} run(s) diverged: {', '.join(o.name for o in diverged)}", file=sys.stderr)
        return EXIT_DIVERGED
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
