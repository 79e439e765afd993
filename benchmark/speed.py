"""The speed phase: ms per training iteration of every model x framework mode, timed in interleaved windows.

    python -m benchmark.speed [--models vanilla,dcgan] [--frameworks pytorch-eager,keras-tf-xla] [--batch-sizes 64,256]

Every (model, batch size, framework mode) runs in a worker process of its own (frameworks never share a process,
PARITY-NOTES §1), pinned to ``--threads`` cores (``benchmark.threads.pin``: one thread is one core), that stays
alive for a round and answers one JSON line per request on stdin/stdout: it builds the trainer, compiles and warms
up (compile time reported apart), measures its floor, says ``ready``, then times ``window`` requests of W
iterations each. The parent starts a round's workers one after the other (compilations never overlap), then asks
for the windows round-robin, A B C A B C ..., so that a slow phase of the machine falls on every framework rather
than on one. Each mode gets ``--processes`` rounds, each with fresh workers, so that the result carries the spread
between processes (a worker's memory layout, its compiled code) and not only the windows inside one.

During each window the parent reads the machine's busy CPU time (``/proc/stat``) and subtracts the worker's own: a
window during which other processes used more than ``--contention`` of the CPU is timed again (``--retries``
times), then kept and flagged. The worker's own CPU time / wall time is recorded too: a window above the thread
count (+10 %) used more cores than it was given, is flagged and does not count.

Per (model, batch size, mode) the result is the median ms/iteration over the counted windows of every round with a
distribution-free confidence interval of the median (order statistics of the binomial), widened to the range of
the rounds' own medians; iterations/s and real images/s, the compile and warm-up seconds, and the floor: an empty
step (a trivial function through the same execution path: launch and dispatch cost) and, on a GPU with PyTorch,
the device time of one iteration from ``torch.profiler``. ``speed.json`` carries the machine and code fingerprint
(``benchmark.machine.fingerprint``): a suite keeps it only on the machine and code that measured it.
Output: ``OUT/speed.json`` and ``OUT/speed.md``. This module is the parent side; the worker's is
``benchmark.speed_worker``.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import select
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmark import arguments, runs, threads  # noqa: E402
from benchmark.datasets import DEFAULT_DATASET  # noqa: E402
from benchmark.frameworks import FRAMEWORKS, FrameworkError, get_framework  # noqa: E402
from benchmark.machine import cpu_busy_seconds, environment, fingerprint  # noqa: E402
from benchmark.spec import SpecError, get_spec  # noqa: E402
from benchmark.speed_worker import FLOOR_CALLS, Job, worker_main  # noqa: E402
from benchmark.suite_plan import REPO_ROOT  # noqa: E402

SPEED_JSON, SPEED_MD = "speed.json", "speed.md"
SPEED_DIR = "speed"  # the speed phase's folder inside a suite folder (benchmark.suite)
CONFIDENCE = 0.95
PROCESSES = 2  # worker processes per mode, one round after the other (``--processes``)
READY_TIMEOUT, WINDOW_TIMEOUT = 1800.0, 1800.0  # seconds; compiling a big model on a CPU takes minutes


class SpeedError(ValueError):
    """A bad argument or a worker that failed, explained in one line."""


# ------------------------------------------------------------------------------------------ statistics

def median_ci(values: Sequence[float], confidence: float = CONFIDENCE) -> tuple[float, float, float]:
    """(low, high, achieved confidence) of the median, from order statistics: with n values, the interval
    between the j-th smallest and the j-th largest covers the median with probability 1 - 2 P(Binom(n, 1/2) < j).
    The narrowest such interval reaching ``confidence`` is returned; too few values for it give the full range
    with the confidence it has (n = 2: 50 %)."""
    ordered = sorted(values)
    n = len(ordered)
    if n == 0:
        raise ValueError("no values")

    def coverage(j: int) -> float:  # the interval [x_(j), x_(n+1-j)], ranks from 1
        return 1.0 - 2.0 * sum(math.comb(n, i) for i in range(j)) / 2.0 ** n

    best = 1
    for j in range(1, (n + 1) // 2 + 1):
        if coverage(j) >= confidence:
            best = j
    return ordered[best - 1], ordered[n - best], coverage(best)


def other_cpu_share(busy_seconds: float | None, worker_cpu: float, own_cpu: float, wall: float,
                    cores: int) -> float | None:
    """The share of the machine's CPU that processes other than the timed worker (and this parent) used during
    a window of ``wall`` seconds in which the machine was busy ``busy_seconds``."""
    if busy_seconds is None or wall <= 0:
        return None
    other = busy_seconds - worker_cpu - own_cpu
    return round(min(max(other / (wall * max(cores, 1)), 0.0), 1.0), 4)


def contended(share: float | None, threshold: float) -> bool:
    """A window is contended when other processes used more than ``threshold`` of the CPU (unknown: not)."""
    return share is not None and share > threshold


# --------------------------------------------------------------------------------------------- parent

class Worker:
    """The parent's handle on one worker process."""

    def __init__(self, job: Job, log_path: Path):
        self.job, self.log_path = job, log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "PYTHONUNBUFFERED": "1",
               "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
        framework = get_framework(job.framework)
        if framework.backend:
            env["KERAS_BACKEND"] = framework.backend
        self._log = log_path.open("w")
        self.process = subprocess.Popen(
            [framework.python, "-m", "benchmark.speed", "--worker", json.dumps(dataclasses.asdict(job))], cwd=REPO_ROOT,
            env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log, text=True)

    def receive(self, timeout: float) -> dict:
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        line = self.process.stdout.readline() if ready else ""
        if not line:
            self.close()
            raise SpeedError(f"worker {self.job.key} {'timed out' if not ready else 'exited'}; log: {self.log_path}: "
                             + " | ".join(_log_tail(self.log_path)))
        return json.loads(line)

    def window(self, iterations: int) -> dict:
        self.process.stdin.write(json.dumps({"command": "window", "iterations": iterations}) + "\n")
        self.process.stdin.flush()
        return self.receive(WINDOW_TIMEOUT)

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                self.process.stdin.write(json.dumps({"command": "quit"}) + "\n")
                self.process.stdin.flush()
                self.process.wait(timeout=60)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()
        self._log.close()


