"""What warp finds in an application folder, and why.

``detect(project)`` reads files only (no interpreter is run, nothing is
installed) and returns a ``Detection``: each fact carries its value and the
reason, naming the file or setting that decided it. Which package manager the
app uses is an input (``warp.app.package_manager.Choice``): the buildpacks
decide it, in ``warp.build.recognise``, which also composes these facts with
their answers for ``warp detect`` and ``warp build``.
"""

from dataclasses import astuple, dataclass, field, replace
from pathlib import Path
from typing import Any, Collection, Dict, List, Mapping, Optional, Sequence, Tuple, Union
import os
import re

from warp.app.django import find_settings, manage_settings
from warp.app.package_manager import Choice
from warp.app.hooks import find_hooks
from warp.app.installer import choose_installer
from warp.app.python import choose_interpreter, find_interpreters, wanted_python
from warp.core.errors import DetectError, EXIT_FAILURE, WarpError
from warp.core.project import Project


class NoAppError(DetectError):
    """Nothing in the folder looks like a Python application (a failure, exit 1, as the issue asks)."""

    exit_code = EXIT_FAILURE


@dataclass(frozen=True)
class Fact:
    value: object
    reason: str

    def to_dict(self) -> Dict[str, Any]:
        value = self.value
        if isinstance(value, Path):
            value = str(value)
        elif isinstance(value, dict):
            value = {k: str(v) if isinstance(v, Path) else v for k, v in value.items()}
        elif isinstance(value, (list, tuple)):
            value = [str(v) if isinstance(v, Path) else v for v in value]
        return {"value": value, "reason": self.reason}


@dataclass(frozen=True)
class Detection:
    root: Path
    python: Fact  # version or specifier wanted, or None
    interpreter: Fact  # path of the host interpreter that satisfies it, or None
    host_pythons: tuple  # warp.app.python.Interpreter, warp's own first, then newest first
    package_manager: Fact  # name or None
    dependency_files: tuple  # relative names
    framework: Fact  # "django", "flask", "asgi", "wsgi" or None
    django_settings: Fact  # settings module, or None
    installer: Fact  # "pip" or "uv"
    entrypoint: Fact
    server: Fact
    hooks: Fact  # {name: path}
    dependencies: frozenset = field(default_factory=frozenset)

    def to_dict(self) -> Dict[str, Any]:
        return {
            "app": str(self.root),
            "python": self.python.to_dict(),
            "interpreter": self.interpreter.to_dict(),
            "host_pythons": [{"version": i.version_text, "path": str(i.path)} for i in self.host_pythons],
            "package_manager": {**self.package_manager.to_dict(), "files": list(self.dependency_files)},
            "framework": self.framework.to_dict(),
            "django_settings": self.django_settings.to_dict(),
            "installer": self.installer.to_dict(),
            "entrypoint": self.entrypoint.to_dict(),
            "server": self.server.to_dict(),
            "hooks": self.hooks.to_dict(),
        }


def _interpreter_fact(wanted, hosts):
    try:
        chosen = choose_interpreter(wanted.value, wanted.reason, interpreters=list(hosts))
    except WarpError as exc:
        return Fact(None, exc.message)
    return Fact(str(chosen.path), f"Python {chosen.version_text} satisfies {wanted.value or 'any version'}; host has "
                + ", ".join(i.version_text for i in hosts))


_SKIP_DIRS = {"node_modules", "__pycache__", "site-packages", "staticfiles", "venv", "env", "build", "dist"}


def python_files(root: Union[str, Path], limit: int = 400) -> List[Path]:
    """The app's own .py files, two folders deep (and under src/), skipping venvs and hidden folders."""
    root = Path(root)
    found: List[Path] = []

    def walk(folder: Union[str, Path], depth: int) -> None:
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            return
        for entry in entries:
            if len(found) >= limit:
                return
            if entry.name.startswith("."):
                continue
            if entry.is_file() and entry.name.endswith(".py"):
                found.append(Path(entry.path))
            elif entry.is_dir() and depth > 0 and entry.name not in _SKIP_DIRS:
                if not os.path.exists(os.path.join(entry.path, "pyvenv.cfg")):
                    walk(entry.path, depth - 1 if entry.name != "src" else depth)

    walk(root, 2)
    return found


def _read(path, limit=256 * 1024):
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read(limit)
    except OSError:
        return ""


_ASGI_PACKAGES = ("fastapi", "starlette", "quart", "litestar", "sanic", "django-channels", "channels")
_WSGI_PACKAGES = ("bottle", "pyramid", "falcon", "webob", "werkzeug", "cherrypy", "web-py")
_FLASK_CODE = re.compile(r"^\s*(from\s+flask\s+import|import\s+flask)\b", re.M)
_ASGI_CODE = re.compile(r"^\s*async\s+def\s+\w+\s*\(\s*scope\s*,\s*receive\s*,\s*send\s*\)", re.M)
_WSGI_CODE = re.compile(r"^\s*def\s+\w+\s*\(\s*environ\s*,\s*start_response\s*\)", re.M)


