"""The application's own virtual environment.

warp runs in its own interpreter with its own dependencies (click, pyyaml,
virtualenv); the application gets a separate environment made by
``virtualenv`` with nothing in it but pip, so an app that pins ``click==7.1.2``
gets exactly that.

The environment the app uses lives at ``project.venv`` (``.warp/venv`` by
default). warp makes that path a *relative* symlink to one generation in an
"envs" folder (``.warp/envs/<id>``): a build fills a new generation and only
swaps the link when everything succeeded, so a failed or interrupted build
never touches the environment that works. The link is relative so the app
folder can be copied (into a container, for instance) and still resolve.
"""

from dataclasses import dataclass
from pathlib import Path
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import uuid

from warp.app.requirements import canonical_name, requirement_name
from warp.core.errors import BuildError, UsageError

# A version as people write it: 3, 3.11, 3.11.7 (runtime.txt's "python-3.11.7" too).
_VERSION = re.compile(r"^\s*(?:python-?)?(\d+(?:\.\d+){0,2})\s*$", re.IGNORECASE)
_SPEC = re.compile(r"^\s*(~=|===|==|!=|<=|>=|<|>)?\s*(\d+(?:\.\d+)*)(\.\*)?\s*$")


# ---------------------------------------------------------------- interpreters

@dataclass(frozen=True)
class Interpreter:
    version: tuple  # (3, 11, 7)
    path: Path

    @property
    def version_text(self):
        return ".".join(str(part) for part in self.version)


def _version_of(executable):
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


def _pyenv_root(environ):
    return Path(environ.get("PYENV_ROOT") or Path.home() / ".pyenv")


def find_interpreters(environ=None):
    """Every CPython this host offers: warp's own, pyenv's versions, pythonX.Y on PATH.

    Ordered with warp's own interpreter first, then newest first; one entry per
    real executable.
    """
    environ = os.environ if environ is None else environ
    found, seen = [], set()

    def add(path, version=None):
        try:
            real = os.path.realpath(path)
        except OSError:
            return
        if real in seen or not os.access(real, os.X_OK):
            return
        version = version or _version_of(path)
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


def _parse_version(text):
    return tuple(int(part) for part in text.split("."))


def _clause_matches(version, op, wanted, wildcard):
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


def version_matches(version, wanted):
    """Does interpreter ``version`` satisfy ``wanted`` ("3.11", "python-3.11.7", ">=3.9,<3.13")?

    Raises ValueError for text that is neither a version nor a specifier.
    """
    plain = _VERSION.match(wanted)
    if plain:
        return _clause_matches(version, None, _parse_version(plain.group(1)), False)
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


def choose_interpreter(wanted=None, where=None, environ=None, interpreters=None):
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


# ---------------------------------------------------------------- environments

def envs_dir(project):
    """Where the generations of the app's environment live.

    Beside warp's other state when the venv is inside the app (the default),
    so copying the app folder copies them too; else beside the venv itself.
    """
    venv = project.venv
    try:
        venv.relative_to(project.root)
    except ValueError:
        return venv.with_name(venv.name + ".envs")
    return project.state_dir / "envs"


def current_env(project):
    """The real folder of the app's environment now in use, or None when there is none."""
    venv = project.venv
    if not (venv / "pyvenv.cfg").exists():
        return None
    return Path(os.path.realpath(venv))


def env_python(env_dir):
    return Path(env_dir) / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")


def env_version(env_dir):
    """The Python version recorded in a virtualenv's pyvenv.cfg, as a tuple, or None."""
    try:
        text = (Path(env_dir) / "pyvenv.cfg").read_text()
    except OSError:
        return None
    for key in ("version_info", "version"):
        match = re.search(rf"^{key}\s*=\s*(\d+)\.(\d+)\.(\d+)", text, re.MULTILINE)
        if match:
            return tuple(int(part) for part in match.groups())
    return None


def usable(env_dir):
    """True when the environment's interpreter still starts (its base Python may have gone)."""
    return _version_of(env_python(env_dir)) is not None


def ensure_state_dir(project):
    """Make the app's .warp/ folder, telling git to ignore it: nothing in it belongs in the app's history."""
    project.state_dir.mkdir(parents=True, exist_ok=True)
    ignore = project.state_dir / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# Made by warp: environments, build record, sockets. Not source.\n*\n")
    return project.state_dir


