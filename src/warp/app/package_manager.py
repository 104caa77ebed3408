"""Which dependency file an application's dependencies come from: exactly one, or an error.

There is no hidden precedence. requirements.txt, Pipfile.lock, poetry.lock and
uv.lock each say on their own what to install; when several are present they
may disagree, so warp stops and names the files and the ``package_manager``
setting that chooses. pyproject.toml and setup.py/setup.cfg are installed as a
package (``pip install .``) only when none of those files is present: next to a
lock file they are that tool's project file, not a second opinion.
"""

from dataclasses import dataclass
from pathlib import Path
import configparser
import re

from warp.app.requirements import canonical_name, read_requirements, requirement_name
from warp.core.toml import load_toml
from warp.core.errors import ConfigError, DetectError

# name -> files that make it, in the order they are reported
LOCKING = {
    "requirements": ("requirements.txt",),
    "pipfile": ("Pipfile.lock",),
    "poetry": ("poetry.lock",),
    "uv": ("uv.lock",),
}
PACKAGE = {
    "pyproject": ("pyproject.toml",),
    "setup": ("setup.py", "setup.cfg"),
}
FILES = {**LOCKING, **PACKAGE}
# The project file each lock belongs to, kept as an input of the build.
COMPANIONS = {"pipfile": ("Pipfile",), "poetry": ("pyproject.toml",), "uv": ("pyproject.toml",)}
ALL_FILES = tuple(name for names in FILES.values() for name in names) + ("Pipfile",)


@dataclass(frozen=True)
class Choice:
    name: str  # None when the app declares no dependencies
    files: tuple  # the files it installs from, relative to the app
    reason: str


def _present(root, names):
    return tuple(name for name in names if (root / name).is_file())


def _is_package_pyproject(root):
    path = root / "pyproject.toml"
    if not path.is_file():
        return False
    data = load_toml(path)
    return "project" in data or "build-system" in data


def choose(root, setting="auto", source="default"):
    """The package manager of the app in ``root``.

    ``setting`` is the ``package_manager`` setting and ``source`` where it came
    from (to name it in errors).
    """
    root = Path(root)
    if setting and setting != "auto":
        files = _present(root, FILES[setting])
        if not files:
            wanted = " or ".join(FILES[setting])
            raise ConfigError(
                f"package_manager={setting} (from {source}) but {root} has no {wanted}",
                "add that file or set package_manager to auto",
            )
        return Choice(setting, files + _present(root, COMPANIONS.get(setting, ())), f"package_manager={setting} from {source}")

    present = {name: _present(root, files) for name, files in LOCKING.items()}
    present = {name: files for name, files in present.items() if files}
    if len(present) > 1:
        names = [f for files in present.values() for f in files]
        raise DetectError(
            f"{root}: several dependency files: {', '.join(names)}; warp will not guess which one to install",
            f"set package_manager to one of {', '.join(present)} in warp.yaml (or WARP_PACKAGE_MANAGER, or --package-manager), or remove the others",
        )
    if present:
        name, files = next(iter(present.items()))
        companions = _present(root, COMPANIONS.get(name, ()))
        reason = f"{files[0]} is the only dependency file"
        if companions:
            reason = f"{files[0]} is the only lock or requirements file (with {', '.join(companions)})"
        return Choice(name, files + companions, reason)

    if (root / "Pipfile").is_file():
        raise DetectError(
            f"{root / 'Pipfile'}: has no Pipfile.lock beside it; warp installs the lock file, not the Pipfile",
            "run `pipenv lock` and commit Pipfile.lock",
        )
    if _is_package_pyproject(root):
        return Choice("pyproject", ("pyproject.toml",) + _present(root, PACKAGE["setup"]),
                      "pyproject.toml declares a project; it is installed as a package (pip install .)")
    setup = _present(root, PACKAGE["setup"])
    if setup:
        return Choice("setup", setup, f"{setup[0]} makes the app a package; it is installed as one (pip install .)")
    misspelt = sorted(p.name for p in root.glob("*") if re.fullmatch(r"(?i)requirements?[._-]?\w*\.(txt|text|pip|in)", p.name))
    if misspelt and "requirements.txt" not in misspelt:
        raise DetectError(
            f"{root}: found {', '.join(misspelt)} but no requirements.txt",
            "name the file warp should install requirements.txt (it may include others with -r)",
        )
    return Choice(None, (), "no dependency file (requirements.txt, pyproject.toml, setup.py, Pipfile.lock, poetry.lock, uv.lock)")


def _requirement_names(lines):
    """Canonical names of the requirement lines among ``lines`` (options, paths and URLs name nothing)."""
    names = set()
    for line in lines:
        line = line.strip()
        if not line or line.startswith(("#", "-", ".", "/")) or re.match(r"[A-Za-z][A-Za-z0-9+.-]*://", line):
            continue
        name = requirement_name(line)
        if name:
            names.add(name)
    return names


def declared_names(root, choice):
    """Canonical names of the distributions the app declares (for spotting its framework)."""
    root = Path(root)
    names = set()
    if choice.name == "requirements":
        for entry in read_requirements(root / "requirements.txt"):
            if not entry.constraint:
                names |= _requirement_names(entry.lines)
    elif choice.name == "pipfile":
        import json

        try:
            data = json.loads((root / "Pipfile.lock").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = {}
        names |= {canonical_name(n) for n in (data.get("default") or {})}
    elif choice.name in ("poetry", "uv"):
        data = load_toml(root / f"{choice.name}.lock")
        names |= {canonical_name(p.get("name", "")) for p in data.get("package", [])}
    if (root / "pyproject.toml").is_file():
        data = load_toml(root / "pyproject.toml")
        names |= _requirement_names(data.get("project", {}).get("dependencies", []))
        names |= {canonical_name(n) for n in data.get("tool", {}).get("poetry", {}).get("dependencies", {})}
    if (root / "setup.cfg").is_file():
        parser = configparser.ConfigParser()
        try:
            parser.read(root / "setup.cfg", encoding="utf-8")
            names |= _requirement_names(parser.get("options", "install_requires", fallback="").splitlines())
        except configparser.Error:
            pass
    if (root / "setup.py").is_file():
        text = (root / "setup.py").read_text(encoding="utf-8", errors="replace")
        match = re.search(r"install_requires\s*=\s*\[(.*?)\]", text, re.S)
        if match:
            names |= _requirement_names(re.findall(r"[\"']([^\"']+)[\"']", match.group(1)))
    names.discard("python")
    names.discard("")
    return names