def framework(root: Union[str, Path], names: Collection[str], files: Sequence[Path],
              environ: Optional[Mapping[str, str]] = None) -> Tuple[Fact, Fact]:
    """(framework Fact, django settings Fact) from the declared dependencies and the code.

    ``environ`` is the app's environment: its DJANGO_SETTINGS_MODULE names the settings of a Django app.
    """
    root = Path(root)

    def rel(path):
        return str(Path(path).relative_to(root))

    managed = manage_settings(root)
    if managed or "django" in names:
        settings = find_settings(root, environ, files)
        why = f"manage.py sets DJANGO_SETTINGS_MODULE={managed}" if managed else "django is a declared dependency"
        return Fact("django", why), Fact(settings.module, settings.reason)
    none = Fact(None, "not a Django project")
    if "flask" in names:
        return Fact("flask", "flask is a declared dependency"), none
    for package in _ASGI_PACKAGES:
        if package in names:
            return Fact("asgi", f"{package} is a declared dependency"), none
    texts = [(path, _read(path)) for path in files]
    for path, text in texts:
        if _FLASK_CODE.search(text):
            return Fact("flask", f"{rel(path)} imports flask"), none
    for path, text in texts:
        if _ASGI_CODE.search(text):
            return Fact("asgi", f"{rel(path)} defines an ASGI callable (scope, receive, send)"), none
    for package in _WSGI_PACKAGES:
        if package in names:
            return Fact("wsgi", f"{package} is a declared dependency"), none
    for path, text in texts:
        if _WSGI_CODE.search(text):
            return Fact("wsgi", f"{rel(path)} defines a WSGI callable (environ, start_response)"), none
    return Fact(None, "no known framework in the dependencies and no WSGI/ASGI callable in the code"), none


def _entrypoint(project):
    """(entry point Fact, server Fact) from warp.app.entrypoint, which owns those rules."""
    from warp.app.entrypoint import resolve

    server = Fact(project.config.server, f"server={project.config.server} from {project.config.source('server')}")
    try:
        entry = resolve(project)
    except WarpError as exc:
        return Fact(None, exc.message), Fact(None, "no entry point to serve")
    value = {"kind": entry.kind, "target": entry.target}
    if entry.server or entry.server_reason:
        server = Fact(entry.server, entry.server_reason)
    return Fact(value, entry.reason), server


def _hooks(project):
    found = find_hooks(project)
    if not found:
        return Fact({}, "no hooks in .warp/hooks, .warpdrive/action_hooks or bin/pre_compile, bin/post_compile")
    shown = {name: str(Path(path).relative_to(project.root)) if Path(path).is_relative_to(project.root) else str(path)
             for name, path in found.items()}
    return Fact(shown, ", ".join(f"{name}: {path}" for name, path in shown.items()))


def detect(project: Project, choice: Choice) -> Detection:
    """Every fact warp needs about the app in ``project.root``, its package manager being ``choice``.

    NoAppError when there is no app.
    """
    root = project.root
    files = python_files(root)
    if choice.name is None and not files and not (root / "Procfile").is_file():
        raise NoAppError(
            f"{root}: no Python application here ({choice.reason}, no Procfile, no .py file)",
            "run warp in the application's folder or pass --app DIR",
        )
    names = set(choice.names)
    wanted = Fact(*astuple(wanted_python(project)))
    hosts = tuple(find_interpreters(project.environ))
    home = project.app_dir
    framework_fact, settings_fact = framework(home, names, files if home == root else python_files(home), project.environ)
    detection = Detection(
        root=root,
        python=wanted,
        interpreter=_interpreter_fact(wanted, hosts),
        host_pythons=hosts,
        package_manager=Fact(choice.name, choice.reason),
        dependency_files=choice.files,
        framework=framework_fact,
        django_settings=settings_fact,
        installer=Fact(*choose_installer(project, choice.installer, choice.files[0] if choice.files else "")),
        entrypoint=Fact(None, "not resolved yet"),
        server=Fact(None, "not resolved yet"),
        hooks=Fact({}, ""),
        dependencies=frozenset(names),
    )
    entrypoint, server = _entrypoint(project)
    return replace(detection, entrypoint=entrypoint, server=server, hooks=_hooks(project))


def render_text(detection: Detection, more: Sequence[Tuple[str, str, str]] = ()) -> str:
    """The facts as short lines for people: "name  value  (why)"; ``more`` adds rows (name, value, why) of the layers above."""
    def shown(value):
        if value is None or value == {} or value == []:
            return "none"
        if isinstance(value, dict) and "kind" in value and "target" in value:
            return f"{value['target']} ({value['kind']})"
        if isinstance(value, dict):
            return ", ".join(f"{k}={v}" for k, v in value.items())
        return str(value)

    d = detection
    rows = [
        ("app", str(d.root), ""),
        ("python", shown(d.python.value), d.python.reason),
        ("interpreter", shown(d.interpreter.value), d.interpreter.reason),
        ("dependencies", shown(d.package_manager.value) + (f" ({', '.join(d.dependency_files)})" if d.dependency_files else ""),
         d.package_manager.reason),
        ("installer", shown(d.installer.value), d.installer.reason),
        ("framework", shown(d.framework.value), d.framework.reason),
    ]
    if d.django_settings.value:
        rows.append(("django settings", d.django_settings.value, d.django_settings.reason))
    rows += [
        ("entry point", shown(d.entrypoint.value), d.entrypoint.reason),
        ("server", shown(d.server.value), d.server.reason),
        ("hooks", shown(d.hooks.value), "" if d.hooks.value else d.hooks.reason),
        *more,
    ]
    width = max(len(name) for name, _, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" + (f"  ({why})" if why else "") for name, value, why in rows)
