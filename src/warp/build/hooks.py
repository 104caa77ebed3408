"""Running hooks: the app's own (found by ``warp.app.hooks.find_hooks``), and warp's standard ones.

warp's standard hooks live in the top-level ``hooks/`` folder, one folder per
set, each enabled by a setting; they run before the app's hook of the same
name, through the same function.

A hook runs in the app folder with the app's runtime environment; it need not
be executable (a checkout may lose the bit): warp then runs its ``#!``
interpreter, or ``/bin/sh``. A hook that fails raises BuildError naming the
hook, its file and its exit status.
"""

from pathlib import Path
from typing import IO, Callable, List, Mapping, Union
import os
import shlex
import signal
import subprocess

from warp.app.hooks import HOOK_NAMES, find_hooks
from warp.core.data import data_path
from warp.core.errors import BuildError
from warp.core.project import Project

# Where a hook's output goes: a callable taking one line, a file with a
# descriptor, or None for this process's own stdout and stderr.
HookOutput = Union[Callable[[str], object], IO[str], None]

# Standard hook sets: folder under hooks/ -> the setting that enables it.
STANDARD = {"django-migrate": "migrate"}


def standard_hooks(project: Project, name: str) -> List[Path]:
    """warp's own hooks for hook point ``name`` that the project's settings enable, in order."""
    folder = data_path("hooks")
    enabled = []
    for set_name, setting in STANDARD.items():
        path = folder / set_name / name
        if getattr(project.config, setting) and path.is_file():
            enabled.append(path)
    return enabled


def hook_command(path: Union[str, Path]) -> List[str]:
    """argv that runs hook file ``path``, executable bit or not."""
    path = Path(path)
    if os.access(path, os.X_OK):
        return [str(path)]
    with open(path, "rb") as handle:
        first = handle.readline(512)
    if first.startswith(b"#!"):
        return shlex.split(first[2:].decode(errors="replace").strip()) + [str(path)]
    return ["/bin/sh", str(path)]


def _shown(project, path):
    try:
        return str(Path(path).relative_to(project.root))
    except ValueError:
        return f"warp's {Path(path).parent.name}/{Path(path).name}"


def _stop_group(process):
    """End a hook and everything it started (its own process group): TERM, then KILL."""
    for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            pass
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _run_one(project, name, path, environ, stream):
    argv = hook_command(path)
    shown = _shown(project, path)
    piped = callable(stream)
    try:
        # A process group of its own, so that an interrupted build can end the
        # hook and whatever it started (a `sleep`, a server), not just its shell.
        process = subprocess.Popen(
            argv, cwd=project.root, env=environ, stdin=subprocess.DEVNULL, start_new_session=True,
            stdout=subprocess.PIPE if piped else stream, stderr=subprocess.STDOUT if (piped or stream is not None) else None,
            text=piped, errors="replace" if piped else None,
        )
    except OSError as exc:
        raise BuildError(f"hook {name} ({shown}) could not run: {exc.strerror}: {argv[0]}", "check its #! line and that it is a script or program") from None
    pipe = process.stdout  # None unless piped
    try:
        if pipe is not None:
            for line in pipe:
                stream(line.rstrip("\n"))
        status = process.wait()
    except BaseException:
        # Ctrl-C in warp: do not leave the hook running on its own.
        _stop_group(process)
        raise
    finally:
        if pipe is not None:
            pipe.close()
    if status < 0:
        try:
            how = f"was killed by {signal.Signals(-status).name}"
        except ValueError:
            how = f"was killed by signal {-status}"
        raise BuildError(f"hook {name} ({shown}) {how}", "run it by hand with `warp exec` to see why")
    if status != 0:
        raise BuildError(f"hook {name} ({shown}) failed with exit status {status}", "its output is above; run it by hand with `warp exec` to see why")
    return shown


def run_hook(project: Project, name: str, environ: Mapping[str, str], stream: HookOutput = None) -> List[str]:
    """Run the standard hooks enabled for ``name`` and then the app's own ``name`` hook.

    ``environ`` is the complete environment (see ``warp.core.environment.runtime_environ``).
    ``stream`` receives the hooks' output (stdout and stderr together): a
    callable taking one line, a file with a descriptor, or None for this
    process's own stdout/stderr. Returns the hooks run, as shown to people.
    Raises BuildError when one fails.
    """
    if name not in HOOK_NAMES:
        raise ValueError(f"unknown hook {name!r}")
    paths = standard_hooks(project, name)
    own = find_hooks(project).get(name)
    if own is not None:
        paths.append(own)
    return [_run_one(project, name, path, environ, stream) for path in paths]
