"""The arrows between warp's layers, read from every import statement in src/warp
(function-level ones included): runtime stays standard-library only, no package
imports a layer above it, and no module imports itself back through others.

Each KNOWN_* list names a violation that exists today and is being removed. Its
entry is an xfail(strict=True) test: it goes red when the violation is fixed but
still listed (remove the entry), and the main test goes red on any violation that
is not listed.
"""

from __future__ import annotations

import sys

import pytest

from support import write
from support.layers import (
    APP_ENVIRONMENT_IMPORTS, LAYERS, RUNTIME_MAY_IMPORT, all_imports, cycles, graph, is_stdlib, is_warp, layer_of,
    module_files, packages, parents,
)

needs_stdlib_names = pytest.mark.skipif(sys.version_info < (3, 10), reason="needs sys.stdlib_module_names")

# "importer -> imported" for imports from a layer above.
KNOWN_UPWARD = [
    "warp.build.pipeline -> warp.launch",
]

# "importer -> imported" for runtime-side code importing outside the standard library.
KNOWN_RUNTIME = [
]

# The modules of each import cycle, sorted and joined with " <-> ".
KNOWN_CYCLES: list[str] = []


def _rank(module: str) -> int:
    """Position from the bottom: the root package is below every layer."""
    layer = layer_of(module)
    return -1 if layer is None else len(LAYERS) - LAYERS.index(layer)


def upward_imports() -> set[str]:
    found = set()
    for imp in all_imports():
        if not is_warp(imp.imported) or layer_of(imp.importer) == "runtime":
            continue  # runtime's own rule is stricter, below
        if _rank(imp.imported) > _rank(imp.importer) and layer_of(imp.imported) != "runtime":
            found.add(f"{imp.importer} -> {imp.imported}")
    return found


def _runtime_side(imports) -> set[str]:
    """Runtime modules, warp.core.settings, and every warp module they reach (parent
    packages included: Python runs them on the way)."""
    edges = graph(imports)
    todo = [m for m in module_files() if layer_of(m) == "runtime"] + ["warp.core.settings"]
    seen: set[str] = set()
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        todo.extend(edges.get(module, ()))
        todo.extend(parents(module))
    return seen


def runtime_violations() -> set[str]:
    imports = all_imports()
    side = _runtime_side(imports)
    allowed = {name for module in RUNTIME_MAY_IMPORT for name in (module, *parents(module))}
    found = set()
    for imp in imports:
        if imp.importer not in side:
            continue
        if is_warp(imp.imported):
            direct_ok = layer_of(imp.imported) == "runtime" or imp.imported in allowed
            if layer_of(imp.importer) == "runtime" and not direct_ok:
                found.add(f"{imp.importer} -> {imp.imported}")
        elif not is_stdlib(imp.imported) and imp.imported not in APP_ENVIRONMENT_IMPORTS.get(imp.importer, ()):
            found.add(f"{imp.importer} -> {imp.imported}")
    return found


def cycle_names() -> set[str]:
    return {" <-> ".join(sorted(component)) for component in cycles(graph(all_imports()))}


def test_every_package_has_a_layer():
    assert sorted(set(packages()) - set(LAYERS)) == []


@needs_stdlib_names
def test_runtime_imports_only_the_standard_library_itself_and_settings():
    assert sorted(runtime_violations() - set(KNOWN_RUNTIME)) == []


def test_no_package_imports_a_layer_above_it():
    assert sorted(upward_imports() - set(KNOWN_UPWARD)) == []


def test_no_import_cycles():
    assert sorted(cycle_names() - set(KNOWN_CYCLES)) == []


@needs_stdlib_names
@pytest.mark.xfail(strict=True, reason="known runtime-side import being removed; delete it from KNOWN_RUNTIME once gone")
@pytest.mark.parametrize("violation", KNOWN_RUNTIME)
def test_known_runtime_violation_is_gone(violation):
    assert violation not in runtime_violations()


@pytest.mark.xfail(strict=True, reason="known upward import being removed; delete it from KNOWN_UPWARD once gone")
@pytest.mark.parametrize("violation", KNOWN_UPWARD)
def test_known_upward_import_is_gone(violation):
    assert violation not in upward_imports()


@pytest.mark.xfail(strict=True, reason="known import cycle being removed; delete it from KNOWN_CYCLES once gone")
@pytest.mark.parametrize("cycle", KNOWN_CYCLES)
def test_known_cycle_is_gone(cycle):
    assert cycle not in cycle_names()


# The checks themselves, on a small tree written here: each rule must be able to fail.

def test_function_level_and_from_imports_are_seen(tmp_path):
    src = tmp_path
    write(src / "warp", {
        "__init__.py": "",
        "app/__init__.py": "",
        "app/detect.py": "def f():\n    from warp.build import venv\n    import yaml.constructor\n",
        "build/__init__.py": "",
        "build/venv.py": "from . import hooks\nfrom .hooks import run\n",
        "build/hooks.py": "import warp.app.detect\n",
    }, dedent=False)
    seen = {(i.importer, i.imported) for i in all_imports(src)}
    assert ("warp.app.detect", "warp.build.venv") in seen
    assert ("warp.app.detect", "yaml") in seen
    assert ("warp.build.venv", "warp.build.hooks") in seen
    assert ("warp.build.hooks", "warp.app.detect") in seen
    edges = graph(all_imports(src))
    assert cycles(edges) == [frozenset({"warp.app.detect", "warp.build.venv", "warp.build.hooks"})]


def test_test_modules_have_unique_names():
    # pytest imports test modules by basename (rootdir mode): two files with one name in
    # tests/unit and tests/integration break collection of the whole suite, which only
    # a run over all of tests/ would show.
    from collections import Counter
    from pathlib import Path

    tests = Path(__file__).resolve().parents[1]
    names = Counter(path.name for path in tests.rglob("test_*.py"))
    assert [name for name, count in names.items() if count > 1] == []
