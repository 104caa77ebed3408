"""poetry.lock: the main group (plus lock_groups and extras), hashes and markers kept, no Poetry.

Lock format 2.1 (Poetry 2) records each package's groups and markers, so the
selection is read straight from the lock. Older locks (1.x, 2.0) do not, so
warp walks the dependency graph from the project's declared dependencies
(pyproject.toml), carrying each edge's markers and extras along, as Poetry's
own export does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Iterable, List, Sequence, Set, Tuple
import re

from warp.app.requirements import canonical_name as canonical
import warp.build.installer as installer
from warp.build.buildpacks import BuildContext
import warp.build.buildpacks.lockfile as lockfile
from warp.core.toml import load_toml
from warp.core.errors import BuildError

MAIN = "main"
LOCK = "poetry.lock"


def _and(*markers):
    parts = [m for m in markers if m]
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    return " and ".join(f"({m})" for m in parts)


def _or(markers):
    """One marker for a package reached along several paths; None when any path has none."""
    if any(m is None for m in markers):
        return None
    unique = sorted(set(markers))
    return unique[0] if len(unique) == 1 else " or ".join(f"({m})" for m in unique)


def _dependency_spec(spec):
    """(markers, extras, optional) of one dependency entry in the lock or pyproject."""
    if isinstance(spec, list):  # several constraints for different markers
        markers = [_dependency_spec(s)[0] for s in spec]
        extras = sorted({e for s in spec for e in _dependency_spec(s)[1]})
        return _or(markers), extras, all(_dependency_spec(s)[2] for s in spec)
    if isinstance(spec, dict):
        marker = spec.get("markers")
        python = spec.get("python")
        if python and not marker:
            marker = _python_marker(python)
        return marker, list(spec.get("extras", [])), bool(spec.get("optional", False))
    return None, [], False


def _python_marker(constraint):
    clauses = []
    for part in constraint.split(","):
        part = part.strip()
        match = re.fullmatch(r"(\^|~|>=|<=|>|<|==|!=)?\s*([\d.]+)", part)
        if not match:
            return None
        op, version = match.group(1) or "==", match.group(2)
        if op in ("^", "~"):
            major, *rest = version.split(".")
            upper = f"{int(major) + 1}" if op == "^" else f"{major}.{int(rest[0]) + 1}" if rest else f"{int(major) + 1}"
            clauses += [f'python_version >= "{version}"', f'python_version < "{upper}"']
        else:
            clauses.append(f'python_version {op} "{version}"')
    return " and ".join(clauses)


def _root_dependencies(pyproject, groups, extras):
    """{canonical name: (marker, extras)} the project itself asks for in the chosen groups."""
    roots = {}
    project = pyproject.get("project", {})
    for line in project.get("dependencies", []):
        match = re.match(r"\s*([A-Za-z0-9][\w.-]*)\s*(\[[^\]]*\])?[^;]*(?:;\s*(.*))?", line)
        if match:
            marker = match.group(3)
            if marker and "extra" in marker:
                continue
            wanted = [e.strip() for e in (match.group(2) or "[]")[1:-1].split(",") if e.strip()]
            roots[canonical(match.group(1))] = (marker, wanted)
    for extra in extras:
        for line in project.get("optional-dependencies", {}).get(extra, []):
            match = re.match(r"\s*([A-Za-z0-9][\w.-]*)\s*(\[[^\]]*\])?", line)
            if match:
                roots[canonical(match.group(1))] = (None, [e.strip() for e in (match.group(2) or "[]")[1:-1].split(",") if e.strip()])
    poetry = pyproject.get("tool", {}).get("poetry", {})
    tables = [poetry.get("dependencies", {})]
    for group in groups:
        tables.append(poetry.get("group", {}).get(group, {}).get("dependencies", {}))
        if group == "dev":
            tables.append(poetry.get("dev-dependencies", {}))
    extra_names = {canonical(n) for extra in extras for n in poetry.get("extras", {}).get(extra, [])}
    for table in tables:
        for name, spec in table.items():
            if canonical(name) == "python":
                continue
            marker, wanted, optional = _dependency_spec(spec)
            if optional and canonical(name) not in extra_names:
                continue
            roots[canonical(name)] = (marker, wanted)
    return roots


def _extra_names(package: Dict[str, Any], wanted: Iterable[str]) -> List[str]:
    """The names the wanted extras of a locked package ask for."""
    found = []
    for extra in wanted:
        for requirement in package.get("extras", {}).get(extra, []):
            match = re.match(r"\s*([\w.-]+)", requirement)
            if match:
                found.append(match.group(1))
    return found


def _select_by_walk(packages, pyproject, groups, extras):
    """{canonical name: marker} reached from the project's dependencies (locks before 2.1)."""
    by_name = {canonical(p["name"]): p for p in packages}
    reached: Dict[str, Set[Tuple[Any, Tuple[str, ...]]]] = {}  # name -> (path marker, extras) seen; marker None = unconditional
    queue = [(name, marker, wanted) for name, (marker, wanted) in _root_dependencies(pyproject, groups, extras).items()]
    while queue:
        name, marker, wanted = queue.pop()
        package = by_name.get(name)
        if package is None:
            continue
        markers = reached.setdefault(name, set())
        key = (marker, tuple(sorted(wanted)))
        if key in markers:
            continue
        markers.add(key)
        edges = dict(package.get("dependencies", {}))
        for extra in wanted:
            for requirement in package.get("extras", {}).get(extra, []):
                dep = re.match(r"\s*([A-Za-z0-9][\w.-]*)", requirement)
                if dep:
                    edges.setdefault(dep.group(1), "*")
        for dep_name, spec in edges.items():
            dep_marker, dep_extras, optional = _dependency_spec(spec)
            if optional and dep_name not in _extra_names(package, wanted):
                continue
            queue.append((canonical(dep_name), _and(marker, dep_marker), dep_extras))
    return {name: _or([m for m, _ in keys]) for name, keys in reached.items()}


