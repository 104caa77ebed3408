"""``warp build``: from an app folder to a ready environment, atomically and incrementally.

The order of a build:

1. analyse (nothing is written): settings, ``warp.build.recognise`` (the
   app's facts and the buildpacks that run), the server's packages, the Python wanted; hash every input;
2. two keys: the dependency step's (dependency and lock files, Python,
   installer, build settings, the installing buildpacks) and the app steps'
   (that key, the hooks, the framework buildpacks and a fingerprint of the
   whole source tree, ``warp.build.fingerprint``). Both those of the last good
   build, with its environment still in use: a no-op, recorded as such. Only
   the app steps' key changed: the hooks and framework buildpacks run again,
   nothing is installed;
3. otherwise make a new environment generation (a hard-link clone of the one
   in use, so packages already right are not installed again; or a fresh
   virtualenv when there is none, the Python changed, or ``--clean``);
4. in it: the ``pre-build`` hook, each buildpack (dependencies, then Django's
   collectstatic), the server's packages, the ``build`` hook;
5. swap ``project.venv`` to the new generation in one ``rename`` and write
   ``.warp/build.json``.

Any failure, including Ctrl-C, removes the new generation and leaves the
environment in use, and the build record, exactly as they were.
"""

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence
import contextlib
import datetime
import fcntl
import hashlib
import json
import os
import shutil
import signal
import time

from warp import __version__
from warp.app.python import choose_interpreter, version_matches
from warp.app.requirements import canonical_name, requirement_name
from warp.build import venv as venvs
from warp.build.buildpacks import KIND_FRAMEWORK
from warp.build.fingerprint import Tree, skip_for, source_tree
from warp.core.environment import environment_files, runtime_environ
from warp.core.errors import BuildError
from warp.app.hooks import find_hooks
from warp.build.hooks import HookOutput, run_hook, standard_hooks
from warp.app.detect import Detection
from warp.core.project import Project
from warp.core.settings import build_settings

# Settings whose value changes what a build produces (declared in the registry); part of its fingerprint.
BUILD_SETTINGS = build_settings()


@dataclass(frozen=True)
class BuildResult:
    noop: bool
    record: dict

    @property
    def summary(self) -> str:
        if self.noop:
            return "nothing changed since the last build; nothing to do"
        record = self.record
        changed = record.get("changes", {})
        counts = ", ".join(f"{len(changed[key])} {key}" for key in ("added", "upgraded", "removed") if changed.get(key))
        return f"built in {record['timings']['total']:.1f}s: {len(record['packages'])} packages" + (f" ({counts})" if counts else "")


def _now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def _relative(project, path):
    try:
        return str(Path(path).relative_to(project.root))
    except ValueError:
        return str(path)


def read_record(project: Project) -> Optional[Dict[str, Any]]:
    """The last build record, or None when there is none (or it is unreadable)."""
    try:
        return json.loads(project.build_record.read_text())
    except (OSError, ValueError):
        return None


