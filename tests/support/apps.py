"""Make application folders for tests."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path
from typing import Mapping

from support.paths import APPS


def write(root: Path, files: Mapping[str, str], dedent: bool = True) -> Path:
    """Write ``files`` (relative name -> text) under ``root``; returns ``root``.

    Texts are dedented and stripped of leading blank lines so they can be written
    indented in the test; ``dedent=False`` writes them byte for byte.
    """
    root = Path(root)
    for name, text in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(text).lstrip() if dedent else text)
    return root


def copy_apps(dest: Path) -> Path:
    """A private app folder holding copies of tests/apps (tests may edit them)."""
    dest.mkdir(parents=True, exist_ok=True)
    for app in APPS.glob("*.py"):
        shutil.copy(app, dest / app.name)
    return dest
