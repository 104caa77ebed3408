"""Load the WSGI application named ``module:callable``."""

from __future__ import annotations

import importlib
from typing import Any, Callable
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
    names = [attr] if attr else list(DEFAULT_CALLABLES)
    for name in names:
        obj = module
        try:
            for part in name.split("."):
                obj = getattr(obj, part)
        except AttributeError:
            continue
        if not callable(obj):
            raise AppLoadError(f"application {module_name}:{name} is a {type(obj).__name__}, not a WSGI callable")
        return obj
    wanted = " or ".join(repr(n) for n in names)
    raise AppLoadError(f"application module {module_name!r} has no {wanted}; name it as {module_name}:CALLABLE")
