"""Which callable or command serves the application, and why.

``resolve(project)`` walks the rules below in order and stops at the first that
answers. Every rule it tries leaves a line in ``EntryPoint.steps`` so that
``warp detect`` and ``warp start --print`` can explain the decision, and the
error raised when nothing matches lists everything that was looked for.

1. the ``entrypoint`` setting (``warp.yaml``, ``WARP_ENTRYPOINT``, ``APP_MODULE``,
   ``--entrypoint``) naming ``package.module:callable``;
2. a ``Procfile`` ``web:`` line, run as given;
3. s2i/warpdrive conventions: ``gunicorn.conf.py`` naming ``wsgi_app``;
   ``APP_SCRIPT`` / an executable ``app.sh`` (run as is); ``APP_FILE`` /
   ``app.py`` run with the app's Python -- unless ``app.py`` merely defines
   ``application``/``app``, which is then served instead;
4. Django: the ``wsgi.py`` of the settings package ``manage.py`` names;
5. ``wsgi.py``, ``app.py``, ``application.py`` defining ``application`` or ``app``;
6. ``asgi.py``, ``main.py`` defining one (the usual ASGI layouts).

Whether a callable is WSGI or ASGI is read from the source, never by importing
the application into warp's process: an ``async def``, or an object made by a
known ASGI factory (FastAPI, Starlette, Django's ``get_asgi_application``...)
is ASGI. The ``interface`` setting overrides the guess.

Nothing here imports the app or anything beyond the standard library.
"""

from dataclasses import dataclass, replace
from pathlib import Path
import ast
import functools
import os
import re
from typing import Any, Callable, Dict, List, Mapping, Optional, Set, Tuple, Union

from warp.app.django import find_settings
from warp.core.config import Config
from warp.core.errors import DetectError, ConfigError, WarpError
from warp.core.project import Project

WSGI = "wsgi"
ASGI = "asgi"
COMMAND = "command"

CALLABLE_NAMES = ("application", "app")
CONVENTION_FILES = ("wsgi.py", "app.py", "application.py")
ASGI_CONVENTION_FILES = ("asgi.py", "main.py")

# Call names (last dotted part) that build an ASGI application.
ASGI_FACTORIES = {
    "FastAPI", "Starlette", "Quart", "Litestar", "Sanic", "get_asgi_application",
    "ASGIHandler", "ProtocolTypeRouter", "URLRouter",
}
# ...and a few that build a WSGI one, so that a wrapper around them is not
# mistaken for ASGI because the module also imports an ASGI package.
WSGI_FACTORIES = {"Flask", "get_wsgi_application", "WSGIHandler", "Bottle", "Pyramid", "make_wsgi_app", "App", "API"}
ASGI_MODULES = ("fastapi", "starlette", "quart", "litestar", "sanic", "django.core.asgi", "channels")

# Top-level calls that mean "this file starts a server itself when run".
SELF_STARTING_CALLS = {"run", "serve", "serve_forever", "run_simple", "run_app", "make_server", "main", "start"}

_MODULE_CALLABLE = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w.]*(\(.*\))?$")
_MODULE_ONLY = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*$")
# gunicorn's callable when APP_MODULE names a module only (s2i's APP_MODULE=wsgi).
GUNICORN_DEFAULT_CALLABLE = "application"
_WSGI_APPLICATION = re.compile(r"""^WSGI_APPLICATION\s*=\s*["']([\w.]+)["']""", re.M)
_ASGI_APPLICATION = re.compile(r"""^ASGI_APPLICATION\s*=\s*["']([\w.]+)["']""", re.M)


