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
from typing import Dict, Iterable, List, Mapping, Optional, Set, Tuple, Union
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import uuid

from warp.app.python import Interpreter, choose_interpreter, interpreter_version, version_matches
from warp.app.requirements import canonical_name, requirement_name
from warp.core.errors import BuildError, UsageError
from warp.core.project import Project

PathLike = Union[str, "os.PathLike[str]"]

# ---------------------------------------------------------------- environments

def envs_dir(project: Project) -> Path:
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


def current_env(project: Project) -> Optional[Path]:
    """The real folder of the app's environment now in use, or None when there is none."""
    venv = project.venv
    if not (venv / "pyvenv.cfg").exists():
        return None
    return Path(os.path.realpath(venv))


def env_python(env_dir: PathLike) -> Path:
    return Path(env_dir) / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")


def env_version(env_dir: PathLike) -> Optional[Tuple[int, ...]]:
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


def usable(env_dir: PathLike) -> bool:
    """True when the environment's interpreter still starts (its base Python may have gone)."""
    return interpreter_version(env_python(env_dir)) is not None


def ensure_state_dir(project: Project) -> Path:
    """Make the app's .warp/ folder, telling git to ignore it: nothing in it belongs in the app's history."""
    project.state_dir.mkdir(parents=True, exist_ok=True)
    ignore = project.state_dir / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# Made by warp: environments, build record, sockets. Not source.\n*\n")
    return project.state_dir


# `warp image` names the generation it builds, so that the paths written into
# the environment (script #! lines, pyvenv.cfg, bytecode) are the same in two
# builds of one commit: a random name would make every image differ.
ENV_ID_VARIABLE = "WARP_ENV_ID"


def new_env_dir(project: Project) -> Path:
    """A fresh, unique, not yet existing generation folder."""
    ensure_state_dir(project)
    parent = envs_dir(project)
    parent.mkdir(parents=True, exist_ok=True)
    wanted = os.environ.get(ENV_ID_VARIABLE, "")
    if re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,31}", wanted) and not (parent / wanted).exists():
        return parent / wanted
    return parent / uuid.uuid4().hex[:12]


def create_env(env_dir: PathLike, interpreter: Interpreter, prompt: Optional[str] = None) -> Path:
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


def clone_env(source: PathLike, target: PathLike) -> Path:
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


def activate(project: Project, env_dir: PathLike) -> None:
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


def prune(project: Project, keep: Iterable[Optional[PathLike]]) -> None:
    """Remove generations other than ``keep`` (the current and, say, the previous one)."""
    parent = envs_dir(project)
    if not parent.is_dir():
        return
    kept = {os.path.realpath(path) for path in keep if path}
    for entry in parent.iterdir():
        if os.path.realpath(entry) not in kept:
            shutil.rmtree(entry, ignore_errors=True)


def installed_packages(env_dir: PathLike) -> Dict[str, str]:
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


def ensure_env(project: Project, wanted: Optional[str] = None, where: Optional[str] = None,
               environ: Optional[Mapping[str, str]] = None) -> ProjectEnv:
    """Create the app's environment, or reuse it when it exists, works, and fits ``wanted``.

    Returns a ProjectEnv; ``created`` tells which happened.
    """
    current = current_env(project)
    if current is not None and usable(current):
        # pyvenv.cfg says the version; a hand-made environment may lack it, so ask the interpreter.
        version = env_version(current) or interpreter_version(env_python(current))
        if version is not None and (not wanted or version_matches(version, str(wanted))):
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


# Run inside the app's environment: each installed distribution's name and the
# requirement strings it declares, as they are; warp reads the names.
_REQUIRES = r'''
import importlib.metadata as m, json
print(json.dumps([[d.metadata["Name"], list(d.requires or [])] for d in m.distributions() if d.metadata["Name"]]))
'''


def orphans(installed: Iterable[Tuple[str, Iterable[str]]], dropped: Iterable[str], keep: Iterable[str]) -> List[str]:
    """The names that go when ``dropped`` do: those, and what only they needed.

    ``installed`` is [(name, [requirement, ...]), ...] as the environment
    reports it. Markers are ignored on purpose, so anything some remaining
    package might need is kept; the install that follows puts back whatever
    the new requirements still need.
    """
    deps: Dict[str, Set[str]] = {}
    for name, requires in installed:
        deps[canonical_name(name)] = {dep for dep in map(requirement_name, requires) if dep is not None}
    kept = {canonical_name(name) for name in keep}
    gone = {canonical_name(name) for name in dropped} & set(deps) - kept
    while True:
        needed = set().union(*(requires for name, requires in deps.items() if name not in gone))
        more = {d for name in gone for d in deps[name] if d in deps and d not in gone and d not in needed and d not in kept}
        if not more:
            return sorted(gone)
        gone |= more


def remove_dropped(env_dir: PathLike, dropped: Iterable[str], keep: Iterable[str],
                   environ: Optional[Mapping[str, str]] = None) -> List[str]:
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
