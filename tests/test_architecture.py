"""The layer rule of ``benchmark/layering.py``, checked on every module's imports (parsed with ``ast``, imports
inside functions included; nothing is imported, so no framework is needed and the test takes well under a second).

* the core imports no harness module and no implementation;
* an implementation imports the core, its own package and third-party libraries only;
* the harness never imports an implementation by name: only through the framework registry
  (``benchmark.frameworks.implementation`` or ``importlib.import_module`` of a registered ``module``).
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from benchmark import frameworks, layering
from benchmark.layering import CORE_LAYER, HARNESS_LAYER, IMPLEMENTATION_LAYER, layer_of

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = (layering.ROOT_PACKAGE, *layering.IMPLEMENTATIONS)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            found[module_name(path)] = path
    return found


MODULES = project_modules()


def _is_module(name: str) -> bool:
    return name in MODULES


def imported_modules(source: str, module: str, is_package: bool = False) -> list[tuple[int, str]]:
    """``(line, dotted name)`` of every module ``source`` imports, at any depth. ``from X import a`` counts X, and
    X.a too when that is a module of the project; relative imports are resolved against ``module``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor[:len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join(anchor + ([base] if base else []))
            found.append((node.lineno, base))
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names
                      if _is_module(f"{base}.{alias.name}")]
    return found