@dataclass(frozen=True)
class EntryPoint:
    """What serves the app.

    kind:   "wsgi" or "asgi" (target is ``module:callable``), or "command"
            (target is a command line, run as given).
    rule:   short name of the rule that decided (setting, procfile, s2i, django, convention, asgi-convention).
    reason: one sentence saying which file or setting decided.
    source: the file or setting name that decided.
    steps:  one line per rule tried, in order, ending with the one that matched.
    config_file: a server configuration file the app ships (APP_CONFIG, gunicorn.conf.py), if any.
    shell:  for commands: True when the line needs /bin/sh (pipes, &&, ...).
    """

    kind: str
    target: str
    rule: str
    reason: str
    source: str = ""
    steps: tuple = ()
    config_file: Optional[str] = None
    shell: bool = False
    server: Optional[str] = None
    server_reason: str = ""

    @property
    def module(self) -> Optional[str]:
        return self.target.split(":", 1)[0] if self.kind != COMMAND else None

    @property
    def callable(self) -> Optional[str]:
        return self.target.split(":", 1)[1] if self.kind != COMMAND else None

    def to_dict(self) -> Dict[str, Any]:
        return {
            "kind": self.kind,
            "target": self.target,
            "rule": self.rule,
            "reason": self.reason,
            "source": self.source,
            "steps": list(self.steps),
            "config_file": self.config_file,
            "server": self.server,
            "server_reason": self.server_reason,
        }


class NoEntryPoint(DetectError):
    """Nothing in the folder says what to serve."""


LOOKED_FOR = (
    "the entrypoint setting (warp.yaml entrypoint:, APP_MODULE, --entrypoint)",
    "a Procfile web: line",
    "gunicorn.conf.py with wsgi_app",
    "APP_SCRIPT or an executable app.sh",
    "APP_FILE or app.py",
    "manage.py naming DJANGO_SETTINGS_MODULE",
    "application or app in " + ", ".join(CONVENTION_FILES),
    "a module named after the project in setup.py, setup.cfg or pyproject.toml",
    "application or app in " + ", ".join(ASGI_CONVENTION_FILES),
)


# -- reading Python source without importing it

def _parse(path):
    try:
        return ast.parse(Path(path).read_text(encoding="utf-8", errors="replace"), filename=str(path))
    except (SyntaxError, ValueError, OSError):
        return None


def _call_name(node):
    """Last dotted part of what a Call calls: FastAPI() -> FastAPI, web.Application() -> Application."""
    func = node.func if isinstance(node, ast.Call) else None
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return None


def _factory_kind(value):
    """ASGI/WSGI when ``value`` is, or wraps, a call to a known factory; else None."""
    for node in ast.walk(value):
        name = _call_name(node)
        if name in WSGI_FACTORIES:
            return WSGI
        if name in ASGI_FACTORIES:
            return ASGI
    return None


def _top_level_names(tree):
    """{name: node} of the module's top-level definitions, including those under if/try."""
    names: Dict[str, ast.stmt] = {}

    def visit(body):
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names[node.name] = node
            elif isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        names[target.id] = node
            elif isinstance(node, (ast.AnnAssign, ast.AugAssign)) and isinstance(node.target, ast.Name):
                names[node.target.id] = node
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                for alias in node.names:
                    names[(alias.asname or alias.name).split(".")[0]] = node
            elif isinstance(node, ast.If) and not _is_main_guard(node):
                visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body)
                for handler in node.handlers:
                    visit(handler.body)

    visit(tree.body)
    return names


def _is_main_guard(node):
    test = node.test
    return (
        isinstance(node, ast.If)
        and isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Name)
        and test.left.id == "__name__"
        and any(isinstance(c, ast.Constant) and c.value == "__main__" for c in test.comparators)
    )