def _log_tail(path: Path, lines: int = 3) -> list[str]:
    text = path.read_text(errors="replace") if path.exists() else ""
    return [line for line in text.splitlines() if line.strip()][-lines:]


@dataclass
class Probe:
    """Reads the machine's busy CPU seconds, this process's own and the wall clock; replaceable in tests."""

    busy: Callable[[], float | None] = cpu_busy_seconds
    own: Callable[[], float] = time.process_time
    clock: Callable[[], float] = time.perf_counter
    cores: int = field(default_factory=lambda: os.cpu_count() or 1)


def time_windows(workers: dict[str, "Worker"], windows: int, iterations: int, threshold: float, retries: int,
                 probe: Probe | None = None) -> tuple[dict[str, list[dict]], list[str], dict[str, str]]:
    """Round-robin windows over ``workers`` (A B A B ...); each record has ms/iteration, the other processes'
    CPU share, whether it was contended, whether it was a discarded attempt, and the worker's own CPU time / wall
    time with whether that exceeds its thread count. Returns the records per worker key, the order in which windows
    ran, and the workers that failed (key -> error), which get no further windows."""
    probe = probe or Probe()
    records: dict[str, list[dict]] = {key: [] for key in workers}
    order: list[str] = []
    errors: dict[str, str] = {}
    for index in range(windows):
        for key, worker in workers.items():
            for attempt in range(retries + 1):
                if key in errors:
                    break
                busy, own, start = probe.busy(), probe.own(), probe.clock()
                try:
                    reply = worker.window(iterations)
                except SpeedError as error:
                    errors[key] = str(error)
                    break
                wall = probe.clock() - start
                busy_after = probe.busy()
                share = other_cpu_share(None if busy is None or busy_after is None else busy_after - busy,
                                        reply["cpu_seconds"], probe.own() - own, wall, probe.cores)
                flagged = contended(share, threshold)
                cpu_per_wall = reply["cpu_seconds"] / reply["seconds"] if reply["seconds"] > 0 else 0.0
                order.append(key)
                records[key].append({"window": index, "attempt": attempt,
                                     "ms_per_iteration": reply["seconds"] * 1000.0 / iterations,
                                     "other_cpu_share": share, "contended": flagged,
                                     "discarded": flagged and attempt < retries,
                                     "cpu_per_wall": round(cpu_per_wall, 3),
                                     "over_threads": threads.over_threads(cpu_per_wall, worker.job.threads)})
                if not flagged:
                    break
    return records, order, errors