def new_env_dir(project):
    """A fresh, unique, not yet existing generation folder."""
    ensure_state_dir(project)
    parent = envs_dir(project)
    parent.mkdir(parents=True, exist_ok=True)
    return parent / uuid.uuid4().hex[:12]


def create_env(env_dir, interpreter, prompt=None):
    """Make a new virtualenv at ``env_dir`` for ``interpreter``, seeded with pip only."""
    base = [
        sys.executable, "-m", "virtualenv", "--python", str(interpreter.path),
        "--no-setuptools", "--no-wheel", "--no-periodic-update", "--no-download",
        "--prompt", prompt or Path(env_dir).name, "-q",
    ]
    for extra in (["--no-venv-redirect"], []):
        # Newer virtualenv may drop a ".venv" pointer file beside the target;
        # warp owns that spot, so ask it not to where the option exists.
        result = subprocess.run(base + extra + [str(env_dir)], capture_output=True, text=True)
        if result.returncode == 2 and "unrecognized arguments" in result.stderr:
            continue
        break
    if result.returncode != 0:
        shutil.rmtree(env_dir, ignore_errors=True)
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise BuildError(
            f"virtualenv could not create {env_dir} for Python {interpreter.version_text}: {detail[-1] if detail else 'exit ' + str(result.returncode)}",
            "check that interpreter works, or choose another with the python setting",
        )
    return Path(env_dir)


def _rewrite_file(path, old, new):
    try:
        data = path.read_bytes()
    except OSError:
        return
    if old not in data:
        return
    # Unlink first: the clone may share this file's inode with the original.
    mode = path.stat().st_mode
    path.unlink()
    path.write_bytes(data.replace(old, new))
    os.chmod(path, mode)


def clone_env(source, target):
    """Copy environment ``source`` to ``target`` so it can be changed without touching ``source``.

    Files are hard-linked where the filesystem allows (fast, and installed
    packages keep their inode, which shows they were not reinstalled). That is
    safe because pip and uv replace files (unlink, then write) and never write
    into an installed file; the few files that name the environment's own
    path (bin/ scripts, pyvenv.cfg) are rewritten as new files.
    """
    source, target = Path(source), Path(target)

    def link_or_copy(src, dst):
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    shutil.copytree(source, target, symlinks=True, copy_function=link_or_copy)
    bin_dir = target / ("Scripts" if sys.platform == "win32" else "bin")
    files = [path for path in [target / "pyvenv.cfg", *bin_dir.iterdir()] if path.is_file() and not path.is_symlink()]
    # Scripts name the folder the environment was built in. That is usually
    # ``source``, but not in a copy of the app (an image, another checkout):
    # their #! lines then name where it was built, so replace that too.
    old_prefixes = {os.fsencode(str(source))}
    for path in files:
        with open(path, "rb") as handle:
            first = handle.readline(4096)
        match = re.match(rb"#!(/\S+)/bin/python[\d.]*\s*$", first)
        if match:
            old_prefixes.add(match.group(1))
    new = os.fsencode(str(target))
    for old in sorted(old_prefixes - {new}, key=len, reverse=True):
        for path in files:
            _rewrite_file(path, old, new)
    return target


def activate(project, env_dir):
    """Point ``project.venv`` at ``env_dir`` in one atomic step (a relative symlink).

    If ``project.venv`` is a real folder (an environment made by hand or by an
    older warp), it becomes the previous generation first.
    """
    venv = project.venv
    venv.parent.mkdir(parents=True, exist_ok=True)
    if venv.exists() and not venv.is_symlink():
        if not (venv / "pyvenv.cfg").exists():
            raise UsageError(f"{venv} exists and is not a virtual environment", "move it away or set venv to another folder")
        adopted = new_env_dir(project)
        os.rename(venv, adopted)
        # Scripts in the adopted env name its old path, which now becomes the link.
    link = venv.with_name(f".{venv.name}.{uuid.uuid4().hex[:8]}.tmp")
    os.symlink(os.path.relpath(env_dir, venv.parent), link)
    try:
        os.replace(link, venv)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(link)
        raise


def prune(project, keep):
    """Remove generations other than ``keep`` (the current and, say, the previous one)."""
    parent = envs_dir(project)
    if not parent.is_dir():
        return
    keep = {os.path.realpath(path) for path in keep if path}
    for entry in parent.iterdir():
        if os.path.realpath(entry) not in keep:
            shutil.rmtree(entry, ignore_errors=True)


