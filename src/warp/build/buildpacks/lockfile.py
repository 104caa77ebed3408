"""Hashed requirements files made from lock files, installed without the tool that wrote them.

A lock names exact versions and the sha256 of every file it allows. warp
writes that as a requirements file (``name==version ; markers --hash=...``)
and installs it with ``--require-hashes``, so pip (or uv) refuses any file
whose hash the lock does not list. Entries that cannot carry a hash (a Git
checkout, a local folder) go to a second file installed with ``--no-deps``
after the hashed ones, as the lock already resolved their dependencies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Optional
import tempfile

from warp.app.package_manager import PROJECT_FILES
from warp.app.requirements import canonical_name
from warp.build import installer
from warp.build.buildpacks import App, Buildpack, Recognition, applies, does_not_apply
from warp.core.toml import load_toml


class TomlLockBuildpack(Buildpack):
    """A package manager recognised by one TOML lock file whose ``[[package]]`` entries
    name every dependency (poetry.lock, uv.lock): recognition and declared names are
    the same for each, only ``lock`` and the build differ."""

    lock = ""

    def detect(self, app: App) -> Recognition:
        if not app.present(self.lock):
            return does_not_apply(f"no {self.lock}", (self.lock,))
        return applies(f"{self.lock} names the dependencies", (self.lock,), app.present(*PROJECT_FILES))

    def declared_names(self, app: App, recognition: Recognition) -> set[str]:
        data = load_toml(app.root / self.lock)
        return {canonical_name(package.get("name", "")) for package in data.get("package", [])} - {""}

@dataclass
class Requirements:
    hashed: list[str] = field(default_factory=list)  # "name==1.0 ; marker --hash=sha256:..."
    unhashed: list[str] = field(default_factory=list)  # "name @ git+https://...", "-e ./lib"
    indexes: list[str] = field(default_factory=list)  # extra index URLs the lock names

    def names(self) -> list[str]:
        return [line.split("==", 1)[0].split(" ", 1)[0] for line in self.hashed + self.unhashed]


def split_exported(text: str, root: Path) -> Requirements:
    """Requirements from an exported, hashed requirements file (``uv export``): each entry with
    its hashes goes to the hashed part; an editable or local-path entry (a workspace member, a
    path dependency), which has no single file to hash, to the unhashed part, its relative path
    made absolute against ``root`` (pip reads it from a temporary file elsewhere)."""
    result = Requirements()
    block: list[str] = []

    def flush() -> None:
        if not block:
            return
        entry = "\n".join(block)
        first = block[0].strip()
        if "--hash=" in entry:
            result.hashed.append(entry)
        else:
            editable = first.startswith(("-e ", "--editable "))
            target = first.split(None, 1)[1].strip() if editable else first
            target = target.split(" \\", 1)[0].strip()
            if target.startswith(("./", "../")) or target in (".", ".."):
                target = str((root / target).resolve())
            result.unhashed.append(("-e " if editable else "") + target)
        block.clear()

    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if line[:1].isspace() and block:
            block.append(line)  # a continuation: --hash=... lines
            continue
        flush()
        block.append(line)
    flush()
    return result


def requirement_line(name: str, version: str, hashes: Iterable[str], marker: Optional[str] = None,
                     extras: Iterable[str] = ()) -> str:
    extra = f"[{','.join(sorted(extras))}]" if extras else ""
    line = f"{name}{extra}=={version}"
    if marker:
        line += f" ; {marker}"
    return line + "".join(f" \\\n    --hash={h}" for h in sorted(hashes))


def install(ctx: Any, requirements: Requirements, what: str) -> None:
    """Install ``requirements`` into the app environment; hashes are required for the hashed part."""
    with tempfile.TemporaryDirectory(prefix="warp-lock-") as tmp:
        args = []
        for url in requirements.indexes:
            args += ["--extra-index-url", url]
        if requirements.hashed:
            path = Path(tmp) / "locked.txt"
            path.write_text("\n".join(requirements.hashed) + "\n", encoding="utf-8")
            installer.install(ctx, ["--require-hashes", "--no-deps", "-r", str(path), *args], what=what)
        if requirements.unhashed:
            path = Path(tmp) / "unhashed.txt"
            path.write_text("\n".join(requirements.unhashed) + "\n", encoding="utf-8")
            installer.install(ctx, ["--no-deps", "-r", str(path), *args], what=what)