def counted(window: dict) -> bool:
    """A window that counts: not a discarded attempt, and on no more cores than the worker's threads."""
    return not window["discarded"] and not window.get("over_threads", False)


def summarise(job: Job, readies: list[dict], windows: list[dict], images_per_iteration: int) -> dict:
    """One result row over every round of ``job``: the median ms/iteration of the counted windows, its interval
    widened to the rounds' own medians, rates, compile time, floors and the worker's CPU/wall."""
    entry = get_framework(job.framework)
    row = {"model": job.model, "framework": entry.label, "name": entry.name, "family": entry.family,
           "backend": entry.backend, "mode": entry.mode, "batch_size": job.batch_size,
           "images_per_iteration": images_per_iteration, "windows": windows,
           "processes": len(readies), "max_cpu_per_wall": max(w["cpu_per_wall"] for w in windows),
           "over_threads_windows": sum(w["over_threads"] for w in windows),
           "threads": (readies[0].get("environment") or {}).get("threads"),
           "device_name": (readies[0].get("environment") or {}).get("device_name")}
    kept = [w for w in windows if counted(w)]
    if not kept:
        return {**row, "status": "over threads",
                "error": f"every window used more than {job.threads} core(s) (CPU time / wall time up to "
                         f"{row['max_cpu_per_wall']:.2f}): not a {job.threads}-thread measurement"}
    times = [w["ms_per_iteration"] for w in kept]
    median = float(np.median(times))
    low, high, achieved = median_ci(times)
    process_medians = [float(np.median([w["ms_per_iteration"] for w in kept if w["process"] == p]))
                       for p in sorted({w["process"] for w in kept})]
    ready = readies[0]
    compile_times = [r["compile_seconds"] for r in readies if r.get("compile_seconds") is not None]
    floor = ready.get("device_ms") or ready.get("empty_step_ms")
    return {
        **row, "status": "ok", "median_ms": median, "ci_low_ms": min(low, *process_medians),
        "ci_high_ms": max(high, *process_medians), "ci_confidence": achieved, "windows_ci_ms": [low, high],
        "process_medians_ms": process_medians,
        "iterations_per_second": 1000.0 / median, "images_per_second": 1000.0 / median * images_per_iteration,
        "compile_seconds": float(np.median(compile_times)) if compile_times else None,
        "warmup_seconds": ready.get("warmup_seconds"),
        "empty_step_ms": ready.get("empty_step_ms"), "device_ms": ready.get("device_ms"),
        "device_note": ready.get("device_note"),
        "times_floor": median / floor if floor else None,
        "floor": "device time" if ready.get("device_ms") else "empty step",
        "contended_windows": sum(w["contended"] for w in kept),
        "retimed_windows": sum(w["discarded"] for w in windows),
    }


@dataclass
class SpeedOptions:
    out: Path
    models: list[str]
    frameworks: list[str]  # registry labels
    batch_sizes: list[int | None]  # None: the spec's
    threads: int
    windows: int = 5  # per round
    iterations: int = 20
    warmup: int = 5
    device: str = "auto"
    contention: float = 0.10
    retries: int = 2
    processes: int = PROCESSES  # rounds, each with a fresh worker per mode
    dataset: str = DEFAULT_DATASET  # the image shape timed (the inputs are synthetic: no file is read)


