"""warp's layers and the import graph of src/warp, read with `ast` (no import runs).

The layer test enforces the arrows; the README test checks that the README's
ARCHITECTURE and layout sections name the same packages in the same order.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from support.paths import SRC

# Top to bottom. A module may import its own layer and the layers below it, never
# one above. `runtime` runs inside the application's interpreter: it imports only
# the standard library, itself and warp.core.settings (see RUNTIME_MAY_IMPORT),
# while every other layer may import it.
LAYERS = ("cli", "deploy", "image", "launch", "build", "app", "core", "runtime")

# Runtime code may import these warp modules (and the packages above them, which
# Python imports on the way) and nothing else of warp outside runtime/.
RUNTIME_MAY_IMPORT = ("warp.core.settings",)

# Third-party packages the shim imports from the application's own environment
# (warp installs them there for the chosen server), never from warp's.
APP_ENVIRONMENT_IMPORTS = {"warp.runtime.shim": frozenset({"whitenoise", "waitress", "uvicorn"})}


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str  # a warp module, or the top-level name of anything else
    line: int


def module_files(src: Path = SRC) -> dict[str, Path]:
    """{dotted module name: file} for every module under src/warp (packages by their __init__)."""
    found = {}
    for path in sorted((src / "warp").rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def packages(src: Path = SRC) -> list[str]:
    """The names directly under src/warp that are layers: its sub-packages and modules."""
    return sorted(path.stem if path.suffix == ".py" else path.name
                  for path in (src / "warp").iterdir()
                  if (path.suffix == ".py" and path.stem != "__init__") or (path / "__init__.py").is_file())


def layer_of(module: str) -> str | None:
    """The layer a warp module belongs to; None for the root package ``warp`` itself."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def _resolve(importer: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = importer.split(".")
    base = base[:len(base) - node.level + (1 if is_package else 0)]
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(module: str, path: Path, known: dict[str, Path]) -> Iterator[Import]:
    """Every import statement in the module, at any depth (function-level included).

    ``from warp.x import y`` counts as importing warp.x.y when that is a module, else warp.x.
    """
    tree = ast.parse(path.read_text(), str(path))
    is_package = path.name == "__init__.py"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield _target(module, alias.name, node.lineno, known)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(module, is_package, node)
            if base.split(".")[0] != "warp":
                yield _target(module, base, node.lineno, known)
                continue
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                yield _target(module, candidate if candidate in known else base, node.lineno, known)


def _target(importer: str, name: str, line: int, known: dict[str, Path]) -> Import:
    if name.split(".")[0] != "warp":
        return Import(importer, name.split(".")[0], line)
    while name not in known and "." in name:
        name = name.rsplit(".", 1)[0]
    return Import(importer, name, line)


def all_imports(src: Path = SRC) -> list[Import]:
    known = module_files(src)
    return [imp for module, path in known.items() for imp in imports_of(module, path, known)]


def parents(module: str) -> list[str]:
    """The packages Python imports before ``module``: warp.core.settings -> [warp, warp.core]."""
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def is_warp(name: str) -> bool:
    return name == "warp" or name.startswith("warp.")


def is_stdlib(name: str) -> bool:
    return name in sys.stdlib_module_names or name == "__future__"


def graph(imports: list[Import]) -> dict[str, set[str]]:
    """{module: warp modules it imports} (self-imports dropped)."""
    edges: dict[str, set[str]] = {}
    for imp in imports:
        edges.setdefault(imp.importer, set())
        if is_warp(imp.imported) and imp.imported != imp.importer:
            edges[imp.importer].add(imp.imported)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(frozenset(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found
