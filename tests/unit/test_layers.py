"""The arrows between warp's layers, read from every import statement in src/warp
(function-level ones included): runtime stays standard-library only, no package
imports a layer above it, and no module imports itself back through others.
The layers and what runtime may import are in tests/support/layers.py (the README
test holds the README's ARCHITECTURE section to the same lists).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from support import SRC, write
from support.layers import (
    APP_ENVIRONMENT_IMPORTS, LAYERS, RUNTIME_MAY_IMPORT, all_imports, cycles, graph, is_stdlib, is_warp, layer_of,
    module_files, packages, parents,
)

needs_stdlib_names = pytest.mark.skipif(sys.version_info < (3, 10), reason="needs sys.stdlib_module_names")


def _rank(module: str) -> int:
    """Position from the bottom: the root package is below every layer."""
    layer = layer_of(module)
    return -1 if layer is None else len(LAYERS) - LAYERS.index(layer)


def upward_imports(src: Path = SRC) -> set[str]:
    found = set()
    for imp in all_imports(src):
        if not is_warp(imp.imported) or layer_of(imp.importer) == "runtime":
            continue  # runtime's own rule is stricter, below
        if _rank(imp.imported) > _rank(imp.importer) and layer_of(imp.imported) != "runtime":
            found.add(f"{imp.importer} -> {imp.imported}")
    return found


def _runtime_side(imports, src: Path) -> set[str]:
    """Runtime modules, warp.core.settings, and every warp module they reach (parent
    packages included: Python runs them on the way)."""
    edges = graph(imports)
    todo = [m for m in module_files(src) if layer_of(m) == "runtime"] + ["warp.core.settings"]
    seen: set[str] = set()
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        todo.extend(edges.get(module, ()))
        todo.extend(parents(module))
    return seen


def runtime_violations(src: Path = SRC) -> set[str]:
    imports = all_imports(src)
    side = _runtime_side(imports, src)
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
    assert sorted(runtime_violations()) == []


def test_no_package_imports_a_layer_above_it():
    assert sorted(upward_imports()) == []


def test_no_import_cycles():
    assert sorted(cycle_names()) == []


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


@needs_stdlib_names
def test_the_rules_see_an_upward_import_and_a_foreign_one_in_runtime(tmp_path):
    write(tmp_path / "warp", {
        "__init__.py": "",
        "core/__init__.py": "",
        "core/settings.py": "import json\n",
        "app/__init__.py": "",
        "app/detect.py": "from warp.launch import plan\n",
        "launch/__init__.py": "",
        "launch/plan.py": "from warp.runtime import shim\n",
        "runtime/__init__.py": "",
        "runtime/shim.py": "import click\nfrom warp.core import settings\nfrom warp.app import detect\n",
    }, dedent=False)
    assert upward_imports(tmp_path) == {"warp.app.detect -> warp.launch.plan"}
    assert runtime_violations(tmp_path) == {"warp.runtime.shim -> click", "warp.runtime.shim -> warp.app.detect"}