def _job(model: str, label: str, batch_size: int, options: SpeedOptions) -> Job:
    """The worker job of one mode: the model, batch and the phase's threads, device, warm-up and data set."""
    return Job(model, label, batch_size, options.threads, options.device, options.warmup, dataset=options.dataset)


def _start_round(model: str, labels: list[str], batch_size: int, options: SpeedOptions, round_index: int,
                 stream) -> tuple[dict[str, Worker], dict[str, dict], dict[str, str]]:
    """One fresh worker per mode, started one after the other; returns the ready workers, their ``ready``
    messages and the modes whose worker failed (label -> error)."""
    workers: dict[str, Worker] = {}
    readies: dict[str, dict] = {}
    failed: dict[str, str] = {}
    for label in labels:
        job = _job(model, label, batch_size, options)
        print(f"{job.key} (process {round_index + 1}/{options.processes}): starting (compile and {options.warmup} "
              f"warm-up iterations) ...", file=stream, flush=True)
        worker = Worker(job, options.out / "logs" / f"{job.key}-p{round_index + 1}.log")
        try:
            readies[label] = worker.receive(READY_TIMEOUT)
            workers[label] = worker
        except SpeedError as error:
            failed[label] = str(error)
            print(f"  failed: {error}", file=stream, flush=True)
    return workers, readies, failed


def time_group(model: str, labels: list[str], batch_size: int, options: SpeedOptions,
               stream) -> tuple[list[dict], list[str]]:
    """Every round of one (model, batch size): fresh workers, interleaved windows, then one row per mode."""
    windows: dict[str, list[dict]] = {label: [] for label in labels}
    readies: dict[str, list[dict]] = {label: [] for label in labels}
    failed: dict[str, str] = {}
    order: list[str] = []
    for round_index in range(options.processes):
        workers, ready, start_errors = _start_round(model, [l for l in labels if l not in failed], batch_size,
                                                    options, round_index, stream)
        failed.update(start_errors)
        try:
            records, round_order, errors = time_windows(workers, options.windows, options.iterations,
                                                        options.contention, options.retries)
        finally:
            for worker in workers.values():
                worker.close()
        failed.update(errors)
        order += [f"{workers[label].job.key}#{round_index + 1}" for label in round_order]
        for label in workers:
            readies[label].append(ready[label])
            windows[label] += [{**record, "process": round_index + 1} for record in records[label]]
    spec = get_spec(model, options.dataset)
    results = []
    for label in labels:
        if label in failed:
            results.append({"model": model, "framework": label, "batch_size": batch_size, "status": "failed",
                            "error": failed[label]})
            continue
        job = _job(model, label, batch_size, options)
        row = summarise(job, readies[label], windows[label], batch_size * spec.objective.n_critic)
        results.append(row)
        if row["status"] == "ok":
            print(f"  {job.key}: {row['median_ms']:.2f} ms/iteration [{row['ci_low_ms']:.2f}, {row['ci_high_ms']:.2f}]"
                  f", {row['images_per_second']:.0f} images/s, CPU/wall ≤ {row['max_cpu_per_wall']:.2f}", file=stream,
                  flush=True)
        else:
            print(f"  {job.key}: {row['error']}", file=stream, flush=True)
    return results, order


