"""The environment variables an application runs with.

``runtime_environ`` is the one definition used by ``warp start`` (through the
launcher), ``warp exec``, ``warp shell``, ``warp env`` and by build hooks, so
the app sees the same variables everywhere:

- the environment the project was opened with (``project.environ``): the
  caller's, with the environment files users bring from other tools applied
  once by ``warp.core.project.open_project`` (``with_environment_files``):
  ``.s2i/environment`` (``NAME=VALUE`` lines read as s2i reads them, no shell,
  plus ``export`` prefixes and quotes dropped; they are defaults, so a
  variable already set in the process wins, as ``docker run -e`` wins over an
  image's ENV) and ``.warpdrive/environment`` (a shell fragment sourced with
  ``set -a``, so it can write ``${NAME:-default}`` or extend PATH itself);
- the app's virtualenv activated (``VIRTUAL_ENV``, its ``bin`` first on PATH,
  no ``PYTHONHOME``);
- ``PORT`` from warp's port setting, unbuffered Python output so logs
  stream, and (unless set) a UTF-8 locale that exists in LANG/LC_ALL and
  PYTHONIOENCODING=UTF-8, as mod_wsgi-express sets them.
"""

from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple
import functools
import os
import re
import shlex
import subprocess

from warp.core.errors import ConfigError

S2I_ENVIRONMENT = ".s2i/environment"
WARPDRIVE_ENVIRONMENT = ".warpdrive/environment"


_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# How /bin/sh names line N of a sourced file F (dash: "sh: N: F: msg", bash: "F: line N: msg").
_SHELL_LINE = re.compile(r"^(?:[^:]*:\s*(\d+):\s*F:|F:\s*line\s+(\d+):)\s*(.*)$")


def _unquote(value: str, where: str) -> str:
    """``value`` without one pair of matching surrounding quotes; ConfigError for an unclosed one."""
    if value[:1] in ("'", '"'):
        quote = value[0]
        if len(value) < 2 or value[-1] != quote:
            raise ConfigError(f"{where}: the value opens a {quote} quote it does not close",
                              f"end the value with {quote}, or remove the opening {quote}")
        inner = value[1:-1]
        if quote == '"':
            # As a shell reads a double-quoted value: \" and \\ stand for " and \.
            inner = re.sub(r'\\(["\\$`])', r"\1", inner)
        return inner
    return value


def read_s2i_environment(path: "str | os.PathLike[str]") -> Dict[str, str]:
    """{name: value} from an s2i environment file; ConfigError with file:line for a bad line.

    Read as s2i reads it (one ``NAME=VALUE`` a line, both sides trimmed, ``#``
    and ``//`` comment lines, blank lines skipped, no ``$VAR`` expansion), and
    kinder where users write it like a shell file: an ``export `` prefix is
    dropped and one pair of quotes around the value is removed, so
    ``APP_MODULE="pkg:app"`` means ``pkg:app``. A line s2i would silently skip
    (no ``=``, a name no shell could set) is an error naming file and line.
    """
    values = {}
    try:
        lines = Path(path).read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}", "make it a readable UTF-8 file of NAME=VALUE lines") from None
    for number, line in enumerate(lines, 1):
        text = line.strip()
        if not text or text.startswith("#") or text.startswith("//"):
            continue
        where = f"{path}:{number}"
        if re.match(r"^export\s", text):
            text = text[len("export"):].strip()
        name, sep, value = text.partition("=")
        name = name.strip()
        if not sep or not _NAME.match(name):
            raise ConfigError(f"{where}: expected NAME=VALUE, got {line.strip()!r}",
                              "write one NAME=VALUE per line (a name is letters, digits and _)")
        values[name] = _unquote(value.strip(), where)
    return values


