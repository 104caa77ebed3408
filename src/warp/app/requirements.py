"""Requirement names and requirements files, read as pip reads them.

Two facts every layer asks about an app's dependencies are answered here and
nowhere else:

- a distribution's name as an index compares it (PEP 503: ``Flask_Cors`` and
  ``flask.cors`` are both ``flask-cors``): ``canonical_name``, and the name at
  the start of a requirement string: ``requirement_name``;
- which files a requirements file pulls in with ``-r``/``-c`` (recursively,
  relative to the including file): ``read_requirements``, used by detection
  (the app's declared names), the build's inputs and the image's early
  dependency layer.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Tuple
import os
import re

# PEP 508's name: letters and digits, with . _ - inside.
_NAME = re.compile(r"\s*([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)")
# pip's option parser takes "-rfile", "-r file", "--requirement=file" and "--requirement file".
_INCLUDE = re.compile(r"^(?:(-r|-c)\s*|(--requirement|--constraint)(?:\s*=\s*|\s+))(\S+)")
# pip drops a comment only at the line's start or after whitespace (a URL's #fragment stays).
_COMMENT = re.compile(r"(^|\s+)#.*$")


def canonical_name(name: str) -> str:
    """A distribution name as PEP 503 compares them: runs of -_. become one -, lowercase."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(text: str) -> Optional[str]:
    """The canonical distribution name a requirement string starts with ("Flask>=2; ..." -> "flask"), or None."""
    match = _NAME.match(text)
    return canonical_name(match.group(1)) if match else None


@dataclass(frozen=True)
class RequirementsFile:
    path: Path  # as reached: the including file's folder joined with the include's text
    constraint: bool  # reached through -c/--constraint (constrains, declares nothing)
    exists: bool
    lines: Tuple[str, ...] = ()  # logical lines, comments and include lines removed


def logical_lines(text: str) -> List[str]:
    """The lines pip reads: a trailing backslash joins the next line, comments go, blank lines go."""
    joined, pending = [], ""
    for raw in text.splitlines():
        if raw.endswith("\\"):
            pending += raw[:-1]
            continue
        joined.append(pending + raw)
        pending = ""
    if pending:
        joined.append(pending)
    lines = []
    for line in joined:
        line = _COMMENT.sub("", line).strip()
        if line:
            lines.append(line)
    return lines


def read_requirements(top: "str | os.PathLike[str]") -> List[RequirementsFile]:
    """``top`` and every file it includes with -r/-c, recursively, each once, in the order pip meets them.

    A file that is missing is listed with ``exists=False`` and not followed, so
    each caller decides whether that is an error.
    """
    found: List[RequirementsFile] = []
    seen = set()

    def visit(path: Path, constraint: bool) -> None:
        key = os.path.realpath(path)
        if key in seen:
            return
        seen.add(key)
        if not path.is_file():
            found.append(RequirementsFile(path, constraint, False))
            return
        text = path.read_text(encoding="utf-8", errors="replace")
        lines, includes = [], []
        for line in logical_lines(text):
            include = _INCLUDE.match(line)
            if include:
                includes.append((path.parent / include.group(3), constraint or (include.group(1) or include.group(2)) in ("-c", "--constraint")))
            else:
                lines.append(line)
        found.append(RequirementsFile(path, constraint, True, tuple(lines)))
        for child, child_constraint in includes:
            visit(child, child_constraint)

    visit(Path(top), False)
    return found


def requirement_files(top: "str | os.PathLike[str]") -> List[Path]:
    """The files of ``read_requirements(top)`` that exist: what a change to would change the install."""
    return [entry.path for entry in read_requirements(top) if entry.exists]