def run_speed(options: SpeedOptions, stream=sys.stdout) -> dict:
    """Every (model, batch size) group: its rounds of workers, timed in interleaved windows, summarised."""
    results, order, skipped = [], [], []
    machine = environment()
    gpu = bool(machine["gpus"]) if options.device == "auto" else options.device == "cuda"
    labels = []
    for label in options.frameworks:
        if get_framework(label).requires_gpu and not gpu:
            skipped.append({"framework": label, "reason": "needs a GPU"})
        else:
            labels.append(label)
    started = time.time()
    for model in options.models:
        spec = get_spec(model, options.dataset)
        for batch in options.batch_sizes:
            rows, group_order = time_group(model, labels, batch or spec.training.batch_size, options, stream)
            results += rows
            order += group_order
    report = {"environment": {**machine, "threads": options.threads, "device": options.device},
              "fingerprint": fingerprint(),
              "settings": {"dataset": options.dataset, "windows": options.windows,
                           "iterations_per_window": options.iterations,
                           "processes": options.processes, "warmup_iterations": options.warmup,
                           "contention_threshold": options.contention, "retries": options.retries,
                           "cpu_tolerance": threads.CPU_TOLERANCE, "confidence": CONFIDENCE,
                           "empty_step_calls": FLOOR_CALLS,
                           "interleaving": "round-robin over a round's workers, each kept alive between windows; "
                                           "a fresh worker per mode in every round"},
              "results": results, "order": order, "skipped": skipped, "seconds": time.time() - started,
              "date": time.strftime("%Y-%m-%d"), "command": " ".join(sys.argv)}
    runs.write_json(options.out / SPEED_JSON, report)
    (options.out / SPEED_MD).write_text(markdown(report))
    return report


