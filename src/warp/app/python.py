"""Which Python the app wants, and which interpreter of this host satisfies it.

``wanted_python`` reads the app's own files (and the ``python`` setting);
``find_interpreters`` lists the CPythons this host offers (warp's own, pyenv's
versions, pythonX.Y on PATH); ``choose_interpreter`` picks the one a new
environment is made from. ``warp detect`` reports these facts, ``warp project``
and ``warp build`` act on them and ``warp image`` picks its base image from
the wanted version: all through these functions.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any, List, Mapping, Optional, Sequence, Tuple
import json
import os
import re
import subprocess
import sys

from warp.core.errors import BuildError, UsageError
from warp.core.settings import SOURCE_DEFAULT, SOURCE_DETECTED
from warp.core.toml import load_toml

# A version as people write it: 3, 3.11, 3.11.7 (runtime.txt's "python-3.11.7" too).
_VERSION = re.compile(r"^\s*(?:python-?)?(\d+(?:\.\d+){0,2})\s*$", re.IGNORECASE)
_SPEC = re.compile(r"^\s*(~=|===|==|!=|<=|>=|<|>)?\s*(\d+(?:\.\d+)*)(\.\*)?\s*$")


@dataclass(frozen=True)
class Interpreter:
    version: Tuple[int, ...]  # (3, 11, 7)
    path: Path

    @property
    def version_text(self) -> str:
        return ".".join(str(part) for part in self.version)


def interpreter_version(executable: "str | os.PathLike[str]") -> Optional[Tuple[int, ...]]:
    """(major, minor, micro) of an interpreter, or None when it does not run."""
    try:
        out = subprocess.run(
            [str(executable), "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
            capture_output=True, text=True, timeout=20,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return tuple(int(part) for part in out.stdout.strip().split("."))


def _pyenv_root(environ: Mapping[str, str]) -> Path:
    return Path(environ.get("PYENV_ROOT") or Path.home() / ".pyenv")


def find_interpreters(environ: Optional[Mapping[str, str]] = None) -> List[Interpreter]:
    """Every CPython this host offers: warp's own, pyenv's versions, pythonX.Y on PATH.

    Ordered with warp's own interpreter first, then newest first; one entry per
    real executable.
    """
    environ = os.environ if environ is None else environ
    found: List[Interpreter] = []
    seen = set()

    def add(path: "str | os.PathLike[str]", version: Optional[Tuple[int, ...]] = None) -> None:
        try:
            real = os.path.realpath(path)
        except OSError:
            return
        if real in seen or not os.access(real, os.X_OK):
            return
        version = version or interpreter_version(path)
        if version:
            seen.add(real)
            found.append(Interpreter(version, Path(path)))

    add(getattr(sys, "_base_executable", None) or sys.executable, tuple(sys.version_info[:3]))
    versions_dir = _pyenv_root(environ) / "versions"
    if versions_dir.is_dir():
        for entry in sorted(versions_dir.iterdir()):
            match = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)", entry.name)
            exe = entry / "bin" / "python"
            if match and exe.exists():
                add(exe, tuple(int(part) for part in match.groups()))
    for folder in environ.get("PATH", "").split(os.pathsep):
        # pyenv's shims only forward to the versions above (or fail): skip them.
        if not folder or "shims" in Path(folder).parts:
            continue
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            continue
        for name in names:
            if re.fullmatch(r"python3(\.\d+)?", name):
                add(os.path.join(folder, name))
    head, rest = found[:1], sorted(found[1:], key=lambda i: i.version, reverse=True)
    return head + rest


def _parse_version(text: str) -> Tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def _clause_matches(version: Tuple[int, ...], op: Optional[str], wanted: Tuple[int, ...], wildcard: bool) -> bool:
    if op in (None, "") or (wildcard and op == "=="):
        # "3.11" or "==3.11.*": every 3.11.x.
        return version[: len(wanted)] == wanted
    if wildcard and op == "!=":
        return version[: len(wanted)] != wanted
    padded = wanted + (0,) * (3 - len(wanted))
    if op in ("==", "==="):
        return version[: len(wanted)] == wanted if len(wanted) < 3 else version == padded
    if op == "!=":
        return version[: len(wanted)] != wanted
    if op == ">=":
        return version >= padded
    if op == ">":
        return version > padded
    if op == "<=":
        return version <= padded
    if op == "<":
        return version < padded
    if op == "~=":
        # ~=3.9 means >=3.9, ==3.*; ~=3.9.1 means >=3.9.1, ==3.9.*
        prefix = wanted[:-1] or wanted
        return version >= padded and version[: len(prefix)] == prefix
    return False


def version_matches(version: Sequence[int], wanted: str) -> bool:
    """Does interpreter ``version`` satisfy ``wanted`` ("3.11", "python-3.11.7", ">=3.9,<3.13")?

    Raises ValueError for text that is neither a version nor a specifier.
    """
    plain = _VERSION.match(wanted)
    if plain:
        return _clause_matches(tuple(version), None, _parse_version(plain.group(1)), False)
    clauses = [part for part in wanted.split(",") if part.strip()]
    if not clauses:
        raise ValueError(f"not a Python version: {wanted!r}")
    for clause in clauses:
        match = _SPEC.match(clause)
        if not match:
            raise ValueError(f"not a Python version: {wanted!r}")
        op, number, wildcard = match.groups()
        if not _clause_matches(tuple(version), op, _parse_version(number), bool(wildcard)):
            return False
    return True


def choose_interpreter(wanted: Optional[str] = None, where: Optional[str] = None,
                       environ: Optional[Mapping[str, str]] = None,
                       interpreters: Optional[Sequence[Interpreter]] = None) -> Interpreter:
    """The host interpreter for an app that wants ``wanted`` (None: warp's own).

    ``where`` names what asked for the version (e.g. ".python-version") so the
    error can say it. Prefers warp's own interpreter when it fits, else the
    newest that fits.
    """
    interpreters = find_interpreters(environ) if interpreters is None else interpreters
    if not wanted:
        return interpreters[0]
    try:
        fitting = [i for i in interpreters if version_matches(i.version, str(wanted))]
    except ValueError as exc:
        raise UsageError(f"{where or 'python setting'}: {exc}", "write a version such as 3.11 or a specifier such as >=3.10") from None
    if fitting:
        return fitting[0]
    found = ", ".join(i.version_text for i in sorted(interpreters, key=lambda i: i.version)) or "none"
    source = f" ({where})" if where else ""
    raise BuildError(
        f"Python {wanted} wanted{source}, but this host has Python {found}",
        "install that version (e.g. `pyenv install`) or change the wanted version",
    )


@dataclass(frozen=True)
class WantedPython:
    version: Optional[str]  # a version ("3.11") or specifier (">=3.10,<4"), or None: any
    reason: str  # which setting or file asks for it


def wanted_python(project: Any) -> WantedPython:
    """The Python version the app asks for, and what asks: the ``python`` setting
    when the user set it, else .python-version, runtime.txt, pyproject.toml
    (requires-python, Poetry's python) or Pipfile.lock, first found."""
    root = project.root
    source = project.config.source("python")
    if project.config.python and source not in (SOURCE_DEFAULT, SOURCE_DETECTED):
        return WantedPython(str(project.config.python), f"setting python from {source}")
    path = root / ".python-version"
    if path.is_file():
        line = _first_line(path)
        if line:
            return WantedPython(re.sub(r"^(python|cpython)-?", "", line), f".python-version says {line}")
    path = root / "runtime.txt"
    if path.is_file():
        line = _first_line(path)
        if line:
            return WantedPython(re.sub(r"^python-", "", line), f"runtime.txt says {line}")
    path = root / "pyproject.toml"
    if path.is_file():
        data = load_toml(path)
        spec = data.get("project", {}).get("requires-python")
        if spec:
            return WantedPython(spec, f"pyproject.toml requires-python = {spec!r}")
        spec = data.get("tool", {}).get("poetry", {}).get("dependencies", {}).get("python")
        if isinstance(spec, str):
            return WantedPython(poetry_python(spec), f"pyproject.toml [tool.poetry.dependencies] python = {spec!r}")
    path = root / "Pipfile.lock"
    if path.is_file():
        try:
            requires = json.loads(path.read_text(encoding="utf-8")).get("_meta", {}).get("requires", {})
        except ValueError:
            requires = {}
        spec = requires.get("python_full_version") or requires.get("python_version")
        if spec:
            return WantedPython(spec, f"Pipfile.lock requires python {spec}")
    return WantedPython(None, "nothing asks for a version (.python-version, runtime.txt, requires-python); warp's own Python is used")


def _first_line(path: Path) -> Optional[str]:
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            return line
    return None


def poetry_python(spec: str) -> str:
    """Poetry's ^/~ constraints as the specifiers pip and warp read (^3.10 -> >=3.10,<4)."""
    def one(clause: str) -> str:
        clause = clause.strip()
        match = re.fullmatch(r"([\^~])\s*(\d+)(?:\.(\d+))?(?:\.(\d+))?", clause)
        if not match:
            return clause
        op, major, minor = match.group(1), int(match.group(2)), match.group(3)
        low = ".".join(part for part in match.groups()[1:] if part is not None)
        if op == "^" or minor is None:
            return f">={low},<{major + 1}"
        return f">={low},<{major}.{int(minor) + 1}"

    return ",".join(one(clause) for clause in spec.split(","))
