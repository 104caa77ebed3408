"""Load the WSGI application named ``module:callable``."""

from __future__ import annotations

import ast
import importlib
from typing import Any, Callable, Dict, List, Tuple
import os
import sys
import traceback


class AppLoadError(Exception):
    """The application cannot be imported or is not callable.

    ``summary`` is one line for the log; ``details`` the full traceback text (empty
    when the spec itself is wrong).
    """

    def __init__(self, summary: str, details: str = "") -> None:
        super().__init__(summary)
        self.summary = summary
        self.details = details


DEFAULT_CALLABLES = ("application", "app")


def prepare_path(folder: str) -> None:
    """Make the app folder importable, like ``python -m`` would (``-I`` leaves it out)."""
    folder = os.path.abspath(folder)
    if folder not in sys.path:
        sys.path.insert(0, folder)


def _factory_call(module_name: str, text: str) -> Tuple[str, Tuple[List[Any], Dict[str, Any]]]:
    """(name, (args, kwargs)) of ``name(literal, key=literal)``; AppLoadError when the arguments are not literals."""
    try:
        node = ast.parse(text, mode="eval").body
        if not isinstance(node, ast.Call):
            raise ValueError("not a call")
        parts: List[str] = []
        func = node.func
        while isinstance(func, ast.Attribute):
            parts.insert(0, func.attr)
            func = func.value
        if not isinstance(func, ast.Name):
            raise ValueError("the factory must be a name")
        name = ".".join([func.id, *parts])
        args = [ast.literal_eval(arg) for arg in node.args]
        kwargs = {kw.arg: ast.literal_eval(kw.value) for kw in node.keywords if kw.arg}
    except (SyntaxError, ValueError) as exc:
        raise AppLoadError(f"application {module_name}:{text}: the factory's arguments must be Python literals ({exc})") from None
    return name, (args, kwargs)


def load_app(spec: str) -> Callable[..., Any]:
    """Import ``module`` and return its ``callable`` (a dotted attribute path; without
    one, ``application`` then ``app``)."""
    module_name, _, attr = spec.partition(":")
    module_name, attr = module_name.strip(), attr.strip()
    if not module_name:
        raise AppLoadError(f"application {spec!r}: expected module:callable")
    try:
        module = importlib.import_module(module_name)
    except BaseException as exc:  # SystemExit from an app's import must not kill silently
        # A missing top-level module is usually a wrong name or folder, not a bug in it.
        if isinstance(exc, ModuleNotFoundError) and exc.name == module_name.split(".")[0]:
            raise AppLoadError(
                f"cannot import application module {module_name!r}: no such module in "
                f"{os.getcwd()} (check the module name and --chdir)") from None
        details = traceback.format_exc()
        raise AppLoadError(
            f"cannot import application module {module_name!r}: "
            f"{type(exc).__name__}: {exc}", details) from None
    call = None
    if attr.endswith(")") and "(" in attr:
        # An application factory, as gunicorn takes it: module:create_app() or create_app("prod", debug=False).
        attr, call = _factory_call(module_name, attr)
    names = [attr] if attr else list(DEFAULT_CALLABLES)
    for name in names:
        obj: Any = module
        try:
            for part in name.split("."):
                obj = getattr(obj, part)
        except AttributeError:
            continue
        if call is not None:
            args, kwargs = call
            try:
                obj = obj(*args, **kwargs)
            except BaseException as exc:
                raise AppLoadError(f"application factory {module_name}:{name}() raised {type(exc).__name__}: {exc}",
                                   traceback.format_exc()) from None
        if not callable(obj):
            raise AppLoadError(f"application {module_name}:{name} is a {type(obj).__name__}, not a WSGI callable")
        return obj
    wanted = " or ".join(repr(n) for n in names)
    raise AppLoadError(f"application module {module_name!r} has no {wanted}; name it as {module_name}:CALLABLE")
