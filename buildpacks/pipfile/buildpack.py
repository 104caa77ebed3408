"""Pipfile.lock: its default packages (and develop with lock_groups: dev), hashes required, no pipenv."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional
import hashlib
import json

from warp.app.package_manager import PROJECT_FILES
from warp.app.requirements import canonical_name as canonical
from warp.build.buildpacks import App, BuildContext, Buildpack, Recognition, applies, does_not_apply
import warp.build.buildpacks.lockfile as lockfile
from warp.core.toml import load_toml
from warp.core.errors import BuildError

LOCK = "Pipfile.lock"

# Pipfile sections pipenv leaves out of the hash, or renames into it.
_NOT_CATEGORIES = {"source", "requires", "packages", "dev-packages", "scripts", "pipfile", "pipenv", "default", "develop"}


def _entry_line(name, entry, root):
    """(hashed?, requirement line) for one Pipfile.lock entry."""
    extras = entry.get("extras") or ()
    marker = entry.get("markers")
    extra = f"[{','.join(extras)}]" if extras else ""
    suffix = f" ; {marker}" if marker else ""
    for vcs in ("git", "hg", "svn", "bzr"):
        if vcs in entry:
            ref = entry.get("ref")
            url = f"{vcs}+{entry[vcs]}" + (f"@{ref}" if ref else "")
            return False, f"{name}{extra} @ {url}{suffix}"
    if "path" in entry:
        path = str((root / entry["path"]).resolve())
        return False, (f"-e {path}" if entry.get("editable") else f"{path}")
    if "file" in entry:
        return False, f"{name}{extra} @ {entry['file']}{suffix}"
    version = entry.get("version", "")
    if not version.startswith("=="):
        raise BuildError(f"Pipfile.lock: {name} has no exact version ({version or 'none'})", "run `pipenv lock` again")
    hashes = entry.get("hashes") or []
    if not hashes:
        raise BuildError(f"Pipfile.lock: {name} has no hashes", "run `pipenv lock` again so every package is hashed")
    return True, lockfile.requirement_line(name, version[2:], hashes, marker, extras)


def requirements(path: Path, groups: tuple[str, ...] | list[str] = ()) -> lockfile.Requirements:
    """lockfile.Requirements for a Pipfile.lock: ``default``, plus ``develop`` when "dev" is in groups."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise BuildError(f"{path}: cannot read: {exc}", "make Pipfile.lock a readable file") from None
    except json.JSONDecodeError as exc:
        raise BuildError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}", "run `pipenv lock` again") from None
    sections = ["default"] + (["develop"] if "dev" in groups or "develop" in groups else [])
    result = lockfile.Requirements()
    seen = set()
    for section in sections:
        for name, entry in (data.get(section) or {}).items():
            if name in seen:
                continue
            seen.add(name)
            hashed, line = _entry_line(name, entry, path.parent)
            (result.hashed if hashed else result.unhashed).append(line)
    # The source pipenv names "pypi" is the default index: where that is (a
    # mirror, a proxy) is the host's pip configuration's business, not the
    # lock's. Other sources are added as extra indexes; hashes pin the files.
    for source in data.get("_meta", {}).get("sources", []):
        url = source.get("url", "")
        if url and str(source.get("name", "")).lower() != "pypi":
            result.indexes.append(url)
    return result


def pipfile_hash(path: Path) -> Optional[str]:
    """The sha256 pipenv records in Pipfile.lock's _meta for the Pipfile at ``path``.

    None when the Pipfile names no [[source]]: pipenv then hashes a default
    source warp would have to guess.
    """
    data = load_toml(path, error=BuildError)
    if not data.get("source"):
        return None
    content = {
        "_meta": {"sources": data["source"], "requires": data.get("requires", {})},
        "default": data.get("packages", {}),
        "develop": data.get("dev-packages", {}),
    }
    for category, values in data.items():
        if category not in _NOT_CATEGORIES:
            content[category] = values
    text = json.dumps(content, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def check_current(root: Path) -> None:
    """BuildError when Pipfile changed since Pipfile.lock was made (as `pipenv install --deploy` refuses)."""
    pipfile, lock = root / "Pipfile", root / "Pipfile.lock"
    if not pipfile.is_file():
        return
    try:
        recorded = json.loads(lock.read_text(encoding="utf-8")).get("_meta", {}).get("hash", {}).get("sha256")
    except (OSError, ValueError):
        return  # requirements() reports an unreadable lock with its line
    expected = pipfile_hash(pipfile)
    if recorded and expected and recorded != expected:
        raise BuildError(f"{lock}: out of date with Pipfile (Pipfile changed since the lock was made)",
                         "run `pipenv lock` and commit Pipfile.lock")


class Pipfile(Buildpack):
    order = 20

    def detect(self, app: App) -> Recognition:
        if app.present(LOCK):
            # The Pipfile, and a package the Pipfile installs ("-e ."), are the lock's project.
            return applies(f"{LOCK} names the dependencies", (LOCK,), app.present("Pipfile", *PROJECT_FILES))
        if app.present("Pipfile"):
            return does_not_apply(f"Pipfile has no {LOCK} beside it; warp installs the lock file, not the Pipfile",
                                  (LOCK, "Pipfile"), hint=f"run `pipenv lock` and commit {LOCK}")
        return does_not_apply(f"no {LOCK}", (LOCK,))

    def declared_names(self, app: App, recognition: Recognition) -> set[str]:
        try:
            data = json.loads((app.root / LOCK).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return set()  # the build reports an unreadable lock with its line
        return {canonical(name) for name in (data.get("default") or {})}

    def build(self, ctx: BuildContext) -> dict[str, Any]:
        path = ctx.project.root / LOCK
        check_current(ctx.project.root)
        reqs = requirements(path, ctx.project.config.lock_groups)
        ctx.say(f"installing {LOCK} ({len(reqs.hashed) + len(reqs.unhashed)} packages, hashes required) with {ctx.installer}")
        lockfile.install(ctx, reqs, LOCK)
        return {"installed_from": [LOCK], "packages": reqs.names()}


buildpack = Pipfile()
