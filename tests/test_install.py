"""The two-command install: the Makefile's GPU decision (``make -n`` with a fake ``nvidia-smi`` on PATH, both ways and
forced with ``GPU=0/1``) and the exact pins of the Keras family's GPU environment (requirements-gpu.txt)."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^([A-Za-z0-9._-]+)(\[[a-z0-9,-]+\])?==([^\s;]+)$")
needs_make = pytest.mark.skipif(shutil.which("make") is None, reason="no make on this machine")


def pins(name: str) -> dict[str, str]:
    """Package (lower case, no extras) -> exact version; any line that is not an exact pin fails."""
    found = {}
    for line in (REPO / name).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            match = PIN.match(line)
            assert match, f"{name}: not an exact pin: {line!r}"
            found[match[1].lower()] = match[3]
    return found


def make_dry_run(target: str, tmp_path: Path, gpu_found: bool, *overrides: str) -> str:
    """``make -n TARGET`` with an ``nvidia-smi`` on PATH that lists a GPU or fails (as it does without a driver),
    and fresh venv folders, so that the install steps show."""
    fake = tmp_path / "bin"
    fake.mkdir(exist_ok=True)
    smi = fake / "nvidia-smi"
    smi.write_text("#!/bin/sh\necho 'GPU 0: Fake GPU (UUID: GPU-0)'\n" if gpu_found else "#!/bin/sh\nexit 9\n")
    smi.chmod(0o755)
    # Without the variables of a make that runs these tests (``make test``): its sub-make would say "Entering/Leaving
    # directory" around the commands and take the outer make's flags.
    inherited = {name: value for name, value in os.environ.items()
                 if name not in ("GPU", "PROFILE", "MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")}
    venvs = [f"VENV={tmp_path / 'venv'}", f"KERAS_VENV={tmp_path / 'keras'}"]
    result = subprocess.run(["make", "--no-print-directory", "-n", target, *venvs, *overrides], cwd=REPO, capture_output=True, text=True,
                            env=dict(inherited, PATH=f"{fake}{os.pathsep}{os.environ['PATH']}"), timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


@needs_make
@pytest.mark.parametrize("target", ["bench", "test"])
def test_a_gpu_adds_the_keras_environment_and_points_the_harness_at_it(tmp_path, target):
    shown = make_dry_run(target, tmp_path, gpu_found=True)
    assert "-m pip install --quiet -r requirements.txt" in shown
    assert f"{tmp_path / 'keras'}/bin/python -m pip install --quiet -r requirements-gpu.txt" in shown
    command = shown.strip().splitlines()[-1]
    assert command.startswith(f"GANBENCH_KERAS_PYTHON={tmp_path / 'keras'}/bin/python {tmp_path / 'venv'}/bin/python")
    if target == "bench":
        assert "--profile full" in command


@needs_make
@pytest.mark.parametrize("target", ["bench", "test"])
def test_without_a_gpu_the_install_is_the_cpu_set_alone(tmp_path, target):
    shown = make_dry_run(target, tmp_path, gpu_found=False)
    assert "-r requirements.txt" in shown
    assert "requirements-gpu.txt" not in shown and "GANBENCH_KERAS_PYTHON" not in shown
    if target == "bench":  # this machine's measurement, never continuing a committed report's folder
        assert "--profile quick --out results/local/quick --resume" in shown


@needs_make
def test_gpu_variable_overrides_the_probe(tmp_path):
    assert "requirements-gpu.txt" not in make_dry_run("bench", tmp_path, True, "GPU=0")
    assert "requirements-gpu.txt" in make_dry_run("bench", tmp_path, False, "GPU=1")


def test_gpu_requirements_pin_the_cpu_sets_framework_versions():
    cpu, gpu = pins("requirements.txt"), pins("requirements-gpu.txt")
    for package in ("tensorflow", "keras", "jax", "jaxlib", "numpy", "pillow", "tqdm"):
        assert gpu[package] == cpu[package], package
    assert gpu["jax-cuda12-plugin"] == gpu["jax-cuda12-pjrt"] == cpu["jax"]
    # torch stays in .venv: its CUDA 13 cuDNN and NCCL wheels would overwrite the Keras family's CUDA 12 ones.
    assert not {"torch", "torchvision", "torch-fidelity"} & set(gpu)
    assert all(name.endswith("-cu12") for name in gpu if name.startswith("nvidia-"))
