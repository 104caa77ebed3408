"""Every public function of warp is annotated, so mypy checks its body and its callers.

Public: a module-level function, or a method (``__init__`` included) of a
module-level class, whose name does not start with an underscore.
"""

from __future__ import annotations

import ast

from support.layers import module_files


def unannotated(path) -> list[str]:
    """``name(param, ..., ->)`` for each public function of the module missing annotations."""
    found = []
    for name, fn in _public_functions(ast.parse(path.read_text())):
        args = fn.args
        params = args.posonlyargs + args.args + args.kwonlyargs
        if params and params[0].arg in ("self", "cls") and "." in name:
            params = params[1:]
        missing = [p.arg for p in params if p.annotation is None]
        missing += ["*" + v.arg for v in (args.vararg, args.kwarg) if v is not None and v.annotation is None]
        if fn.returns is None and fn.name != "__init__":
            missing.append("->")
        if missing:
            found.append(f"{name}({', '.join(missing)})")
    return found


def _public_functions(tree):
    functions = (ast.FunctionDef, ast.AsyncFunctionDef)
    for node in tree.body:
        if isinstance(node, functions) and not node.name.startswith("_"):
            yield node.name, node
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            for member in node.body:
                if isinstance(member, functions) and (not member.name.startswith("_") or member.name == "__init__"):
                    yield f"{node.name}.{member.name}", member


def test_public_functions_are_annotated():
    missing = {module: unannotated(path) for module, path in module_files().items()}
    assert {module: names for module, names in missing.items() if names} == {}


def test_shipped_buildpacks_are_annotated():
    from support.paths import REPO

    missing = {str(path): unannotated(path) for path in sorted((REPO / "buildpacks").glob("*/buildpack.py"))}
    assert {path: names for path, names in missing.items() if names} == {}


def test_the_check_sees_what_is_missing(tmp_path):
    path = tmp_path / "m.py"
    path.write_text(
        "def ok(a: int, *b: str, **c: int) -> None: ...\n"
        "def _private(a): ...\n"
        "def bad(a, b: int): ...\n"
        "class C:\n"
        "    def __init__(self, x): ...\n"
        "    def m(self) -> int: ...\n"
        "    @classmethod\n"
        "    def make(cls, *args) -> 'C': ...\n"
    )
    assert unannotated(path) == ["bad(a, ->)", "C.__init__(x)", "C.make(*args)"]
