"""Run a suite: every (model, framework, seed) trained in its own process, then evaluated in another.

Frameworks never share a process or a GPU memory pool (PARITY-NOTES §1: TensorFlow and PyTorch's Triton in
one process can segfault). Each run writes its run folder (``benchmark.runs``) under
``OUT/runs/<model>-<framework>-seed<S>/`` with the child's output in ``train.log`` and ``eval.log``; the
suite records every run's status, exit code and, for a failure, the last lines of its log in
``OUT/suite.json``. A failed, crashed or diverged run never stops the others.

Resuming (``--resume``) reads each run folder: a completed or diverged run is finished and skipped (its
evaluation is redone only when its scores are missing, unreadable or not those of its current samples), an
interrupted or failed one is started again with the same command, which continues from its last checkpoint
(``benchmark.training``). A longer training length continues every run; a shorter one than a run has trained is
refused.

What the suite runs (its options, plan and child command lines) is ``benchmark.suite_plan``; what it reads of
the machine is ``benchmark.machine``.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import signal
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, TextIO

from benchmark import executors, runs
from benchmark.datasets import DEFAULT_DATASET
from benchmark.estimate import time_left
from benchmark.eval_format import REFERENCES_DIR, curve_current, curve_sample_files, scores_current
from benchmark.locking import FolderLock
from benchmark.machine import (children_cpu_seconds, cpu_busy_seconds, environment, fingerprint, fingerprint_mismatch,
                               other_cpu_share)
from benchmark.runs import EVAL_LOG, RUNS_DIR, SUITE_FILE, TRAIN_LOG, describe_exit  # noqa: F401  (re-exported)
from benchmark.speed import SPEED_DIR, SPEED_JSON
from benchmark.suite_plan import (PlannedRun, SuiteError, SuiteOptions, child_env, eval_command, plan,
                                  references_command, speed_command, train_command)

LOG_TAIL_LINES = 20

# Run statuses: those of the run-folder contract, plus runs the suite never got to.
PENDING = "pending"
FINISHED = (runs.COMPLETED, runs.DIVERGED)


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> list[str]:
    """The last ``lines`` lines of a child's log, progress-bar carriage returns folded."""
    if not path.exists():
        return []
    text = path.read_text(errors="replace").replace("\r\n", "\n")
    folded = [line.rsplit("\r", 1)[-1].rstrip() for line in text.split("\n")]
    return [line for line in folded if line][-lines:]


def training_status(code: int, run_dir: Path, stopping: bool = False) -> str:
    """The run's status from the child's exit code; result.json only confirms it (it may be stale). A child
    that ends without a result while the suite is stopping (killed on a second Ctrl-C) was interrupted."""
    status = runs.status_of_exit(code)
    if stopping and status == runs.FAILED:
        return runs.INTERRUPTED
    if status == runs.COMPLETED:
        result = runs.read_json(run_dir / runs.RESULT, {})
        if result.get(runs.KEY_STATUS) != runs.COMPLETED or not (run_dir / runs.SAMPLES).exists():
            return runs.FAILED  # exit 0 without the contract's files is a broken run, not a result
    return status


def folder_state(run_dir: Path, steps: int) -> str | None:
    """A finished run's status as its folder records it; None when it must be (re)started."""
    result = runs.read_json(run_dir / runs.RESULT, {})
    config = runs.read_json(run_dir / runs.CONFIG, {})
    if result.get(runs.KEY_STATUS) in FINISHED and config.get("steps") == steps:
        if result[runs.KEY_STATUS] == runs.DIVERGED or (run_dir / runs.SAMPLES).exists():
            return result[runs.KEY_STATUS]
    return None


def evaluation_needed(run_dir: Path, status: str) -> tuple[bool, bool]:
    """(run the evaluation?, curve only?) for a finished run: yes when its scores are missing, unreadable or not
    those of the samples it holds now (a resume trained it on); a diverged run gets its curve up to the end."""
    curve_stale = bool(curve_sample_files(run_dir)) and not curve_current(run_dir)
    if status == runs.COMPLETED:
        return not scores_current(run_dir) or curve_stale, False
    if status == runs.DIVERGED:
        return curve_stale, True
    return False, False