def _resolve_extras(marker, extras):
    """``marker`` with each ``extra == "name"`` decided: true for the chosen extras, false for others.

    pip evaluates ``extra`` as empty in a requirements file, so an optional
    package's marker must be settled here. Returns (applies, marker).
    """
    if not marker or "extra" not in marker:
        return True, marker
    decided = re.sub(r"""extra\s*==\s*["']([^"']+)["']""",
                     lambda m: 'python_version >= "0"' if m.group(1) in extras else 'python_version < "0"', marker)
    if decided == 'python_version < "0"':
        return False, None
    if decided == 'python_version >= "0"':
        return True, None
    return True, decided


def _select_by_groups(packages, groups, extras):
    """{canonical name: marker} from a 2.1 lock's per-package groups and markers."""
    chosen = {}
    wanted_groups = [MAIN, *groups]
    for package in packages:
        in_groups = [g for g in package.get("groups", [MAIN]) if g in wanted_groups]
        if not in_groups:
            continue
        markers = package.get("markers")
        marker = _or([markers.get(g) for g in in_groups]) if isinstance(markers, dict) else markers
        if package.get("optional") and not any(
                re.search(rf"""extra\s*==\s*["']{re.escape(extra)}["']""", marker or "") for extra in extras):
            continue  # optional, and none of the extras that bring it was asked for
        applies, marker = _resolve_extras(marker, extras)
        if not applies:
            continue
        chosen[canonical(package["name"])] = marker
    return chosen


def requirements(root: Path, groups: Sequence[str] = (), extras: Sequence[str] = ()) -> lockfile.Requirements:
    """lockfile.Requirements for the poetry.lock in ``root``."""
    lock = load_toml(root / "poetry.lock", error=BuildError)
    pyproject = load_toml(root / "pyproject.toml", error=BuildError) if (root / "pyproject.toml").is_file() else {}
    packages = lock.get("package", [])
    version = str(lock.get("metadata", {}).get("lock-version", "1.0"))
    if tuple(int(p) for p in version.split(".")[:2]) >= (2, 1):
        chosen = _select_by_groups(packages, groups, extras)
    else:
        if not pyproject:
            raise BuildError(f"{root / 'poetry.lock'}: lock version {version} needs pyproject.toml beside it to know the main group",
                             "commit pyproject.toml with poetry.lock")
        chosen = _select_by_walk(packages, pyproject, groups, extras)
    result = lockfile.Requirements()
    for package in packages:
        name = canonical(package["name"])
        if name not in chosen:
            continue
        marker = chosen[name]
        source = package.get("source", {})
        kind = source.get("type")
        if kind in ("git",):
            ref = source.get("resolved_reference") or source.get("reference")
            result.unhashed.append(f"{package['name']} @ git+{source['url']}@{ref}" + (f" ; {marker}" if marker else ""))
            continue
        if kind in ("directory", "file"):
            path = (root / source["url"]).resolve()
            result.unhashed.append(f"-e {path}" if package.get("develop") else str(path))
            continue
        if kind == "url":
            result.unhashed.append(f"{package['name']} @ {source['url']}" + (f" ; {marker}" if marker else ""))
            continue
        # Packages from the default index carry no source in poetry.lock; the
        # host's pip configuration says where that index is.
        if kind == "legacy" and source.get("url") and source["url"] not in result.indexes:
            result.indexes.append(source["url"])
        files = package.get("files") or lock.get("metadata", {}).get("files", {}).get(package["name"], [])
        hashes = [f["hash"] for f in files if f.get("hash")]
        if not hashes:
            raise BuildError(f"poetry.lock: {package['name']} {package.get('version')} has no file hashes", "run `poetry lock` again")
        result.hashed.append(lockfile.requirement_line(package["name"], package["version"], hashes, marker))
    return result


def installs_root(root: Path) -> bool:
    """Whether `poetry install` would install the project itself: a package with a build backend."""
    path = root / "pyproject.toml"
    if not path.is_file():
        return False
    data = load_toml(path, error=BuildError)
    mode = data.get("tool", {}).get("poetry", {}).get("package-mode", True)
    return bool(mode) and "build-backend" in data.get("build-system", {})


class Poetry(lockfile.TomlLockBuildpack):
    order = 30
    lock = LOCK

    def build(self, ctx: BuildContext) -> dict[str, Any]:
        config = ctx.project.config
        root = ctx.project.root
        reqs = requirements(root, config.lock_groups, config.extras)
        groups = ", ".join([MAIN, *config.lock_groups])
        ctx.say(f"installing {LOCK} groups {groups} ({len(reqs.hashed) + len(reqs.unhashed)} packages, hashes required) with {ctx.installer}")
        lockfile.install(ctx, reqs, LOCK)
        result: dict[str, Any] = {"installed_from": [LOCK], "groups": [MAIN, *config.lock_groups], "packages": reqs.names()}
        if installs_root(root):
            # As `poetry install` does: the project itself, editable, its
            # dependencies being exactly the locked ones installed above.
            ctx.say("installing the project itself (editable, no dependencies)")
            installer.install(ctx, ["--no-deps", "--editable", "."], what="pyproject.toml")
            result["project"] = "editable"
        return result


buildpack = Poetry()
