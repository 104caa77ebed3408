"""Where warp's non-Python files are: buildpacks/, hooks/, Dockerfile.template.

They sit at the top of the source tree and ship inside the wheel as
``warp/_data/<name>`` (see pyproject.toml), so look in the installed package
first and fall back to the source tree (an editable install or a checkout).
"""

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent.parent  # the warp package, above core/


def data_path(name: str) -> Path:
    """Path of warp's shipped file or folder ``name`` (e.g. "hooks")."""
    installed = _PACKAGE / "_data" / name
    if installed.exists():
        return installed
    checkout = _PACKAGE.parent.parent / name  # src/warp -> the repository's top
    if checkout.exists():
        return checkout
    raise FileNotFoundError(f"warp's {name} is missing from {installed} and {checkout}; reinstall warp")