@dataclass
class Outcome:
    """What the suite records about one run (``suite.json`` → ``runs``)."""

    name: str
    model: str
    framework: str
    seed: int
    steps: int
    run_dir: str
    status: str = PENDING
    exit_code: int | None = None
    exit: str = "not run"
    skipped: bool = False  # finished in an earlier invocation
    train_wall_seconds: float | None = None
    eval_exit_code: int | None = None
    eval_wall_seconds: float | None = None
    log_tail: list[str] = field(default_factory=list)
    eval_log_tail: list[str] = field(default_factory=list)
    attempts: int = 0
    resumed_from_step: int = 0  # the checkpointed step its last training attempt started from
    other_cpu_share: float | None = None  # CPU used by other processes during training, share of the machine
    node: dict = field(default_factory=dict)  # where it trained: executor, hostname, GPU, CPU cores, Ray node id

    @property
    def evaluated(self) -> bool:
        return self.eval_exit_code in (0, None)

    @property
    def problem(self) -> bool:
        return self.status not in FINISHED or not self.evaluated


class Suite:
    """Trains the plan with ``jobs`` worker threads (each waits on one child process at a time), then
    evaluates every finished run: in one evaluation process when possible (it loads torch, the classifier
    and the reference statistics once), and run by run where that process fails, so that one bad run folder
    cannot cost the others their scores. Training and evaluation never overlap, so evaluation never
    perturbs a timing."""

    def __init__(self, options: SuiteOptions, stream: TextIO = sys.stdout,
                 preamble: Callable[[], list[str]] | None = None):
        self.options, self.stream = options, stream
        self.preamble = preamble  # lines said once the folder is held and checked, before any run starts
        self.out = Path(options.out)
        self.runs = plan(options)
        self.stop = threading.Event()
        self.executor = executors.create(options.executor, jobs=options.jobs, device=options.device, stop=self.stop,
                                         ray_address=options.ray_address, out=self.out)
        self.options = dataclasses.replace(options, device=self.executor.device)  # ``auto`` on a GPU: ``cuda``
        self.lock = threading.Lock()
        self.outcomes: dict[str, Outcome] = {}
        self.begun: dict[str, tuple[float, int]] = {}  # each run training now: perf_counter() and step at its start
        self.started = time.time()
        self.header: dict = {}

    # ------------------------------------------------------------------------------------- bookkeeping

    def run_dir(self, run: PlannedRun) -> Path:
        return self.out / RUNS_DIR / run.name

    def prepare(self) -> None:
        """Check the output folder against ``--resume`` and write the suite header."""
        suite_file = self.out / SUITE_FILE
        previous = runs.read_json(suite_file, {})
        has_runs = (self.out / RUNS_DIR).exists() and any((self.out / RUNS_DIR).iterdir())
        if not self.options.resume and (previous or has_runs):
            raise SuiteError(f"{self.out} already holds a suite; pass --resume to continue it, or choose another "
                             f"--out (or delete the folder) to start again")
        if previous and previous.get("profile", {}).get("name") != self.options.profile.name:
            raise SuiteError(f"{self.out} holds a {previous['profile'].get('name')!r} suite, not "
                             f"{self.options.profile.name!r}; use another --out")
        if previous and previous.get("dataset", DEFAULT_DATASET) != self.options.dataset:
            raise SuiteError(f"{self.out} holds a suite on {previous.get('dataset', DEFAULT_DATASET)}, not "
                             f"{self.options.dataset}; use another --out")
        self._check_lengths()
        known = {f.name for f in dataclasses.fields(Outcome)}
        for name, record in previous.get("runs", {}).items():
            self.outcomes[name] = Outcome(**{k: v for k, v in record.items() if k in known})
        self.header = {
            "dataset": self.options.dataset,
            "profile": dataclasses.asdict(self.options.profile),
            "options": {"models": self.options.models, "frameworks": self.options.frameworks,
                        "seeds": self.options.seeds, "device": self.options.device, "jobs": self.options.jobs,
                        "executor": self.options.executor, "deterministic": self.options.deterministic,
                        "inception": self.options.inception, "threads": self.options.thread_count},
            "environment": environment(),
            "command": " ".join(sys.argv),
            "started": previous.get("started") or _now(),
            "invocations": previous.get("invocations", 0) + 1,
        }
        self.save(state="running")

    def _check_lengths(self) -> None:
        """Refuse to resume a run that has trained past the length planned now: it cannot train back, and its
        results would be reported under a length they do not have."""
        for run in self.runs:
            done = runs.read_json(self.run_dir(run) / runs.RESULT, {}).get(runs.KEY_STEP)
            if isinstance(done, int) and done > run.steps:
                raise SuiteError(f"{self.run_dir(run)} has trained {done} iterations, more than the {run.steps} "
                                 f"planned now; resume with its length (or longer), or use another --out")

    def save(self, state: str) -> None:
        with self.lock:
            records = {name: dataclasses.asdict(outcome) for name, outcome in self.outcomes.items()}
        runs.write_json(self.out / SUITE_FILE, {**self.header, "state": state, "updated": _now(),
                                                "plan": [run.name for run in self.runs], "runs": records})

    def say(self, text: str) -> None:
        with self.lock:
            try:
                print(text, file=self.stream, flush=True)
            except OSError:  # the terminal is gone (SIGHUP): the suite still stops its children and records it
                pass

    # ----------------------------------------------------------------------------------------- running

    def _spawn(self, command: list[str], env: dict, log_path: Path, folders: list[Path],
               training: bool) -> executors.Finished:
        return self.executor.run(executors.Job(command, env, log_path, tuple(folders), training))

    def train(self, run: PlannedRun) -> Outcome:
        """Train ``run`` in a child process, or recognise it as finished by an earlier invocation."""
        run_dir = self.run_dir(run)
        previous = self.outcomes.get(run.name)
        outcome = Outcome(run.name, run.model, run.framework, run.seed, run.steps,
                          run_dir.relative_to(self.out).as_posix(), attempts=previous.attempts if previous else 0)
        state = folder_state(run_dir, run.steps)
        if state is not None:
            code = runs.EXIT_CODES[state]
            outcome.status, outcome.exit_code, outcome.exit, outcome.skipped = state, code, describe_exit(code), True
            if previous:
                outcome.train_wall_seconds = previous.train_wall_seconds
                outcome.eval_exit_code, outcome.eval_wall_seconds = previous.eval_exit_code, previous.eval_wall_seconds
            return outcome
        if self.stop.is_set():
            return outcome
        run_dir.mkdir(parents=True, exist_ok=True)
        outcome.attempts += 1
        begin, busy, own = time.perf_counter(), cpu_busy_seconds(), children_cpu_seconds()
        outcome.resumed_from_step = runs.checkpointed_step(run_dir)
        self.begun[run.name] = begin, outcome.resumed_from_step
        try:
            finished = self._spawn(train_command(run, run_dir, self.options), child_env(run, self.options),
                                   run_dir / TRAIN_LOG, [run_dir], training=True)
        finally:
            self.begun.pop(run.name, None)
        code, outcome.node = finished.code, finished.node
        outcome.train_wall_seconds = time.perf_counter() - begin
        if self.options.executor == "local":  # a Ray child is no child of this process and may run elsewhere
            outcome.other_cpu_share = other_cpu_share(busy, own, outcome.train_wall_seconds)
        outcome.exit_code, outcome.exit = code, describe_exit(code)
        outcome.status = training_status(code, run_dir, stopping=self.stop.is_set())
        if outcome.status != runs.COMPLETED:
            outcome.log_tail = log_tail(run_dir / TRAIN_LOG)
        return outcome

    def evaluate(self) -> None:
        """Score every finished run that has no scores yet (all in one process, then one by one)."""
        for curve_only in (False, True):
            todo = [name for name, outcome in self.outcomes.items()
                    if name in {run.name for run in self.runs}
                    and evaluation_needed(self.out / outcome.run_dir, outcome.status) == (True, curve_only)]
            if not todo or self.stop.is_set():
                continue
            what = "curves of diverged runs" if curve_only else "samples"
            self.say(f"evaluating the {what} of {len(todo)} run(s) in one process ...")
            begin = time.perf_counter()
            failed = self._evaluate_group(todo, curve_only, self.out / "logs" / "evaluate.log")
            if failed and len(todo) > 1 and not self.stop.is_set():
                self.say(f"evaluation failed for {len(failed)} run(s); retrying each in its own process")
                retry_failed = []
                for name in failed:
                    retry_failed += self._evaluate_group([name], curve_only,
                                                         self.out / self.outcomes[name].run_dir / EVAL_LOG)
                failed = retry_failed
            seconds = time.perf_counter() - begin
            for name in todo:
                self.outcomes[name].eval_wall_seconds = seconds / len(todo)
            self.save(state="running")
            self.say(f"evaluated {len(todo) - len(failed)}/{len(todo)} run(s) in {_duration(seconds)}"
                     + (f"; failed: {', '.join(failed)}" if failed else ""))
        if not self.stop.is_set():  # cached by sample count: a resumed suite does not score them again
            self.say("scoring the reference rows (real training images, uniform noise) ...")
            references = self.out / REFERENCES_DIR
            references.mkdir(parents=True, exist_ok=True)
            code = self._spawn(references_command(self.options), child_env(None, self.options),
                               self.out / "logs" / "references.log", [references], training=False).code
            if code != 0:
                self.say(f"reference rows failed ({describe_exit(code)}); see {self.out / 'logs' / 'references.log'}")

    def time_speed(self) -> None:
        """The profile's speed phase, alone on the machine after training and evaluation (so nothing the suite
        runs perturbs it); a resumed suite keeps a finished one. Its failure is reported, never fatal."""
        folder = self.out / SPEED_DIR
        command = speed_command(self.options, folder)
        if command is None or self.stop.is_set():
            return
        if (folder / SPEED_JSON).exists():
            stale = fingerprint_mismatch(runs.read_json(folder / SPEED_JSON, {}).get("fingerprint"), fingerprint())
            if stale is None:
                self.say(f"speed phase: kept from an earlier invocation on this machine and code "
                         f"({folder / SPEED_JSON})")
                return
            self.say(f"speed phase: measured again, since the one in {folder / SPEED_JSON} is not this machine's: "
                     f"{stale}")
        self.say(f"speed phase: every execution mode of {command[command.index('--models') + 1]}, timed in "
                 f"interleaved windows ...")
        folder.mkdir(parents=True, exist_ok=True)
        begin = time.perf_counter()
        code = self._spawn(command, child_env(None, self.options), self.out / "logs" / "speed.log", [folder],
                           training=False).code
        self.say(f"speed phase {'done' if code == 0 else 'failed (' + describe_exit(code) + ')'} in "
                 f"{_duration(time.perf_counter() - begin)}; see {self.out / 'logs' / 'speed.log'}")

    def _evaluate_group(self, names: list[str], curve_only: bool, log_path: Path) -> list[str]:
        """One evaluation process for ``names``; returns those left without their scores."""
        run_dirs = [self.out / self.outcomes[name].run_dir for name in names]
        before = {name: _mtime(run_dir / (runs.CURVE if curve_only else runs.EVAL))
                  for name, run_dir in zip(names, run_dirs)}
        log_start = log_path.stat().st_size if log_path.exists() else 0
        code = self._spawn(eval_command(run_dirs, self.options, curve_only), child_env(None, self.options), log_path,
                           run_dirs, training=False).code
        failed = []
        for name, run_dir in zip(names, run_dirs):
            written = _mtime(run_dir / (runs.CURVE if curve_only else runs.EVAL))
            outcome = self.outcomes[name]
            if written is not None and written != before[name]:
                outcome.eval_exit_code, outcome.eval_log_tail = 0, []
            else:
                failed.append(name)
                outcome.eval_exit_code = code or 1
                outcome.eval_log_tail = _run_log_lines(log_path, log_start, run_dir)
        return failed

    def interrupt(self, signum: int) -> None:
        """Stop starting runs; pass the first signal on, so each child checkpoints and exits (status 4); on a
        second one, kill the children (they resume from their last periodic checkpoint)."""
        first = not self.stop.is_set()
        self.stop.set()
        if first:
            self.say(f"{signal.Signals(signum).name}: stopping; running children checkpoint and exit "
                     f"(again to kill them; continue with --resume)")
        else:
            self.say(f"{signal.Signals(signum).name} again: killing the running children")
        self.executor.interrupt(kill=not first)

    def run(self) -> dict[str, Outcome]:
        """Train and evaluate the plan while holding ``OUT/.lock`` (``LockHeld`` if another suite holds it,
        ``LockError`` if it cannot be written)."""
        try:
            with FolderLock(self.out, "suite"):
                return self._run()
        finally:
            self.executor.close()

    def _run(self) -> dict[str, Outcome]:
        self.prepare()
        for line in self.preamble() if self.preamble else []:
            self.say(line)
        total, done, trained = len(self.runs), 0, []
        jobs = self.executor.slots
        self.say(f"suite {self.out}: profile {self.options.profile.name}, {total} training runs "
                 f"({len(self.options.models)} models x {len(self.options.frameworks)} frameworks x "
                 f"{len(self.options.seeds)} seeds), {jobs} at a time, then their evaluation")
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            pending = {pool.submit(self.train, run): run for run in self.runs}
            while pending:
                finished, _ = wait(pending, timeout=1.0, return_when=FIRST_COMPLETED)
                for future in finished:
                    run = pending.pop(future)
                    outcome = future.result()
                    with self.lock:
                        self.outcomes[run.name] = outcome
                    done += 1
                    if not outcome.skipped and outcome.status == runs.COMPLETED:
                        trained.append((self._steps_left(run, outcome.resumed_from_step),
                                        outcome.train_wall_seconds or 0.0))
                    self.save(state="running")
                    self.say(self._progress_line(done, total, outcome, trained, list(pending.values()), jobs))
        self.evaluate()
        self.time_speed()
        state = "interrupted" if self.stop.is_set() else "finished"
        self.save(state=state)
        self.say(f"suite {state} in {_duration(time.time() - self.started)}")
        return self.outcomes

    @staticmethod
    def _steps_left(run: PlannedRun, start: int) -> PlannedRun:
        """``run`` shortened to the iterations it trains from ``start`` (the part a resume trains)."""
        return dataclasses.replace(run, steps=max(0, run.steps - start))

    def _progress_line(self, done: int, total: int, outcome: Outcome, trained: list[tuple[PlannedRun, float]],
                       unfinished: list[PlannedRun], jobs: int) -> str:
        """One line per finished run, with the ETA of the rest (``estimate.time_left``: the reference cost of the
        iterations each has left, scaled by how long the iterations ``trained`` in this invocation took)."""
        elapsed = time.time() - self.started
        remaining = total - done
        if outcome.status == PENDING:
            what = "not started (stopping)"
        elif outcome.skipped:
            what = f"{outcome.status}, finished earlier (skipped)"
        else:
            what = f"{outcome.status} [{outcome.exit}] in {_duration(outcome.train_wall_seconds)}"
        eta = ""
        now = time.perf_counter()
        left = []
        for run in unfinished:  # a running one: from where it started, less its time; a waiting one: as it is now
            begin, start = self.begun.get(run.name) or (now, runs.checkpointed_step(self.run_dir(run)))
            left.append((self._steps_left(run, start), now - begin))
        seconds = time_left(left, trained, jobs, self.options.dataset)
        if remaining and not self.stop.is_set() and seconds is not None:
            eta = f", ETA {_duration(seconds)} + evaluation"
        elif not remaining:
            eta = ", training done; evaluation next"
        width = len(str(total))
        return f"[{done:>{width}}/{total}] {outcome.name}: {what} | elapsed {_duration(elapsed)}{eta}"


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None


def _run_log_lines(log_path: Path, start: int, run_dir: Path) -> list[str]:
    """The evaluation log's lines about ``run_dir`` since ``start``, else its tail."""
    if not log_path.exists():
        return []
    with log_path.open("rb") as log:
        log.seek(start)
        lines = [line.rstrip() for line in log.read().decode(errors="replace").splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith("$ ")]  # the command lines name every run
    mine = [line for line in lines if str(run_dir) in line]
    return (mine or lines)[-LOG_TAIL_LINES:]


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def install_signal_handlers(suite: Suite) -> Callable[[], None]:
    """SIGINT / SIGTERM / SIGHUP (a closed terminal) -> ``suite.interrupt``; returns a function that restores the
    old handlers."""
    old = {sig: signal.signal(sig, lambda signum, frame: suite.interrupt(signum))
           for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    return lambda: [signal.signal(sig, handler) for sig, handler in old.items()]