def _write_record(project, record):
    """Write the build record atomically: a reader sees the old one or the new one, never half."""
    project.state_dir.mkdir(parents=True, exist_ok=True)
    tmp = project.build_record.with_name(f".{project.build_record.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, project.build_record)


@contextlib.contextmanager
def _build_lock(project):
    """One build per app at a time: two would race for the environment link."""
    venvs.ensure_state_dir(project)
    with open(project.state_dir / "build.lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BuildError(f"another warp build is running for {project.root}", "wait for it to finish") from None
        yield


@contextlib.contextmanager
def _signals_deferred():
    """Hold SIGINT and SIGTERM until the block is done (they are delivered right after)."""
    held = {signal.SIGINT, signal.SIGTERM}
    try:
        before = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    except (AttributeError, ValueError):  # no sigmask here, or not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


# ---------------------------------------------------------------- analysis

@dataclass(frozen=True)
class Analysis:
    """What ``analyse`` decided about a build before anything is written."""

    detection: Detection
    buildpacks: list  # warp.build.recognise.Verdict of each buildpack that runs, in order
    server_requirements: list
    wanted: object  # detection.python.value: the version or specifier wanted, or None
    wanted_reason: Optional[str]
    installer: str
    inputs: dict  # relative path -> sha256 of what decides the environment
    settings: dict
    fingerprint: str  # the app steps' key: deps_fingerprint, hooks, framework buildpacks, the source tree now
    declared: list  # canonical names of what the app (and its server) asks for
    deps_fingerprint: str = ""  # the dependency step's key
    app_key: str = ""  # the app steps' key but for the source tree (which the steps themselves may change)
    tree: Optional[Tree] = None


# What the chosen server needs in the app's environment. The launcher owns the
# servers and sits above build/, so whoever runs a build hands it in (the CLI
# passes warp.launch.server_requirements).
ServerPackages = Callable[[Project, Detection], Sequence[str]]


def analyse(project: Project, server_packages: ServerPackages) -> Analysis:
    """Everything the build will do, decided before anything is written."""
    from warp.build.recognise import recognise

    recognised = recognise(project)
    detection = recognised.detection
    running = recognised.running
    server = [str(item) for item in server_packages(project, detection)]
    wanted = detection.python.value
    reason = detection.python.reason if wanted else None
    installer = str(detection.installer.value or "pip")

    # The dependency step: keyed on what decides the environment, and nothing else.
    installs = [v for v in running if v.buildpack.kind != KIND_FRAMEWORK]
    frameworks = [v for v in running if v.buildpack.kind == KIND_FRAMEWORK]
    root = project.root
    files = [root / name for name in (".python-version", "runtime.txt") if (root / name).is_file()]
    for verdict in installs:
        files += [Path(path) for path in verdict.buildpack.inputs(recognised.app, verdict.recognition) if Path(path).is_file()]
    files += environment_files(project.root)
    inputs = _hashes(project, files)
    settings = {name: getattr(project.config, name) for name in BUILD_SETTINGS}
    deps_key = {
        "warp": __version__,
        "inputs": inputs,
        "settings": settings,
        # A buildpack's code is part of what it builds (one from buildpacks_path may change any time).
        "buildpacks": [[verdict.name, verdict.buildpack.digest()] for verdict in installs],
        "server_requirements": server,
        "python": wanted,
        "installer": installer,
    }
    deps_fingerprint = _digest(deps_key)
    # The app steps: the hooks, the framework buildpacks, and the whole source tree.
    hooks = list(find_hooks(project).values()) + standard_hooks(project, "pre-build") + standard_hooks(project, "build")
    app_key = _digest({
        "deps": deps_fingerprint,
        "hooks": _hashes(project, hooks),
        "buildpacks": [[verdict.name, verdict.buildpack.digest()] for verdict in frameworks],
    })
    tree = _source_tree(project)
    fingerprint = _digest({"app": app_key, "tree": tree.digest})
    declared = {canonical_name(name) for name in detection.dependencies}
    declared |= {name for name in map(requirement_name, server) if name is not None}
    return Analysis(detection, running, server, wanted, reason, installer, inputs, settings, fingerprint, sorted(declared),
                    deps_fingerprint, app_key, tree)


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def _hashes(project: Project, files: List[Path]) -> Dict[str, str]:
    inputs: Dict[str, str] = {}
    for path in files:
        key = _relative(project, path)
        if key not in inputs:
            try:
                inputs[key] = _sha256(path)
            except OSError as exc:
                raise BuildError(f"{path}: cannot read: {exc.strerror}", "make it readable") from None
    return inputs


def _source_tree(project: Project) -> Tree:
    return source_tree(project.root, project.state_dir, skip=skip_for(project.root, project.venv))


def _env_in_use(project, record):
    current = venvs.current_env(project)
    return current is not None and str(current) == record.get("env") and venvs.usable(current)


def _is_noop(project, analysis, record):
    if not record or not record.get("ok") or record.get("fingerprint") != analysis.fingerprint:
        return False
    return _env_in_use(project, record)


def _deps_unchanged(project, analysis, record):
    """True when only the app steps need to run: the last good build installed these very dependencies."""
    if not record or not record.get("ok") or record.get("deps_fingerprint") != analysis.deps_fingerprint:
        return False
    return _env_in_use(project, record)


# ---------------------------------------------------------------- the build

def _build_environ(project, env_dir):
    """The app's runtime environment, with the generation being built active instead of the current one."""
    return runtime_environ(project, venv=env_dir)


def _wheelhouse(project):
    value = project.config.wheelhouse
    if not value:
        return None
    path = Path(value)
    path = path if path.is_absolute() else project.root / path
    if not path.is_dir():
        raise BuildError(f"wheelhouse {path}: no such folder", "point --wheelhouse / WARP_WHEELHOUSE at a folder of wheels")
    return path


def _changes(before, after):
    added = {name: version for name, version in after.items() if name not in before}
    removed = sorted(name for name in before if name not in after)
    upgraded = {name: f"{before[name]} -> {version}" for name, version in after.items() if name in before and before[name] != version}
    return {"added": added, "removed": removed, "upgraded": upgraded}


def build(project: Project, server_packages: ServerPackages, progress: Optional[Callable[[str], object]] = None,
          stream: HookOutput = None, clean: bool = False) -> BuildResult:
    """Build the app in ``project``; returns a BuildResult. Raises WarpError subclasses.

    ``server_packages`` says what the chosen server needs installed; ``progress``
    receives short lines for people; ``stream`` receives hook output (see
    ``warp.build.hooks.run_hook``). ``clean`` builds a fresh environment instead
    of starting from the current one.
    """
    say = progress or (lambda line: None)
    started, t0 = _now(), time.monotonic()
    with _build_lock(project):
        analysis = analyse(project, server_packages)
        previous = read_record(project)
        if not clean and previous is not None and _is_noop(project, analysis, previous):
            # The record keeps describing the build that made the environment,
            # and says this run found nothing to do.
            record = dict(previous, noop=True, checked_at=_now(), check_seconds=round(time.monotonic() - t0, 3))
            _write_record(project, record)
            return BuildResult(True, record)
        app_only = not clean and _deps_unchanged(project, analysis, previous)
        return _build(project, analysis, previous, say, stream, clean, started, t0, app_only)


def _build(project, analysis, previous, say, stream, clean, started, t0, app_only=False):
    from warp.build.buildpacks import BuildContext
    from warp.build import installer as installers

    timings = {"analyse": round(time.monotonic() - t0, 3)}
    current = venvs.current_env(project)
    if current is not None and not venvs.usable(current):
        current = None
    # The environment this build starts from (a clone of it), or None for a fresh one.
    start_from = current if not clean else None
    if start_from is not None and analysis.wanted:
        version = venvs.env_version(start_from)
        if not (version and version_matches(version, analysis.wanted)):
            start_from = None
    reuse = start_from is not None
    # Chosen before anything is written, so a missing Python fails the build at once.
    interpreter = None if reuse else choose_interpreter(analysis.wanted, analysis.wanted_reason, project.environ)

    # Leftovers of a build that was killed outright (SIGKILL, power loss).
    venvs.prune(project, keep=[current, previous and previous.get("previous_env")])
    new = venvs.new_env_dir(project)
    record = None
    try:
        step = time.monotonic()
        if start_from is not None:
            say(f"environment: starting from the current one ({_relative(project, start_from)})")
            venvs.clone_env(start_from, new)
            before = venvs.installed_packages(new)
        else:
            assert interpreter is not None  # chosen above whenever there is nothing to start from
            say(f"environment: new virtualenv, Python {interpreter.version_text}" + (f" ({analysis.wanted_reason})" if analysis.wanted_reason else ""))
            venvs.create_env(new, interpreter, prompt=project.root.name)
            before = {}
        timings["environment"] = round(time.monotonic() - step, 3)

        environ = _build_environ(project, new)
        removed = []
        if app_only:
            say("dependencies: unchanged since the last build; only the app steps run (hooks, framework buildpacks)")
        elif reuse and previous and previous.get("env") == str(current):
            # The app stopped asking for a package: take it (and what only it
            # needed) out, so the result is what a fresh build would give.
            dropped = set(previous.get("declared", [])) - set(analysis.declared)
            if dropped:
                removed = venvs.remove_dropped(new, dropped, analysis.declared, installers.clean_environ(environ))
                if removed:
                    say(f"no longer declared, uninstalled: {', '.join(removed)}")
        hooks_run = []

        def hook(name):
            step = time.monotonic()
            for shown in run_hook(project, name, environ, stream):
                say(f"hook {name}: {shown}")
                hooks_run.append({"name": name, "path": shown})
            timings[f"hook {name}"] = round(time.monotonic() - step, 3)

        hook("pre-build")
        ctx = BuildContext(
            project=project, python=venvs.env_python(new), environ=environ, installer=analysis.installer,
            wheelhouse=_wheelhouse(project), no_index=bool(project.config.no_index), progress=say,
            detection=analysis.detection,
        )
        packs = []
        for verdict in analysis.buildpacks:
            if app_only and verdict.buildpack.kind != KIND_FRAMEWORK:
                continue
            step = time.monotonic()
            say(f"buildpack {verdict.name}: {verdict.reason}")
            result = verdict.buildpack.build(replace(ctx, recognition=verdict.recognition))
            seconds = round(time.monotonic() - step, 3)
            timings[f"buildpack {verdict.name}"] = seconds
            packs.append({"name": verdict.name, "reason": verdict.reason, "seconds": seconds, "result": result or {}})
        if analysis.server_requirements and not app_only:
            step = time.monotonic()
            say(f"server {project.config.server}: {' '.join(analysis.server_requirements)}")
            installers.install_requirements(ctx, analysis.server_requirements, what=f"the {project.config.server} server's packages")
            timings["server"] = round(time.monotonic() - step, 3)
        hook("build")
        # The key holds the tree as the app steps left it (their outputs included), so the next
        # build is a no-op unless something changes after this one.
        tree = _source_tree(project)

        packages = venvs.installed_packages(new)
        version = venvs.env_version(new)
        timings["total"] = round(time.monotonic() - t0, 3)
        record = {
            "ok": True,
            "noop": False,
            "warp_version": __version__,
            "started_at": started,
            "finished_at": _now(),
            "fingerprint": _digest({"app": analysis.app_key, "tree": tree.digest}),
            "deps_fingerprint": analysis.deps_fingerprint,
            "tree": {"digest": tree.digest, "files": tree.files},
            "steps": "app" if app_only else "all",
            "env": str(new),
            "previous_env": str(current) if current else None,
            "incremental": bool(reuse),
            "venv": str(project.venv),
            "python": {
                "wanted": analysis.wanted,
                "reason": analysis.wanted_reason,
                "version": ".".join(map(str, version)) if version else None,
            },
            "installer": analysis.installer,
            "inputs": analysis.inputs,
            "declared": analysis.declared,
            "settings": analysis.settings,
            "buildpacks": packs,
            "server": {"name": project.config.server, "requirements": analysis.server_requirements},
            "hooks": hooks_run,
            "packages": packages,
            "changes": _changes(before, packages),
            "timings": timings,
        }
    except BaseException:
        # Ctrl-C included: the generation in use and the record stay untouched.
        shutil.rmtree(new, ignore_errors=True)
        raise
    with _signals_deferred():
        # The swap and the record belong together: no Ctrl-C between them.
        try:
            venvs.activate(project, new)
        except BaseException:
            shutil.rmtree(new, ignore_errors=True)
            raise
        _write_record(project, record)
    # Keep the generation just replaced: a server started from it may still run.
    venvs.prune(project, keep=[new, current])
    return BuildResult(False, record)
