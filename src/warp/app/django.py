"""Which Django settings module the app uses: the one finder for detection,
the entry point, collectstatic and the static-file map.

Django itself reads ``DJANGO_SETTINGS_MODULE`` from the environment, and a
project's ``manage.py`` (like its ``wsgi.py``) only sets a default with
``os.environ.setdefault``; so the environment wins, then ``manage.py``, then
(for an app that declares Django but has no ``manage.py``) the ``settings.py``
that defines ``INSTALLED_APPS``.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Optional
import os
import re

# The folder ``warp build`` collects static files into when the settings set no STATIC_ROOT.
DEFAULT_STATIC_ROOT = "staticfiles"

# manage.py's os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
_IN_MANAGE = re.compile(r"""["']DJANGO_SETTINGS_MODULE["']\s*,\s*["']([\w.]+)["']""")


@dataclass(frozen=True)
class DjangoSettings:
    module: Optional[str]  # dotted name, or None when none was found
    reason: str  # where it comes from, or why there is none
    source: Optional[str] = None  # "environment", "manage.py" or "settings.py"


def _read(path: Path, limit: int = 256 * 1024) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read(limit)
    except OSError:
        return ""


def manage_settings(root: "str | os.PathLike[str]") -> Optional[str]:
    """The settings module the app's ``manage.py`` names, or None (no manage.py, or it names none)."""
    match = _IN_MANAGE.search(_read(Path(root) / "manage.py"))
    return match.group(1) if match else None


def find_settings(root: "str | os.PathLike[str]", environ: Optional[Mapping[str, str]] = None,
                  files: Iterable["str | os.PathLike[str]"] = ()) -> DjangoSettings:
    """The settings module of the Django app in ``root``.

    ``environ`` is the app's environment (its DJANGO_SETTINGS_MODULE wins, as
    in Django); ``files`` are the app's .py files to search for a
    ``settings.py`` defining INSTALLED_APPS when manage.py names nothing.
    """
    root = Path(root)
    value = (environ or {}).get("DJANGO_SETTINGS_MODULE")
    if value:
        return DjangoSettings(value, "from the environment", "environment")
    module = manage_settings(root)
    if module:
        return DjangoSettings(module, "from manage.py", "manage.py")
    for path in files:
        path = Path(path)
        if path.name == "settings.py" and "INSTALLED_APPS" in _read(path):
            relative = path.relative_to(root)
            return DjangoSettings(".".join(relative.with_suffix("").parts), f"{relative} defines INSTALLED_APPS", "settings.py")
    return DjangoSettings(None, "no DJANGO_SETTINGS_MODULE, no manage.py naming one, no settings.py with INSTALLED_APPS")