def _imports_asgi_package(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules = [node.module]
        else:
            continue
        if any(m == p or m.startswith(p + ".") for m in modules for p in ASGI_MODULES):
            return True
    return False


def interface_of(tree: ast.Module, name: str) -> str:
    """"asgi" or "wsgi" for top-level ``name`` in a parsed module, guessed from its definition."""
    node = _top_level_names(tree).get(name)
    if isinstance(node, ast.AsyncFunctionDef):
        return ASGI
    if isinstance(node, ast.FunctionDef):
        return WSGI
    if isinstance(node, ast.ClassDef):
        # A class with an async __call__ is an ASGI app class instance factory; rare, but cheap to see.
        for item in node.body:
            if isinstance(item, ast.AsyncFunctionDef) and item.name == "__call__":
                return ASGI
        return WSGI
    if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
        kind = _factory_kind(node.value)
        if kind:
            return kind
    if isinstance(node, ast.ImportFrom) and node.module and any(
        node.module == p or node.module.startswith(p + ".") for p in ASGI_MODULES
    ):
        return ASGI
    # A wrapper or re-export warp cannot follow: lean on what the module imports.
    return ASGI if _imports_asgi_package(tree) else WSGI


def _self_starting(tree):
    """True when the module starts a server at import time (an unguarded app.run(), serve(...))."""

    def calls(body):
        for node in body:
            if isinstance(node, ast.Expr) and _call_name(node.value) in SELF_STARTING_CALLS:
                yield node
            elif isinstance(node, ast.If) and not _is_main_guard(node):
                yield from calls(node.body)
                yield from calls(node.orelse)

    return any(True for _ in calls(tree.body))


def module_file(root: Path, module: str, home: Optional[Path] = None) -> Optional[Path]:
    """The source file of ``module`` inside the app (APP_HOME, root or src/ layout), or None."""
    parts = module.split(".")
    bases = ([home] if home is not None and home != root else []) + [root, root / "src"]
    for base in bases:
        for candidate in (base.joinpath(*parts).with_suffix(".py"), base.joinpath(*parts, "__init__.py")):
            if candidate.is_file():
                return candidate
    return None


def _served_callable(tree):
    """The first of application/app the module defines, or None."""
    names = _top_level_names(tree)
    for name in CALLABLE_NAMES:
        if name in names:
            return name
    return None


# -- the rules

class _Resolver:
    def __init__(self, project, environ):
        self.project = project
        self.root = Path(project.root)
        # s2i runs the app from APP_HOME; Procfile and gunicorn.conf.py are read at the root first.
        self.home = project.app_dir
        self.environ = project.environ if environ is None else environ
        self.steps = []
        self.interface = project.config.interface or "auto"

    def note(self, line):
        self.steps.append(line)

    def found(self, kind, target, rule, reason, source, **extra):
        self.note(f"{rule}: {reason}")
        return EntryPoint(kind=kind, target=target, rule=rule, reason=reason, source=source, steps=tuple(self.steps), **extra)

    def kind_of(self, module, name):
        """(kind, why) of module:name, from the interface setting or the module's source."""
        if self.interface in (WSGI, ASGI):
            return self.interface, f"interface setting says {self.interface}"
        path = module_file(self.root, module, self.home)
        tree = _parse(path) if path else None
        if tree is None:
            return WSGI, "source not found in the app folder, assumed WSGI (set interface: asgi if not)"
        kind = interface_of(tree, name.split(".")[0].split("(")[0])
        return kind, f"{kind.upper()} by its definition in {_shown(path, self.root)}"

    def callable_entry(self, module, name, rule, reason, source, **extra):
        kind, why = self.kind_of(module, name)
        return self.found(kind, f"{module}:{name}", rule, f"{reason}; {why}", source, **extra)

    # 1
    def setting(self):
        config = self.project.config
        value = config.entrypoint
        if not value:
            self.note("setting: entrypoint not set (warp.yaml entrypoint:, WARP_ENTRYPOINT, APP_MODULE, --entrypoint)")
            return None
        value = value.strip()
        where = config.source("entrypoint")
        if _MODULE_ONLY.match(value):
            # gunicorn (and so s2i's APP_MODULE=wsgi) serves module:application when no callable is named.
            self.note(f"setting: {value} names no callable; gunicorn's default {GUNICORN_DEFAULT_CALLABLE} is used")
            value = f"{value}:{GUNICORN_DEFAULT_CALLABLE}"
        if not _MODULE_CALLABLE.match(value):
            raise ConfigError(
                f"entrypoint {value!r} (from {where}) is not package.module:callable",
                "write it like mysite.wsgi:application (without quotes inside the value)",
            )
        module, name = value.split(":", 1)
        return self.callable_entry(module, name, "setting", f"entrypoint {value} from {where}", where)

    # 2
    def procfile(self):
        path = self.root / "Procfile"
        if not path.is_file():
            self.note("procfile: no Procfile")
            return None
        command = procfile_types(path).get("web")
        if not command:
            self.note("procfile: Procfile has no web: line")
            return None
        return self.found(COMMAND, command, "procfile", f"Procfile web: {command}", "Procfile", shell=needs_shell(command))

    # 3
    def s2i(self):
        conf = self.root / "gunicorn.conf.py"
        if conf.is_file():
            wsgi_app = _gunicorn_wsgi_app(conf)
            if wsgi_app and _MODULE_CALLABLE.match(wsgi_app):
                module, name = wsgi_app.split(":", 1)
                return self.callable_entry(
                    module, name, "s2i", f"gunicorn.conf.py sets wsgi_app = {wsgi_app!r}", "gunicorn.conf.py",
                    config_file=str(conf),
                )
            self.note("s2i: gunicorn.conf.py does not set wsgi_app")
        else:
            self.note("s2i: no gunicorn.conf.py")

        script = self.environ.get("APP_SCRIPT")
        if script:
            path = self.home / script
            if not path.is_file():
                raise ConfigError(f"APP_SCRIPT={script}: no such file in {self.home}", "point APP_SCRIPT at an executable in the app folder")
            if not os.access(path, os.X_OK):
                raise ConfigError(f"APP_SCRIPT={script}: {path} is not executable", f"chmod +x {script} (and commit the mode)")
            return self.found(COMMAND, str(path), "s2i", f"APP_SCRIPT={script}, run as is", "APP_SCRIPT")
        app_sh = self.home / "app.sh"
        if app_sh.is_file() and os.access(app_sh, os.X_OK):
            return self.found(COMMAND, str(app_sh), "s2i", "executable app.sh, run as is", "app.sh")
        self.note("s2i: no APP_SCRIPT, no executable app.sh")

        app_file = self.environ.get("APP_FILE")
        if app_file:
            path = self.home / app_file
            if not path.is_file():
                raise ConfigError(f"APP_FILE={app_file}: no such file in {self.home}", "point APP_FILE at a Python file in the app folder")
            return self.found(COMMAND, f"python {app_file}", "s2i", f"APP_FILE={app_file}, run with the app's Python", "APP_FILE")
        app_py = self.home / "app.py"
        if app_py.is_file():
            tree = _parse(app_py)
            name = _served_callable(tree) if tree is not None else None
            if name and not _self_starting(tree):
                self.note(f"s2i: app.py defines {name} and starts nothing itself, so it is served, not run")
                return None
            if tree is not None:
                return self.found(
                    COMMAND, "python app.py", "s2i",
                    "app.py " + ("starts a server at import time" if name else "defines no application/app") + ", run with the app's Python",
                    "app.py",
                )
        self.note("s2i: no APP_FILE, no app.py to run")
        return None

    # 4
    def django(self):
        manage = self.home / "manage.py"
        if not manage.is_file():
            self.note("django: no manage.py")
            return None
        settings = find_settings(self.home, self.environ)
        settings_module = settings.module
        named = f"manage.py names DJANGO_SETTINGS_MODULE={settings_module}" if settings.source == "manage.py" \
            else f"DJANGO_SETTINGS_MODULE={settings_module} ({settings.reason})"
        if not settings_module:
            self.note("django: manage.py does not name DJANGO_SETTINGS_MODULE")
            return None
        settings_file = module_file(self.root, settings_module, self.home)
        settings_text = settings_file.read_text(encoding="utf-8", errors="replace") if settings_file else ""
        # Serve ASGI only when it was asked for; Django's default deployment is WSGI.
        want_asgi = self.interface == ASGI or (
            self.interface == "auto" and self.project.config.server == "uvicorn"
            and self.project.config.source("server") != "default"
        )
        candidates = []
        if want_asgi:
            declared = _ASGI_APPLICATION.search(settings_text)
            if declared:
                candidates.append((declared.group(1), ASGI, "ASGI_APPLICATION in " + settings_module))
            for depth in range(len(settings_module.split(".")) - 1, -1, -1):
                prefix = ".".join(settings_module.split(".")[:depth])
                module = f"{prefix}.asgi" if prefix else "asgi"
                candidates.append((module + ".application", ASGI, module.replace(".", "/") + ".py"))
        declared = _WSGI_APPLICATION.search(settings_text)
        if declared:
            candidates.append((declared.group(1), WSGI, "WSGI_APPLICATION in " + settings_module))
        # settings may be a package (config.settings.production): try each parent package's wsgi.py.
        parents = settings_module.split(".")[:-1]
        for depth in range(len(parents), -1, -1):
            prefix = ".".join(parents[:depth])
            module = f"{prefix}.wsgi" if prefix else "wsgi"
            candidates.append((module + ".application", WSGI, module.replace(".", "/") + ".py"))
        for dotted, kind, why in candidates:
            module, name = dotted.rsplit(".", 1)
            if module_file(self.root, module, self.home):
                return self.found(
                    kind, f"{module}:{name}", "django",
                    f"{named}; {why} gives {module}:{name}",
                    "manage.py",
                )
        self.note(f"django: {named} but no wsgi.py was found beside it")
        return None

    # 5 and 6
    def convention(self, files, rule):
        for filename in files:
            path = self.home / filename
            if not path.is_file():
                continue
            tree = _parse(path)
            if tree is None:
                self.note(f"{rule}: {filename} does not parse as Python")
                continue
            name = _served_callable(tree)
            if name:
                module = filename[:-3]
                return self.callable_entry(module, name, rule, f"{filename} defines {name}", filename)
            self.note(f"{rule}: {filename} defines neither application nor app")
        self.note(f"{rule}: no application/app in " + ", ".join(files))
        return None

    # 5b
    def project_module(self):
        """s2i's rule for setup.py projects: the module named after the project serves ``application``.

        s2i reads the name with ``python setup.py --name``; warp reads it without
        running anything (setup.py's ``setup(name=...)``, setup.cfg's
        ``[metadata] name``, pyproject.toml's ``[project] name``).
        """
        found = project_name(self.root) if self.home == self.root else (project_name(self.home) or project_name(self.root))
        if found is None:
            self.note("project: no project name in setup.py, setup.cfg or pyproject.toml")
            return None
        name, source = found
        module = re.sub(r"[-.]+", "_", name)
        path = module_file(self.root, module, self.home)
        if path is None:
            self.note(f"project: {source} names {name}, but there is no module {module} in the app")
            return None
        tree = _parse(path)
        callable_name = _served_callable(tree) if tree is not None else None
        if callable_name is None:
            self.note(f"project: {source} names {name}, and {_shown(path, self.root)} defines neither application nor app")
            return None
        return self.callable_entry(module, callable_name, "project",
                                   f"{source} names the project {name}, and module {module} defines {callable_name}", source)

    def resolve(self):
        for rule in (
            self.setting,
            self.procfile,
            self.s2i,
            self.django,
            lambda: self.convention(CONVENTION_FILES, "convention"),
            self.project_module,
            lambda: self.convention(ASGI_CONVENTION_FILES, "asgi-convention"),
        ):
            entry = rule()
            if entry is not None:
                return entry
        raise NoEntryPoint(
            f"no entry point found in {self.root}: looked for " + "; ".join(LOOKED_FOR),
            "set entrypoint: package.module:callable in warp.yaml",
        )


def resolve(project: Project, environ: Optional[Mapping[str, str]] = None) -> EntryPoint:
    """The EntryPoint of ``project`` (a warp.core.project.Project), by the ordered rules above.

    ``environ`` supplies APP_SCRIPT / APP_FILE (default: ``project.environ``, the
    environment the project was opened with).
    Raises NoEntryPoint (exit 2) listing what was looked for when no rule matches.
    """
    resolver = _Resolver(project, environ)
    entry = resolver.resolve()
    if entry.kind != COMMAND:
        conf, conf_why = gunicorn_config(project, resolver.environ)
        if conf is not None:
            entry = replace(entry, config_file=str(conf))
        server, why = choose_server(project.config, entry, _app_server(project, conf, conf_why))
    else:
        server, why = choose_server(project.config, entry)
    return replace(entry, server=server, server_reason=why)


def gunicorn_config(project: Project, environ: Optional[Mapping[str, str]] = None) -> Tuple[Optional[Path], str]:
    """(path, why) of the gunicorn configuration the app ships, or (None, "").

    ``APP_CONFIG`` (s2i passes it to gunicorn as --config, relative to APP_HOME),
    else a ``gunicorn.conf.py`` in APP_HOME or the root (gunicorn reads one from
    its working directory by itself). ``why`` says what makes it a choice of
    server: APP_CONFIG, or the file setting ``wsgi_app`` or ``bind``; empty when
    the file only tunes gunicorn.
    """
    environ = project.environ if environ is None else environ
    root = Path(project.root)
    home = project.app_dir
    named = (environ.get("APP_CONFIG") or "").strip()
    if named:
        path = (home / named).resolve()
        if not path.is_file():
            raise ConfigError(f"APP_CONFIG={named}: no such file in {home}", "point APP_CONFIG at the app's gunicorn configuration file")
        return path, f"APP_CONFIG={named} names it"
    for folder in dict.fromkeys((home, root)):
        path = folder / "gunicorn.conf.py"
        if path.is_file():
            chosen = [name for name in ("wsgi_app", "bind") if gunicorn_setting(path, name) is not None]
            return path, (f"{_shown(path, root)} sets " + " and ".join(chosen)) if chosen else ""
    return None, ""


def _app_server(project: Project, conf: Optional[Path], conf_why: str) -> Optional[Tuple[str, str]]:
    """(server, why) when the app chose gunicorn itself: a configuration that picks it, and gunicorn declared."""
    if conf is None or not conf_why:
        return None
    where = declaring_file(project.root, "gunicorn")
    if where is None:
        return None
    return "gunicorn", f"{conf_why} and {where} lists gunicorn: the app chose and configured its server (set server: to override)"


def declaring_file(root: Path, name: str) -> Optional[str]:
    """The first of the app's dependency files that names distribution ``name``, or None.

    A plain reading of the files (requirements.txt and what it includes, the
    project files, Pipfile and the lock files), enough to see that the app
    chose a server; which of them is installed is the buildpacks' business.
    """
    import json

    from warp.app.package_manager import project_names, requirement_names
    from warp.app.requirements import canonical_name, read_requirements
    from warp.core.toml import load_toml

    wanted = canonical_name(name)
    readers: List[Tuple[str, Callable[[], Set[str]]]] = []
    if (root / "requirements.txt").is_file():
        readers.append(("requirements.txt", lambda: {n for f in read_requirements(root / "requirements.txt")
                                                     if not f.constraint for n in requirement_names(f.lines)}))
    readers.append(("the project files", lambda: project_names(root)))
    if (root / "Pipfile").is_file():
        readers.append(("Pipfile", lambda: {canonical_name(n) for n in (load_toml(root / "Pipfile").get("packages") or {})}))
    if (root / "Pipfile.lock").is_file():
        readers.append(("Pipfile.lock", lambda: {canonical_name(n) for n in
                                                 (json.loads((root / "Pipfile.lock").read_text(encoding="utf-8")).get("default") or {})}))
    def locked(lock: str) -> Set[str]:
        return {canonical_name(str(p.get("name", ""))) for p in load_toml(root / lock).get("package", [])}

    for lock in ("poetry.lock", "uv.lock"):
        if (root / lock).is_file():
            readers.append((lock, functools.partial(locked, lock)))
    for label, read in readers:
        try:
            if wanted in read():
                return label
        except (WarpError, OSError, ValueError, AttributeError):
            continue
    return None


def choose_server(config: Config, entry: EntryPoint,
                  app_server: Optional[Tuple[str, str]] = None) -> Tuple[Optional[str], str]:
    """(server name or None, why) for an entry point: the setting; else the server the app
    configured itself (``app_server``: gunicorn with its own gunicorn.conf.py); else uvicorn
    for ASGI, the bundled server for WSGI.

    An explicit server that cannot serve the entry point is still returned (the
    launcher refuses it with a clear line); detection must not fail over it.
    """
    if entry.kind == COMMAND:
        return None, f"{entry.source} command runs as given; the server setting does not apply"
    server = config.server
    source = config.source("server")
    if source == "default" and app_server is not None and entry.kind == WSGI:
        return app_server
    if source == "default" and entry.kind == ASGI:
        return "uvicorn", "the entry point is ASGI and the bundled server serves WSGI only"
    if source == "default":
        return server, "default"
    return server, f"server from {source}"


# -- Procfile

def procfile_types(path: Union[str, Path]) -> Dict[str, str]:
    """{process type: command} of a Procfile (``name: command`` lines; # comments)."""
    types = {}
    text = Path(path).read_text(encoding="utf-8", errors="replace")
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = re.match(r"^([A-Za-z0-9_-]+)\s*:\s*(.+)$", line)
        if match:
            types[match.group(1)] = match.group(2).strip()
    return types


_SHELL_SYNTAX = re.compile(r"[|&;<>()`*?\[\]~]|\$\(|\n")


def needs_shell(command: str) -> bool:
    """True when a command line uses shell syntax beyond $VAR expansion."""
    return bool(_SHELL_SYNTAX.search(command))


def gunicorn_setting(path: "Union[str, os.PathLike[str]]", name: str) -> Union[str, bool, None]:
    """The value of top-level ``name`` in a gunicorn config file: the string when it is one, True when
    set to something else, None when not set."""
    tree = _parse(path)
    if tree is None:
        return None
    node = _top_level_names(tree).get(name)
    if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
        return node.value.value
    return True if node is not None else None


def _gunicorn_wsgi_app(path):
    value = gunicorn_setting(path, "wsgi_app")
    return value if isinstance(value, str) else None


def _shown(path, root):
    try:
        return str(Path(path).relative_to(root))
    except ValueError:
        return str(path)


def project_name(folder: "Union[str, os.PathLike[str]]") -> Optional[Tuple[str, str]]:
    """(name, file) of the project declared in ``folder``'s setup.py, setup.cfg or pyproject.toml; or None."""
    import configparser

    folder = Path(folder)
    setup_py = folder / "setup.py"
    if setup_py.is_file():
        tree = _parse(setup_py)
        for node in ast.walk(tree) if tree is not None else ():
            if isinstance(node, ast.Call) and _call_name(node) == "setup":
                for keyword in node.keywords:
                    if keyword.arg == "name" and isinstance(keyword.value, ast.Constant) and isinstance(keyword.value.value, str):
                        return keyword.value.value, "setup.py"
    setup_cfg = folder / "setup.cfg"
    if setup_cfg.is_file():
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read(setup_cfg, encoding="utf-8")
            name = parser.get("metadata", "name", fallback="").strip()
        except configparser.Error:
            name = ""
        if name:
            return name, "setup.cfg"
    pyproject = folder / "pyproject.toml"
    if pyproject.is_file():
        from warp.core.toml import load_toml

        try:
            declared = (load_toml(pyproject).get("project") or {}).get("name")
        except (DetectError, ConfigError, OSError, ValueError):
            declared = None
        if isinstance(declared, str) and declared.strip():
            return declared.strip(), "pyproject.toml"
    return None
