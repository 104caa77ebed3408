"""Where warp's data folders are: buildpacks/, hooks/, Dockerfile.template.

They live at the top of the repository and ship inside the wheel as
``warp/_data/...`` (see pyproject.toml). An installed warp finds them there; an
editable install or a source checkout finds them at the repository's top.
"""

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def data_path(name):
    """Path of warp's data file or folder ``name`` (e.g. "buildpacks")."""
    installed = _PACKAGE / "_data" / name
    if installed.exists():
        return installed
    checkout = _PACKAGE.parent.parent / name  # src/warp -> repository top
    if checkout.exists():
        return checkout
    raise FileNotFoundError(f"warp's {name} is missing from {installed} and {checkout}; reinstall warp")