def installed_packages(env_dir):
    """{name: version} of what is installed in an environment, read from its metadata."""
    code = (
        "import importlib.metadata as m, json;"
        "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions() if d.metadata['Name']}))"
    )
    result = subprocess.run([str(env_python(env_dir)), "-I", "-c", code], capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise BuildError(f"cannot list the packages of {env_dir}: {result.stderr.strip()[-200:]}")
    return dict(sorted(json.loads(result.stdout).items(), key=lambda kv: kv[0].lower()))


@dataclass(frozen=True)
class ProjectEnv:
    path: Path  # project.venv
    real: Path  # the generation it points at
    python: Interpreter
    created: bool


def ensure_env(project, wanted=None, where=None, environ=None):
    """Create the app's environment, or reuse it when it exists, works, and fits ``wanted``.

    Returns a ProjectEnv; ``created`` tells which happened.
    """
    current = current_env(project)
    if current is not None and usable(current):
        version = env_version(current)
        if not wanted or (version and version_matches(version, str(wanted))):
            return ProjectEnv(project.venv, current, Interpreter(version, env_python(current)), False)
    interpreter = choose_interpreter(wanted, where, environ)
    env_dir = new_env_dir(project)
    try:
        create_env(env_dir, interpreter, prompt=project.root.name)
        activate(project, env_dir)
    except BaseException:
        shutil.rmtree(env_dir, ignore_errors=True)
        raise
    # Keep the generation just replaced: a server started from it may still run.
    prune(project, keep=[env_dir, current])
    return ProjectEnv(project.venv, env_dir, interpreter, True)


def wanted_python(project, detection=None):
    """(version wanted, what said so) for the app, or (None, None) when it does not say.

    An explicit setting (flag, WARP_PYTHON, warp.yaml) wins; else what
    ``warp.app.detect`` found in .python-version, runtime.txt or requires-python.
    """
    config = project.config
    if config.python and config.source("python") != "default":
        source = config.source("python")
        return str(config.python), f"setting python from {source}"
    if detection is None:
        return None, None
    fact = getattr(detection, "python", None)
    value = getattr(fact, "value", fact)
    if isinstance(value, dict):
        value = value.get("wanted") or value.get("version")
    reason = getattr(fact, "reason", None)
    return (str(value), reason) if value else (None, None)


# Run inside the app's environment: each installed distribution's name and the
# requirement strings it declares, as they are; warp reads the names.
_REQUIRES = r'''
import importlib.metadata as m, json
print(json.dumps([[d.metadata["Name"], list(d.requires or [])] for d in m.distributions() if d.metadata["Name"]]))
'''


def orphans(installed, dropped, keep):
    """The names that go when ``dropped`` do: those, and what only they needed.

    ``installed`` is [(name, [requirement, ...]), ...] as the environment
    reports it. Markers are ignored on purpose, so anything some remaining
    package might need is kept; the install that follows puts back whatever
    the new requirements still need.
    """
    deps = {}
    for name, requires in installed:
        deps[canonical_name(name)] = {requirement_name(req) for req in requires} - {None}
    keep = {canonical_name(name) for name in keep}
    gone = {canonical_name(name) for name in dropped} & set(deps) - keep
    while True:
        needed = set().union(*(requires for name, requires in deps.items() if name not in gone))
        more = {d for name in gone for d in deps[name] if d in deps and d not in gone and d not in needed and d not in keep}
        if not more:
            return sorted(gone)
        gone |= more


def remove_dropped(env_dir, dropped, keep, environ=None):
    """Uninstall the distributions in ``dropped`` and what only they needed; returns the names removed.

    ``keep`` names what must stay whatever happens (what the app declares now,
    pip itself). Used on a cloned environment when the app stopped declaring a
    package, so a rebuild ends with what a fresh build would have.
    """
    python = str(env_python(env_dir))
    result = subprocess.run([python, "-I", "-c", _REQUIRES], capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise BuildError(f"cannot work out what to uninstall from {env_dir}: {result.stderr.strip()[-200:]}")
    gone = orphans(json.loads(result.stdout), dropped, set(keep) | {"pip"})
    if gone:
        removed = subprocess.run([python, "-m", "pip", "uninstall", "-y", "-q", *gone],
                                 capture_output=True, text=True, env=environ, timeout=600)
        if removed.returncode != 0:
            raise BuildError(f"uninstalling {', '.join(gone)} failed: {removed.stderr.strip()[-200:]}")
    return gone
