"""The toy profile's runner (harness): ``python benchmark/run_all.py --profile toy``.

One child process per framework mode (``python -m <package>.toy``: ``benchmark.toy_training``) trains every seed,
``--jobs`` of them at a time with ``--threads`` threads each; then ``benchmark.report.toy`` writes the report.
The image suite's one-process-per-run plan does not fit here: a Keras process spends seconds importing and
compiling, longer than a toy seed trains. Writes ``OUT/<framework>/`` (the runner's files), ``OUT/logs/`` and
``OUT/toy_suite.json`` (the plan, the machine, each child's exit code and seconds, the wall time and the share of
the CPU other processes used meanwhile).
"""
from __future__ import annotations

import argparse
import datetime
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from benchmark import arguments, machine, runs
from benchmark.frameworks import Framework, by_name
from benchmark.profiles import Profile, get_profile
from benchmark.spec import TOY_SPECS, SpecError
from benchmark.suite_plan import SuiteError, parse_frameworks

SUITE_FILE = "toy_suite.json"
REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class ToyPlan:
    out: Path
    model: str
    frameworks: list[Framework]
    seeds: list[int]
    steps: int
    measure_every: int
    samples: int
    jobs: int
    threads: int


def plan_from(args: argparse.Namespace, profile: Profile) -> ToyPlan:
    """The plan of ``run_all``'s arguments under ``profile``, checked before anything starts."""
    model = (args.models or profile.models[0]).strip()
    if model not in TOY_SPECS:
        raise SuiteError(f"--models {model!r}: the toy profile runs one of {', '.join(TOY_SPECS)}")
    steps = args.steps or profile.train_steps(TOY_SPECS[model])
    if steps < 1:
        raise SuiteError("--steps must be at least 1")
    names = parse_frameworks(args.frameworks or ",".join(profile.frameworks), args.keras_backend)
    try:
        seeds = list(dict.fromkeys(arguments.seed(s) for s in (args.seeds or ",".join(map(str, profile.seeds)))
                                   .split(",") if s.strip()))
    except argparse.ArgumentTypeError as error:
        raise SuiteError(f"--seeds: {error}") from None
    jobs, threads = args.jobs or profile.jobs, args.threads or profile.threads or 1
    if not seeds or jobs < 1 or threads < 1:
        raise SuiteError("--seeds, --jobs and --threads need at least one")
    out = Path(os.path.abspath(os.path.expanduser(args.out or f"results/local/{profile.name}")))
    return ToyPlan(out=out, model=model, frameworks=[by_name(name) for name in names], seeds=seeds, steps=steps,
                   measure_every=max(1, steps // profile.curve_points), samples=profile.num_samples, jobs=jobs,
                   threads=threads)


def command(plan: ToyPlan, framework: Framework) -> list[str]:
    """The child that trains every seed of ``framework`` (its package's ``toy`` module)."""
    line = [framework.python, "-m", f"{framework.package}.toy", "--model", plan.model,
            "--seeds", ",".join(map(str, plan.seeds)), "--steps", str(plan.steps),
            "--measure-every", str(plan.measure_every), "--samples", str(plan.samples), "--mode", framework.mode,
            "--threads", str(plan.threads), "--out", str(plan.out / framework.name)]
    return line + (["--backend", framework.backend] if framework.backend else [])


def run_children(plan: ToyPlan) -> dict[str, dict]:
    """Every framework's child, ``plan.jobs`` at a time, in the registry's order; returns name -> outcome."""
    (plan.out / "logs").mkdir(parents=True, exist_ok=True)
    waiting, running, outcomes = list(plan.frameworks), {}, {}
    while waiting or running:
        while waiting and len(running) < plan.jobs:
            framework = waiting.pop(0)
            log = open(plan.out / "logs" / f"{framework.name}.log", "w")
            print(f"toy: {framework.name}: {len(plan.seeds)} seeds x {plan.steps} iterations", file=sys.stderr)
            process = subprocess.Popen(command(plan, framework), cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT)
            running[framework.name] = (process, log, time.perf_counter())
        time.sleep(0.2)
        for name, (process, log, started) in list(running.items()):
            if process.poll() is not None:
                log.close()
                outcomes[name] = {"exit_code": process.returncode, "status": runs.status_of_exit(process.returncode),
                                  "seconds": round(time.perf_counter() - started, 2)}
                print(f"toy: {name}: {runs.describe_exit(process.returncode)} in {outcomes[name]['seconds']} s",
                      file=sys.stderr)
                del running[name]
    return outcomes


def run(plan: ToyPlan) -> dict:
    """Train every framework's seeds; write and return ``toy_suite.json``'s record."""
    busy, own = machine.cpu_busy_seconds(), machine.children_cpu_seconds()
    started, start = datetime.datetime.now(datetime.timezone.utc), time.perf_counter()
    outcomes = run_children(plan)
    wall = time.perf_counter() - start
    record = {"model": plan.model, "frameworks": [f.name for f in plan.frameworks], "seeds": plan.seeds,
              "steps": plan.steps, "measure_every": plan.measure_every, "samples": plan.samples, "jobs": plan.jobs,
              "threads": plan.threads, "started": started.isoformat(timespec="seconds"),
              "wall_seconds": round(wall, 1), "other_cpu_share": machine.other_cpu_share(busy, own, wall),
              "machine": machine.environment(), "outcomes": outcomes}
    runs.write_json(plan.out / SUITE_FILE, record)
    return record


def main(args: argparse.Namespace) -> int:
    """``run_all`` with a toy profile: plan, train, report; exit 0, 1 (a child failed) or 3 (a seed diverged)."""
    try:
        plan = plan_from(args, get_profile(args.profile))
    except (SuiteError, SpecError) as error:
        print(f"error: {error}", file=sys.stderr)
        return runs.EXIT_USAGE
    print(f"toy: {plan.model}, {len(plan.frameworks)} frameworks x {len(plan.seeds)} seeds x {plan.steps} iterations, "
          f"{plan.jobs} processes at a time with {plan.threads} thread(s) each -> {plan.out}", file=sys.stderr)
    record = run(plan)
    print(f"toy: trained in {record['wall_seconds']} s", file=sys.stderr)
    if not args.no_report:
        from benchmark.report import toy  # matplotlib: only once there is something to report
        print(f"report: {toy.build_report(plan.out)}")
    codes = {outcome["exit_code"] for outcome in record["outcomes"].values()}
    if codes - {runs.EXIT_OK, runs.EXIT_DIVERGED}:
        return runs.EXIT_FAILED
    return runs.EXIT_DIVERGED if runs.EXIT_DIVERGED in codes else runs.EXIT_OK