def source_shell_environment(path: "str | os.PathLike[str]", environ: Mapping[str, str]) -> Dict[str, str]:
    """The environment after sourcing shell fragment ``path`` with ``set -a`` on top of ``environ``.

    This is how warpdrive reads ``.warpdrive/environment``: the shell does the
    quoting, ``export``, comments and ``${VAR}`` expansion. A shell error is
    reported as ``file:line: message``.
    """
    script = 'set -a; . "$1" >&2 || exit 97; exec env -0'
    try:
        result = subprocess.run(
            ["/bin/sh", "-c", script, "sh", str(Path(path).resolve())],
            env=environ, capture_output=True, timeout=30, cwd=Path(path).parent.parent,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise ConfigError(f"{path}: cannot source it: {exc}", "make it a plain shell file of NAME=VALUE lines") from None
    if result.returncode != 0:
        detail = result.stderr.decode(errors="replace").strip().splitlines()
        where, message = str(path), f"sourcing it failed with exit status {result.returncode}"
        for text in detail:
            found = _SHELL_LINE.match(text.replace(str(Path(path).resolve()), "F", 1))
            if found:
                where, message = f"{path}:{found.group(1) or found.group(2)}", f"sourcing it failed: {found.group(3)}"
                break
        else:
            if detail:
                message += f": {detail[-1]}"
        raise ConfigError(f"{where}: {message}", "fix the shell syntax of that line (the file is sourced by /bin/sh, as warpdrive does)")
    out = {}
    for item in result.stdout.split(b"\0"):
        if b"=" in item:
            name, _, value = item.partition(b"=")
            out[os.fsdecode(name)] = os.fsdecode(value)
    # The shell adds a few of its own; keep only what the file set or changed.
    for noise in ("PWD", "OLDPWD", "SHLVL", "_"):
        if noise not in environ:
            out.pop(noise, None)
        else:
            out[noise] = environ[noise]
    return out


def environment_files(root: "str | os.PathLike[str]") -> List[Path]:
    """The environment files present in app folder ``root``, in the order they are applied."""
    root = Path(root)
    return [root / name for name in (S2I_ENVIRONMENT, WARPDRIVE_ENVIRONMENT) if (root / name).is_file()]


def with_environment_files(root: "str | os.PathLike[str]", base: Mapping[str, str]) -> Dict[str, str]:
    """``base`` plus the environment files of app folder ``root``.

    Only ``warp.core.project.open_project`` calls this; everything else reads
    ``project.environ``, so the files are applied once per opening.
    """
    env = dict(base)
    root = Path(root)
    s2i = root / S2I_ENVIRONMENT
    if s2i.is_file():
        for name, value in read_s2i_environment(s2i).items():
            env.setdefault(name, value)
    warpdrive = root / WARPDRIVE_ENVIRONMENT
    if warpdrive.is_file():
        env = source_shell_environment(warpdrive, env)
    return env


def venv_environ(project: Any, base: Optional[Mapping[str, str]] = None, venv: "Optional[str | os.PathLike[str]]" = None) -> Dict[str, str]:
    """``base`` (default: ``project.environ``) with a virtualenv activated as its activate script would.

    ``venv`` is the environment folder (default: ``project.venv``).
    """
    env = dict(project.environ if base is None else base)
    folder = Path(project.venv if venv is None else venv)
    env["VIRTUAL_ENV"] = str(folder)
    env["PATH"] = str(folder / "bin") + os.pathsep + env.get("PATH", "")
    env.pop("PYTHONHOME", None)
    return env


def runtime_environ(project: Any, venv: "Optional[str | os.PathLike[str]]" = None) -> Dict[str, str]:
    """Every variable ``warp start`` sets for the app: the complete environment, as a dict.

    Built on ``project.environ`` (environment files already applied).
    ``venv`` activates another environment folder than ``project.venv`` (the
    generation a build is filling).
    """
    env = venv_environ(project, venv=venv)
    if project.config.source("port") != "default" or "PORT" not in env:
        # A PORT from an environment file stands unless warp's port was set.
        env["PORT"] = str(project.config.port)
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.update(locale_defaults(env))
    return env


# Preferred first: what mod_wsgi-express and s2i's images set; C.UTF-8 is in every glibc since 2.35 and Debian's before.
_PREFERRED_LOCALES = ("en_US.UTF-8", "C.UTF-8")


@functools.lru_cache(maxsize=1)
def utf8_locale() -> str:
    """A UTF-8 locale this machine has: en_US.UTF-8 when installed, else C.UTF-8."""
    try:
        listed = subprocess.run(["locale", "-a"], capture_output=True, text=True, timeout=10).stdout.split()
    except (OSError, subprocess.SubprocessError):
        listed = []
    # locale -a spells them en_US.utf8 / C.utf8; compare without case and dashes.
    have = {name.lower().replace("-", "") for name in listed}
    for name in _PREFERRED_LOCALES:
        if name.lower().replace("-", "") in have:
            return name
    return "C.UTF-8"


def locale_defaults(env: Mapping[str, str]) -> Dict[str, str]:
    """The locale variables to add to ``env`` so the app runs with UTF-8 as mod_wsgi-express does.

    Only what the user left unset: LANG (a UTF-8 locale that exists), LC_ALL
    (LANG's value, so a LANG the user chose is kept) and PYTHONIOENCODING=UTF-8.
    """
    added = {}
    if not env.get("LANG"):
        added["LANG"] = utf8_locale()
    if not env.get("LC_ALL"):
        added["LC_ALL"] = env.get("LANG") or added["LANG"]
    if not env.get("PYTHONIOENCODING"):
        added["PYTHONIOENCODING"] = "UTF-8"
    return added


def changes(before: Mapping[str, str], after: Mapping[str, str]) -> Tuple[Dict[str, str], List[str]]:
    """(set, unset): what turns environment ``before`` into ``after``."""
    set_ = {name: value for name, value in after.items() if before.get(name) != value}
    unset = sorted(name for name in before if name not in after)
    return dict(sorted(set_.items())), unset


def shell_script(project: Any, base: Optional[Mapping[str, str]] = None) -> str:
    """``export``/``unset`` lines that, evaluated by a POSIX shell whose environment is
    ``base`` (default: this process's), give the app's runtime environment."""
    base = dict(os.environ if base is None else base)
    set_, unset = changes(base, runtime_environ(project))
    lines = [f"export {name}={shlex.quote(value)}" for name, value in set_.items()]
    lines += [f"unset {name}" for name in unset]
    return "\n".join(lines)
