"""The application's source tree: which files are the app's own, and their metadata.

One rule for everything that asks "did the app's source change?" — the reloader of
``warp start --reload`` and the build's fingerprint — and for what an image's
build context leaves out by default (``NOT_SOURCE``).

Left out: version-control folders, warp's own state (``.warp/``), virtualenvs
(any folder holding a ``pyvenv.cfg``), caches (``__pycache__``, tool caches,
``node_modules``), compiled files, and what the app's ``.gitignore`` and
``.dockerignore`` (top-level files) exclude. Those two are read in the simple,
common subset of their syntax: ``#`` comments, ``!`` re-includes (last match
wins), a trailing ``/`` for folders only, a leading ``/`` or an inner ``/`` anchors
a pattern at the app's top, ``*``, ``?``, ``[...]`` and ``**``.
"""

from __future__ import annotations

import fnmatch
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Pattern, Sequence, Tuple, Union

PathLike = Union[str, "os.PathLike[str]"]

# Never the app's source, whatever its ignore files say (docker's pattern syntax,
# which the image's build context reads as .dockerignore lines before the app's own).
NOT_SOURCE = (
    ".git", ".hg", ".svn", ".bzr",
    ".warp/venv", ".warp/envs", ".warp/run", ".warp/build.json", ".warp/build.lock", ".warp/tree.json",
    ".venv", "**/__pycache__", "**/*.py[co]", "**/.DS_Store",
    ".tox", ".nox", ".pytest_cache", ".mypy_cache", ".ruff_cache",
    "**/*.egg-info",
)
# Folder names skipped wherever they appear in the walk (the same facts as
# NOT_SOURCE, plus warp's whole state folder and node_modules, which only tools fill).
SKIPPED_FOLDERS = frozenset({".git", ".hg", ".svn", ".bzr", ".warp", "__pycache__", ".tox", ".nox",
                             ".pytest_cache", ".mypy_cache", ".ruff_cache", "node_modules", ".venv"})
SKIPPED_SUFFIXES = (".pyc", ".pyo")
IGNORE_FILES = (".gitignore", ".dockerignore")


@dataclass(frozen=True)
class Rule:
    pattern: Pattern[str]
    negated: bool
    folders_only: bool


def _translate(glob: str) -> str:
    """A gitignore-style glob as a regular expression over POSIX relative paths."""
    out = ""
    i = 0
    while i < len(glob):
        if glob.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
        elif glob.startswith("**", i):
            out += ".*"
            i += 2
        elif glob[i] == "*":
            out += "[^/]*"
            i += 1
        elif glob[i] == "?":
            out += "[^/]"
            i += 1
        elif glob[i] == "[":
            end = glob.find("]", i + 1)
            if end == -1:
                out += re.escape(glob[i])
                i += 1
            else:
                out += fnmatch.translate(glob[i:end + 1])[4:-3]  # the class alone
                i = end + 1
        else:
            out += re.escape(glob[i])
            i += 1
    return out


def parse_rules(lines: Sequence[str]) -> List[Rule]:
    rules = []
    for raw in lines:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        line = line[1:] if negated else line
        folders_only = line.endswith("/")
        line = line.rstrip("/") if folders_only else line
        # Anchored by a leading or inner slash (checked before the leading one is dropped: /build/ is top-level only).
        anchored = line.startswith("/") or "/" in line
        line = line.lstrip("/")
        if not line:
            continue
        body = _translate(line)
        # Unanchored: matches at any depth. Either way, a matching folder covers what is in it.
        regex = ("" if anchored else "(?:.*/)?") + body + "(?:/.*)?"
        rules.append(Rule(re.compile(regex + r"\Z"), negated, folders_only))
    return rules


def read_rules(root: PathLike) -> List[Rule]:
    lines: List[str] = []
    for name in IGNORE_FILES:
        path = Path(root) / name
        try:
            lines += path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue
    return parse_rules(lines)


def ignored(relative: str, is_folder: bool, rules: Sequence[Rule]) -> bool:
    """Does the last matching rule exclude ``relative`` (a POSIX path under the app)?"""
    verdict = False
    for rule in rules:
        # A folder rule reaches files only through their folder, which the walk
        # never enters once the folder is excluded.
        if rule.folders_only and not is_folder:
            continue
        if rule.pattern.match(relative):
            verdict = not rule.negated
    return verdict


def _walk(root: PathLike, extra_excludes: Sequence[str]) -> Iterator[Tuple[str, os.stat_result, bool]]:
    """(relative POSIX path, lstat, is a folder) of everything that is source, folders first."""
    top = os.path.abspath(root)
    rules = read_rules(top) + parse_rules(extra_excludes)
    pending = [""]
    while pending:
        folder = pending.pop()
        try:
            with os.scandir(os.path.join(top, folder) if folder else top) as entries:
                listed = sorted(entries, key=lambda e: e.name)
        except OSError:
            continue  # vanished or unreadable: not ours to read
        for entry in listed:
            relative = f"{folder}/{entry.name}" if folder else entry.name
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISDIR(info.st_mode):
                if entry.name in SKIPPED_FOLDERS or os.path.exists(os.path.join(entry.path, "pyvenv.cfg")):
                    continue
                if rules and ignored(relative, True, rules):
                    continue
                pending.append(relative)
                yield relative, info, True
            elif not entry.name.endswith(SKIPPED_SUFFIXES):
                if rules and ignored(relative, False, rules):
                    continue
                yield relative, info, False


def source_files(root: PathLike, extra_excludes: Sequence[str] = ()) -> Iterator[Tuple[str, os.stat_result]]:
    """(relative POSIX path, lstat) of every source file of the app under ``root``."""
    return ((path, info) for path, info, folder in _walk(root, extra_excludes) if not folder)


def source_folders(root: PathLike, extra_excludes: Sequence[str] = ()) -> List[str]:
    """Relative paths of the folders holding source ("" for the app's top), for watching."""
    return [""] + [path for path, _, folder in _walk(root, extra_excludes) if folder]


Snapshot = Dict[str, Tuple[int, int, int, int]]


def snapshot(root: PathLike, extra_excludes: Sequence[str] = ()) -> Snapshot:
    """Each source file's (mtime_ns, size, inode, mode): what git's index compares first."""
    return {path: (info.st_mtime_ns, info.st_size, info.st_ino, info.st_mode)
            for path, info in source_files(root, extra_excludes)}


def changes(before: Snapshot, after: Snapshot) -> List[str]:
    """Paths added, removed or whose metadata differs, sorted."""
    return sorted(path for path in set(before) | set(after) if before.get(path) != after.get(path))


def matching(root: PathLike, globs: Sequence[str]) -> Snapshot:
    """Metadata of the files matching ``globs`` (relative to ``root``), wherever they are."""
    top = Path(root)
    found: Snapshot = {}
    for glob in globs:
        for path in top.glob(glob):
            try:
                info = path.lstat()
            except OSError:
                continue
            if stat.S_ISREG(info.st_mode):
                found[path.relative_to(top).as_posix()] = (info.st_mtime_ns, info.st_size, info.st_ino,
                                                          info.st_mode)
    return found
