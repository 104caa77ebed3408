"""Which installer fills the app's environment (pip or uv), and where uv is.

uv is a build tool on warp's side and never enters the app's environment: it
comes from warp's own environment (``pip install 'warp[uv]'``, the ``uv``
package), from beside the Python running warp, or from PATH. ``warp detect``
says when it is needed and missing, before a build fails on it;
``warp.build.installer`` runs it.
"""

from pathlib import Path
from typing import Any, Mapping, Optional, Tuple
import os
import shutil
import sys

from warp.core.errors import BuildError, WarpError


def find_uv(environ: Optional[Mapping[str, str]] = None) -> str:
    """Path of the uv executable warp uses, or BuildError saying how to get one."""
    environ = os.environ if environ is None else environ
    try:
        from uv import find_uv_bin  # the uv package in warp's own environment

        return str(find_uv_bin())
    except (ImportError, FileNotFoundError):
        pass
    # A uv next to the Python running warp (a virtualenv's bin/), then PATH.
    beside = Path(sys.executable).parent / "uv"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("uv", path=environ.get("PATH"))
    if found:
        return found
    raise BuildError(
        "uv is needed (uv.lock present or installer uv) but was not found in warp's environment or on PATH",
        "pip install 'warp[uv]' (uv stays out of the app's environment), or set installer: pip",
    )


def choose_installer(project: Any, prefers: Optional[str], dependency_file: str = "") -> Tuple[str, str]:
    """(installer, why): the ``installer`` setting, or with ``auto`` the one the package manager's buildpack
    ``prefers`` for its ``dependency_file`` (uv for uv.lock), and pip otherwise.

    When uv is chosen and cannot be found, the reason says so (and how to get it).
    """
    source = project.config.source("installer")
    value = project.config.installer
    if value != "auto":
        chosen, why = value, f"installer={value} from {source}"
    elif prefers:
        chosen, why = prefers, f"{dependency_file} is installed with {prefers}; installer is auto"
    else:
        return "pip", "pip is the default installer; installer is auto"
    if "uv" in (chosen, prefers):  # a buildpack that prefers uv needs it even to export for pip
        try:
            find_uv(project.environ)
        except WarpError as exc:
            return chosen, f"{why}; but {exc.message} ({exc.hint})"
    return chosen, why
