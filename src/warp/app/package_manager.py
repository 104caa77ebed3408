"""The app's dependencies as the rest of warp sees them, and the helpers buildpacks read them with.

Which dependency file an app installs from is not decided here: each
package-manager buildpack recognises its own files, and
``warp.build.recognise`` turns their answers into exactly one ``Choice`` or an
error naming the files and the ``package_manager`` setting (no hidden
precedence). This module holds what that choice is, and the readers of
requirement names that both the buildpacks and the framework detection use.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional, Union
import configparser
import re

from warp.app.requirements import canonical_name, requirement_name
from warp.core.toml import load_toml


@dataclass(frozen=True)
class Choice:
    """The package manager an app's dependencies are installed with (its buildpack's name), and why."""

    name: Optional[str]  # None when the app declares no dependencies
    files: tuple[str, ...]  # the files it installs from, relative to the app
    reason: str
    names: frozenset[str] = frozenset()  # canonical names of the distributions the app declares
    installer: Optional[str] = None  # the installer its files want when the installer setting is auto


# Files that make the app a package. Next to a lock or requirements file they
# are read by that file's buildpack (a lock's project, "-e ." in requirements),
# so the buildpacks that install a package yield to it instead of competing.
PROJECT_FILES = ("pyproject.toml", "setup.py", "setup.cfg")

def requirement_names(lines: Iterable[str]) -> set[str]:
    """Canonical names of the requirement lines among ``lines`` (options, paths and URLs name nothing)."""
    names: set[str] = set()
    for line in lines:
        line = line.strip()
        if not line or line.startswith(("#", "-", ".", "/")) or re.match(r"[A-Za-z][A-Za-z0-9+.-]*://", line):
            continue
        name = requirement_name(line)
        if name:
            names.add(name)
    return names


def project_names(root: Union[str, Path]) -> set[str]:
    """Names the app's project files declare (pyproject.toml, setup.cfg, setup.py), whatever installs it."""
    root = Path(root)
    names: set[str] = set()
    if (root / "pyproject.toml").is_file():
        data = load_toml(root / "pyproject.toml")
        names |= requirement_names(data.get("project", {}).get("dependencies", []))
        names |= {canonical_name(n) for n in data.get("tool", {}).get("poetry", {}).get("dependencies", {})}
    if (root / "setup.cfg").is_file():
        parser = configparser.ConfigParser()
        try:
            parser.read(root / "setup.cfg", encoding="utf-8")
            names |= requirement_names(parser.get("options", "install_requires", fallback="").splitlines())
        except configparser.Error:
            pass
    if (root / "setup.py").is_file():
        text = (root / "setup.py").read_text(encoding="utf-8", errors="replace")
        match = re.search(r"install_requires\s*=\s*\[(.*?)\]", text, re.S)
        if match:
            names |= requirement_names(re.findall(r"[\"']([^\"']+)[\"']", match.group(1)))
    names.discard("python")
    names.discard("")
    return names