def dynamic_imports(source: str) -> list[tuple[int, str]]:
    """``importlib.import_module("...")`` / ``__import__("...")`` calls with a literal name."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
        first = node.args[0]
        if name in ("import_module", "__import__") and isinstance(first, ast.Constant) \
                and isinstance(first.value, str):
            found.append((node.lineno, first.value))
    return found


def violations(module: str, source: str, is_package: bool = False) -> list[str]:
    """Every import of ``module`` that breaks the layer rule, as ``module:line imports name (why)``."""
    layer, own = layer_of(module), module.split(".")[0]
    problems = []
    for line, name in imported_modules(source, module, is_package):
        target = layer_of(name)
        if target is None:
            continue
        why = None
        if layer == CORE_LAYER and target != CORE_LAYER:
            why = f"the core imports no {target} module"
        elif layer == IMPLEMENTATION_LAYER and target == HARNESS_LAYER:
            why = "an implementation imports no harness module"
        elif layer == IMPLEMENTATION_LAYER and target == IMPLEMENTATION_LAYER and name.split(".")[0] != own:
            why = "an implementation imports no other implementation"
        elif layer == HARNESS_LAYER and target == IMPLEMENTATION_LAYER:
            why = "the harness reaches implementations through the framework registry only"
        if why:
            problems.append(f"{module}:{line} imports {name} ({why})")
    if layer != IMPLEMENTATION_LAYER:
        for line, name in dynamic_imports(source):
            if layer_of(name) == IMPLEMENTATION_LAYER:
                problems.append(f"{module}:{line} imports {name} by a literal name (use the framework registry)")
    return problems


def test_every_module_has_a_layer():
    assert MODULES, "no project module found"
    for module in MODULES:
        assert layer_of(module) in (CORE_LAYER, IMPLEMENTATION_LAYER, HARNESS_LAYER), module


def test_every_core_module_exists():
    missing = [m for m in layering.CORE if m not in MODULES]
    assert not missing, f"benchmark/layering.py names modules that do not exist: {missing}"


def test_imports_follow_the_layer_rule():
    problems = []
    for module, path in MODULES.items():
        problems += violations(module, path.read_text(), is_package=path.name == "__init__.py")
    assert not problems, "\n".join(problems)


def import_graph() -> dict[str, set[str]]:
    """Each project module -> the project modules it imports (a submodule's import of its own package aside: the
    package's ``__init__`` runs first whatever the order)."""
    graph = {}
    for module, path in MODULES.items():
        names = {name for _, name in imported_modules(path.read_text(), module, path.name == "__init__.py")}
        graph[module] = {name for name in names if name in MODULES and not (module + ".").startswith(name + ".")}
    return graph


def test_no_two_modules_import_each_other():
    """No import circle, however long (``executors`` and ``ray_executor`` share ``jobs`` instead)."""
    graph, done, path = import_graph(), set(), []

    def visit(module: str) -> None:
        path.append(module)
        for name in sorted(graph[module]):
            assert name not in path, f"import circle: {' -> '.join(path[path.index(name):] + [name])}"
            if name not in done:
                visit(name)
        path.pop()
        done.add(module)

    for module in sorted(graph):
        if module not in done:
            visit(module)


def test_registry_names_implementation_modules():
    for entry in frameworks.FRAMEWORKS.values():
        assert layer_of(entry.module) == IMPLEMENTATION_LAYER, entry
        assert entry.module in MODULES, entry
        assert entry.package in layering.IMPLEMENTATIONS


@pytest.mark.parametrize("module, source, expected", [
    ("benchmark.spec", "def f():\n    from benchmark import suite\n", "the core imports no harness"),
    ("benchmark.training", "import pytorch_impl.train\n", "the core imports no implementation"),
    ("benchmark.data", "from . import evaluate\n", "the core imports no harness"),
    ("pytorch_impl.train", "from benchmark.evaluate import main\n", "no harness module"),
    ("pytorch_impl.train", "from tensorflow_impl import losses\n", "no other implementation"),
    ("benchmark.parity.torch_side", "from pytorch_impl.train import TorchGAN\n", "framework registry only"),
    ("benchmark.speed", "def f():\n    from tensorflow_impl import backend_ops\n", "framework registry only"),
    ("benchmark.speed", "import importlib\nimportlib.import_module('pytorch_impl.runtime')\n", "literal name"),
])
def test_the_checker_catches_each_kind_of_violation(module, source, expected):
    problems = violations(module, source)
    assert problems and all(expected in problem for problem in problems), problems


@pytest.mark.parametrize("module, source", [
    ("benchmark.training", "from benchmark import runs, spec\nimport numpy\n"),
    ("pytorch_impl.train", "import torch\nfrom benchmark.training import main\nfrom pytorch_impl import runtime\n"),
    ("tensorflow_impl.losses", "from .backend_ops import input_gradient\n"),
    ("benchmark.speed", "import importlib\nimportlib.import_module(entry.module)\nfrom benchmark import suite\n"),
])
def test_the_checker_accepts_what_the_rule_allows(module, source):
    assert violations(module, source) == []


def test_exit_codes_are_spelled_once():
    """``benchmark.interrupts`` exits before ``runs`` (numpy, PIL) is imported, so it keeps its own copy."""
    from benchmark import interrupts, runs
    assert interrupts.EXIT_INTERRUPTED == runs.EXIT_CODES[runs.INTERRUPTED] == runs.EXIT_INTERRUPTED
    assert runs.status_of_exit(3) == runs.DIVERGED and runs.status_of_exit(-9) == runs.FAILED
    assert runs.describe_exit(runs.EXIT_USAGE) == "exit 2 (refused its arguments)"


def test_the_run_folder_json_reader(tmp_path):
    from benchmark import runs
    (tmp_path / "torn.json").write_text('{"status": "compl')
    assert runs.read_json(tmp_path / "torn.json", {}) == {} and runs.read_json(tmp_path / "missing.json", []) == []
    with pytest.raises(ValueError):
        runs.read_json(tmp_path / "torn.json")
    runs.write_json(tmp_path / "ok.json", {runs.KEY_STATUS: runs.COMPLETED})
    assert runs.read_json(tmp_path / "ok.json", {}) == {"status": "completed"}


def test_the_registry_names_one_implementation_per_family():
    assert {family: {f.package for f in frameworks.FRAMEWORKS.values() if f.family == family}
            for family in (frameworks.PYTORCH, frameworks.KERAS)} == {"pytorch": {"pytorch_impl"},
                                                                     "keras": {"tensorflow_impl"}}
    with pytest.raises(frameworks.FrameworkError, match="no single implementation is registered for 'mxnet'"):
        frameworks.implementation("mxnet", "models")
