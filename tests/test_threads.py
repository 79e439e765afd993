"""Thread counts: the variables a pinned process gets, the suite passing one count to every run (and nothing
of its own environment), the trainers recording it."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from benchmark import suite_plan, threads
from benchmark.profiles import get_profile


def test_thread_env_sets_every_pool_and_keeps_other_xla_flags():
    env = threads.thread_env(3, {"XLA_FLAGS": "--xla_dump_to=/tmp/x --xla_cpu_multi_thread_eigen=true"})
    assert {env[name] for name in threads.THREAD_VARIABLES} == {"3"}
    assert env["XLA_FLAGS"] == "--xla_dump_to=/tmp/x"  # no XLA thread flag beyond one thread
    one = threads.thread_env(1, {"XLA_FLAGS": "--xla_dump_to=/tmp/x"})
    assert one["XLA_FLAGS"] == f"--xla_dump_to=/tmp/x {threads.XLA_SINGLE_THREAD}"
    with pytest.raises(ValueError):
        threads.thread_env(0)


def test_pinned_processes_take_the_first_cores_no_other_one_holds(tmp_path):
    """Each ``CoreClaims`` stands for a process (a lock file per core, each open file its own lock); when none is
    free, the first cores are shared, as without claims."""
    first, second = threads.CoreClaims(tmp_path), threads.CoreClaims(tmp_path)
    assert threads.choose_cpus(1, [3, 1, 2], first.claim) == (1,)
    assert threads.choose_cpus(1, [3, 1, 2], second.claim) == (2,)
    assert threads.choose_cpus(2, [1, 2], threads.CoreClaims(tmp_path).claim) == (1, 2)
    assert threads.choose_cpus(4, [2, 1], threads.CoreClaims(tmp_path).claim) == (1, 2)  # fewer cores than threads
    first.release()
    assert threads.choose_cpus(2, [1, 2, 3], threads.CoreClaims(tmp_path).claim) == (1, 3)


def test_a_killed_process_leaves_its_core_free(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", "import sys; from pathlib import Path; from benchmark import "
                               f"threads; claims = threads.CoreClaims(Path({str(tmp_path)!r})); claims.claim(0); "
                               "print('held', flush=True); sys.stdin.read()"], cwd=Path(__file__).resolve().parent.parent,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    assert threads.choose_cpus(1, [0, 1], threads.CoreClaims(tmp_path).claim) == (1,)
    holder.kill()
    holder.wait()
    assert threads.choose_cpus(1, [0, 1], threads.CoreClaims(tmp_path).claim) == (0,)


def test_default_is_cores_per_job(monkeypatch):
    monkeypatch.setattr(threads.os, "cpu_count", lambda: 16)
    assert threads.default_threads() == 16 and threads.default_threads(3) == 5 and threads.default_threads(32) == 1


def test_the_suite_gives_every_child_the_same_explicit_count(tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "7")  # the parent's own setting does not leak into the runs
    options = suite_plan.SuiteOptions(out=tmp_path, profile=get_profile("smoke"), models=["vanilla"],
                                      frameworks=["pytorch", "keras-jax"], seeds=[0], threads=2)
    for framework in options.frameworks:
        run = suite_plan.PlannedRun("vanilla", framework, 0, 4)
        env = suite_plan.child_env(run, options)
        assert not set(threads.THREAD_VARIABLES) & set(env)  # the child pins its own count, from --threads
        command = suite_plan.train_command(run, tmp_path, options)
        assert command[command.index("--threads") + 1] == "2"
    options.threads = None
    options.jobs = 2
    assert options.thread_count == threads.default_threads(2)