def _number(value, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def markdown(report: dict) -> str:
    env, settings = report["environment"], report["settings"]
    processes = settings.get("processes", 1)
    lines = [
        "# Speed: ms per training iteration", "",
        f"CPU: {env.get('cpu')} ({env.get('cpu_count')} cores); GPU: {', '.join(env.get('gpus') or []) or 'none'}; "
        f"threads per framework: {env.get('threads')}, each on a core of its own (CPU affinity); measured "
        f"{report.get('date', 'on an unrecorded date')}.",
        f"{processes} process(es) per mode, each with {settings['windows']} windows of "
        f"{settings['iterations_per_window']} iterations after {settings['warmup_iterations']} warm-up iterations, "
        f"interleaved round-robin; median with a {settings['confidence']:.0%} order-statistic interval, widened to "
        f"the processes' own medians (fewer windows reach less confidence: the column says how much). Windows "
        f"during which other processes used more than {settings['contention_threshold']:.0%} of the CPU were timed "
        f"again up to {settings['retries']} times, then kept and counted as contended. A window whose worker used "
        f"more CPU time than its threads × wall time (+{settings.get('cpu_tolerance', 0.1):.0%}) does not count.", "",
        "| model | batch | framework | mode | ms / iteration | interval (confidence) | process medians "
        "| iterations/s | images/s | compile s | empty step ms | device ms | × floor | CPU/wall (max) "
        "| contended / retimed / over threads |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in report["results"]:
        if row["status"] != "ok":
            lines.append(f"| {row['model']} | {row['batch_size']} | {row['framework']} | | {row['status']}: "
                         f"{row.get('error', '')[:160]} | | | | | | | | | | |")
            continue
        medians = ", ".join(_number(m) for m in row.get("process_medians_ms", []))
        lines.append(
            f"| {row['model']} | {row['batch_size']} | {row['framework']} | {row['mode']} | {_number(row['median_ms'])} "
            f"| {_number(row['ci_low_ms'])}–{_number(row['ci_high_ms'])} ({row['ci_confidence']:.0%}) | {medians} "
            f"| {_number(row['iterations_per_second'], 1)} | {_number(row['images_per_second'], 0)} "
            f"| {_number(row['compile_seconds'], 1)} | {_number(row['empty_step_ms'], 4)} "
            f"| {_number(row['device_ms'])} | {_number(row['times_floor'], 0)} ({row['floor']}) "
            f"| {_number(row.get('max_cpu_per_wall'))} "
            f"| {row['contended_windows']} / {row['retimed_windows']} / {row.get('over_threads_windows', 0)} |")
    notes = sorted({row["device_note"] for row in report["results"] if row.get("device_note")})
    lines += [""] + [f"- Device time: {note}." for note in notes]
    lines += [f"- Skipped {s['framework']}: {s['reason']}." for s in report["skipped"]]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------------ CLI

def _list(text: str, what: str) -> list[str]:
    values = [part.strip() for part in text.split(",") if part.strip()]
    if not values:
        raise SpeedError(f"--{what}: empty")
    return values


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmark.speed", description=__doc__.split("\n\n")[0],
                                epilog="Frameworks: " + ", ".join(FRAMEWORKS) + " (and pytorch, keras-tensorflow, "
                                       "keras-jax). Exit status: 0 all timed, 1 some worker failed, 2 bad arguments.")
    p.add_argument("--models", default="vanilla,dcgan", help="comma-separated models (default: vanilla,dcgan)")
    p.add_argument("--frameworks", default=",".join(FRAMEWORKS),
                   help="comma-separated registry labels (default: every registered mode; GPU-only ones need a GPU)")
    p.add_argument("--batch-sizes", help="comma-separated batch sizes to sweep, e.g. 64,256,1024 (default: the spec's)")
    p.add_argument("--windows", type=int, default=5, help="timing windows per mode and process (default 5)")
    p.add_argument("--processes", type=int, default=PROCESSES,
                   help="worker processes per mode, one after the other, for the spread between processes "
                        "(default 2)")
    p.add_argument("--iterations", type=int, default=20, help="iterations per window (default 20)")
    p.add_argument("--warmup", type=int, default=5, help="untimed iterations after compiling (default 5)")
    p.add_argument("--threads", type=int,
                   help="CPU threads per framework, each on a core of its own (default: all cores)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--contention", type=float, default=0.10,
                   help="other processes' CPU share above which a window is timed again (default 0.10)")
    p.add_argument("--retries", type=int, default=2, help="re-timings of a contended window (default 2)")
    p.add_argument("--out", default="results/speed", help="folder for speed.json and speed.md")
    p.add_argument("--dataset", type=arguments.image_dataset, default=DEFAULT_DATASET,
                   help="the data set whose image shape is timed, on synthetic inputs (default: %(default)s)")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    return p


def options_from(args: argparse.Namespace) -> SpeedOptions:
    models = list(dict.fromkeys(_list(args.models, "models")))
    for model in models:
        get_spec(model, args.dataset)
    frameworks = list(dict.fromkeys(get_framework(name).label for name in _list(args.frameworks, "frameworks")))
    batch_sizes: list[int | None] = [None]
    if args.batch_sizes:
        try:
            batch_sizes = [int(b) for b in _list(args.batch_sizes, "batch-sizes")]
        except ValueError:
            raise SpeedError(f"--batch-sizes: expected comma-separated integers, got {args.batch_sizes!r}") from None
    for name, value, least in (("windows", args.windows, 1), ("processes", args.processes, 1),
                               ("iterations", args.iterations, 1),
                               ("warmup", args.warmup, 0), ("retries", args.retries, 0)):
        if value < least:
            raise SpeedError(f"--{name} must be at least {least}")
    if any(b < 1 for b in batch_sizes if b) or (args.threads is not None and args.threads < 1):
        raise SpeedError("--batch-sizes and --threads must be positive")
    return SpeedOptions(out=Path(args.out), models=models, frameworks=frameworks, batch_sizes=batch_sizes,
                        threads=args.threads or threads.default_threads(), windows=args.windows,
                        iterations=args.iterations, warmup=args.warmup, device=args.device,
                        contention=args.contention, retries=args.retries, processes=args.processes,
                        dataset=args.dataset)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.worker:
        return worker_main(Job(**json.loads(args.worker)))
    try:
        options = options_from(args)
    except (SpeedError, SpecError, FrameworkError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    report = run_speed(options)
    print(f"speed: {options.out / SPEED_MD} ({options.out / SPEED_JSON})")
    return 1 if any(row["status"] != "ok" for row in report["results"]) else 0


if __name__ == "__main__":
    sys.exit(main())
