"""``warp start``: from the resolved settings to the exact command that serves the app.

One module per server (bundled, gunicorn, uwsgi, waitress, mod_wsgi, uvicorn)
turns the same ``Launch`` (warp's settings, resolved once) into that server's
native flags. ``plan_start`` gathers everything into a ``Plan`` (argv, complete
environment, files to write, startup facts); ``warp start --print`` shows it and
``run_plan`` replaces warp with it (``os.execvpe``), so signals and the exit
status belong to the server. ``server_requirements`` tells ``warp build`` what
to install in the app's environment for the chosen server.
"""

from pathlib import Path
from types import ModuleType
from typing import Dict, List, Mapping, NoReturn, Optional, Sequence, Tuple
import importlib
import os
import shlex

from warp.app.entrypoint import ASGI, COMMAND, WSGI, EntryPoint, NoEntryPoint, procfile_types, resolve
from warp.app.detect import Detection
from warp.build.hooks import HookOutput, run_hook
from warp.core.errors import ConfigError, StartError
from warp.core.project import Project
from warp.core.settings import SERVERS
from warp.launch.plan import Launch, Plan, launch_settings

# Pinned like the servers' own packages (see each launch/<server>.py).
# Servers that neither reap orphaned processes nor would be safe as PID 1 on
# their own; in a container without an init, warp puts its relay in front.
NEED_INIT = ("uvicorn", "waitress")

WHITENOISE = ('whitenoise==6.12.0; python_version >= "3.10"', 'whitenoise==6.11.0; python_version < "3.10"')
WARPDRIVE_SERVER_ARGS = ".warpdrive/server_args"


_SERVER_NAMES = {"bundled": "the bundled server"}


def server_module(name: str) -> ModuleType:
    if name not in SERVERS:
        raise ConfigError(f"unknown server {name!r}", "choose one of " + ", ".join(SERVERS))
    return importlib.import_module(f"{__name__}.{name}")


def _static_wanted(project, entry):
    """Will static files be served? The static setting, or a Django project (STATIC_URL is always set)."""
    if project.config.static:
        return True
    return entry is not None and (entry.rule == "django" or (project.root / "manage.py").is_file())


def server_requirements(project: Project, detection: Optional[Detection] = None) -> List[str]:
    """Pinned requirement strings ``warp build`` installs into the app's environment.

    The chosen server's packages, plus WhiteNoise when static files must be
    served and that server cannot serve them itself. Nothing for an app whose
    Procfile/app.sh runs its own command. Raises BuildError (one line) when the
    server cannot be built on this machine (mod_wsgi without apxs).
    """
    try:
        entry = resolve(project)
    except NoEntryPoint:
        entry = None
    if entry is not None and entry.kind == COMMAND:
        if project.config.source("server") == "default":
            return []
        server = project.config.server
    else:
        server = entry.server if entry is not None else project.config.server
    module = server_module(server)
    if server == "mod_wsgi":
        module.check_build_tools()
    wanted = list(module.REQUIREMENTS)
    if not module.NATIVE_STATIC and _static_wanted(project, entry):
        wanted.extend(WHITENOISE)
    return wanted


def read_server_args(project: Project) -> Tuple[str, ...]:
    """Extra native flags: the server_args setting, then warpdrive's .warpdrive/server_args file."""
    args = list(project.config.server_args or [])
    path = project.root / WARPDRIVE_SERVER_ARGS
    if path.is_file():
        text = " ".join(line for line in path.read_text(encoding="utf-8").splitlines() if not line.lstrip().startswith("#"))
        try:
            args += shlex.split(text)
        except ValueError as exc:
            raise ConfigError(f"{path}: cannot parse: {exc}", "write the flags as a shell would, one or more per line") from None
    return tuple(args)


def _require_env(project):
    if not project.python.exists():
        raise StartError(f"no application environment at {project.venv}", "run `warp build` first")


def _explicit(project):
    return frozenset(name for name, source in project.config.sources.items() if source != "default")


def _as_init(project, argv, env, supervised=False):
    """argv behind warp's relay when warp runs as PID 1 (a container without an init).

    PID 1 gets no default signal actions (TERM would be ignored by a program
    without a handler) and inherits every orphan; the relay forwards signals and
    reaps. Returns (argv, env) unchanged otherwise.
    """
    if os.getpid() != 1 or supervised:
        # Under `warp start --all` warp itself is the init: it reaps and relays.
        return tuple(argv), env
    from warp.launch.pythonpath import run_dir_for, warp_pythonpath

    env = dict(env)
    pythonpath = str(warp_pythonpath(run_dir_for(project)))
    if not env.get("PYTHONPATH", "").startswith(pythonpath):
        env["PYTHONPATH"] = os.pathsep.join([pythonpath] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    return (str(project.python), "-m", "warp.runtime.shim", "relay", "--") + tuple(argv), env


def _command_plan(project, env, entry, line, process_type, shell, supervised=False):
    from warp.launch.command import command

    _require_env(project)
    cmd = command(line, env, python=project.python, shell=shell)
    argv, env = _as_init(project, cmd.argv, env, supervised)
    label = "Procfile " + process_type if entry is None or entry.rule == "procfile" else entry.source
    facts = (
        ("app", f"{label}: {line}" + ("" if entry is None else f" ({entry.reason})")),
        ("server", "none: the command serves the app itself" if process_type == "web" else f"none: process type {process_type}"),
        ("address", f"PORT={env.get('PORT')}"),
    )
    return Plan(server=None, argv=argv, env=env, changed=_changed(env), cwd=project.app_dir, files={},
                facts=facts, entry=entry, process_type=process_type)


def _changed(env, base=None):
    base = os.environ if base is None else base
    return {name: value for name, value in sorted(env.items()) if base.get(name) != value}


def plan_start(project: Project, env: Mapping[str, str], process_type: str = "web", supervised: bool = False) -> Plan:
    """The Plan that starts ``process_type`` of ``project`` with runtime environment ``env``.

    ``supervised``: warp's Procfile supervisor runs the plan and is the init itself,
    so no relay goes in front even as PID 1.
    """
    from warp.launch.pythonpath import run_dir_for, warp_pythonpath
    from warp.launch.static import static_map
    from warp.runtime.workers import default_workers

    if process_type != "web":
        types = procfile_process_types(project)
        if process_type not in types:
            known = ", ".join(sorted(types)) or "none"
            raise ConfigError(f"no process type {process_type!r} in {project.root / 'Procfile'}", f"Procfile has: {known}")
        from warp.app.entrypoint import needs_shell

        line = types[process_type]
        return _command_plan(project, env, None, line, process_type, needs_shell(line), supervised)

    entry = resolve(project, environ=env)
    if entry.kind == COMMAND:
        shell = entry.shell
        line = entry.target
        if entry.rule == "s2i" and entry.source in ("APP_SCRIPT", "app.sh"):
            line, shell = shlex.quote(entry.target), False
        return _command_plan(project, env, entry, line, process_type, shell, supervised)

    _require_env(project)
    check_dev_switches(project)
    server = entry.server
    assert server is not None, "resolve() gives every callable entry point a server"
    module = server_module(server)
    config = project.config
    run_dir = run_dir_for(project)
    pythonpath = warp_pythonpath(run_dir)

    if config.workers:
        workers, workers_why = config.workers, f"from {config.source('workers')}"
    else:
        workers, workers_why = default_workers()
    static, static_why = static_map(project, project.python, env)

    extra_env = {}
    app_target = entry.target
    shim = bool(static) and not module.NATIVE_STATIC
    develop = dev_environ(project, entry)
    if develop:
        # --debug and --record are WSGI middleware in the shim, so every WSGI server has them.
        extra_env.update(develop)
        if config.debug:
            workers, workers_why = 1, "--debug: one worker, one thread, no request timeout"
    if shim or module.ALWAYS_SHIM or develop:
        if static and not module.NATIVE_STATIC and not _has_package(project, "whitenoise"):
            raise StartError(
                f"{entry.server} serves static files through WhiteNoise, which is not in {project.venv}",
                "run `warp build` (it installs WhiteNoise when static files need it)",
            )
        app_target = "warp.runtime.shim:asgi" if entry.kind == ASGI else "warp.runtime.shim:application"
        extra_env["WARP_APP"] = entry.target
        extra_env["WARP_STATIC_MAP"] = _json({prefix: folder for prefix, folder in static}) if shim else "{}"

    settings = {s.name: config.values[s.name] for s in launch_settings()}
    settings.update(
        entrypoint=entry.target, server=entry.server, workers=workers, static=static,
        trusted_proxies=tuple(config.trusted_proxies or ()), server_args=read_server_args(project),
    )
    if config.debug:
        settings.update(threads=1, timeout=0)
    launch = Launch(
        root=project.app_dir, python=project.python, venv_bin=project.venv_bin, entry=entry, app_target=app_target,
        pythonpath=pythonpath, run_dir=run_dir, settings=settings, explicit=_explicit(project),
    )
    if entry.kind not in module.INTERFACES:
        served = " and ".join(kind.upper() for kind in module.INTERFACES)
        raise StartError(
            f"{_SERVER_NAMES.get(server, server)} serves {served} only, and {entry.target} is "
            f"{entry.kind.upper()} ({entry.reason})",
            "set server: uvicorn (or leave server unset to let warp choose it)",
        )
    wanted = [name for name in ("metrics", "slow_request") if launch.settings.get(name)]
    if wanted and entry.server != "bundled":
        from warp.launch.status import OTHER_SERVERS

        offers, how = OTHER_SERVERS.get(entry.server or "", ("", ""))
        raise StartError(
            f"{' and '.join(wanted)} belong to the bundled server, and this app runs under {entry.server}"
            + (f"; {offers}" if offers else ""),
            f"unset {' and '.join(wanted)}, or use the bundled server" + (f"; or {how}" if how else ""),
        )
    if launch.services and entry.server != "bundled":
        raise StartError(
            f"side services run in the bundled server's master, and this app runs under {entry.server}",
            "use the bundled server, or make each service a Procfile type and run `warp start --all`",
        )
    cmd = module.command(launch)
    program = Path(cmd.argv[0])
    if program.is_absolute() and not program.exists():
        raise StartError(
            f"{entry.server} is not installed in the application environment ({program} is missing)",
            f"run `warp build` with server: {entry.server}",
        )

    full = dict(env)
    full.update(extra_env)
    full.update(cmd.env)
    # Under APP_HOME the root stays importable, as s2i's run script puts it on PYTHONPATH.
    roots = [str(project.root)] if project.app_dir != project.root else []
    full["PYTHONPATH"] = os.pathsep.join([str(pythonpath)] + roots + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    argv = tuple(cmd.argv)
    if server == "mod_wsgi" and "--locale" not in argv and full.get("LC_ALL"):
        # mod_wsgi-express sets Apache's locale itself (en_US.UTF-8 when it can); give it the app's.
        argv += ("--locale", full["LC_ALL"])
    if entry.server in NEED_INIT:
        argv, full = _as_init(project, argv, full, supervised)

    shown_host = "127.0.0.1" if config.host in ("0.0.0.0", "") else ("[::1]" if config.host == "::" else launch.bind.rsplit(":", 1)[0])
    facts = [
        ("app", f"{entry.target} ({entry.kind.upper()}; {entry.reason})"),
        ("server", f"{entry.server} ({entry.server_reason})"),
        ("address", f"http://{shown_host}:{config.port}/ (listening on {launch.bind})"),
        ("workers", f"{workers} ({workers_why})" + (f" x {config.threads} threads" if config.threads > 1 else "")),
        ("static", ", ".join(f"{prefix} -> {folder}" for prefix, folder in static) + (f" ({'; '.join(static_why)})" if static_why else "")
         if static else "none" + (f" ({'; '.join(static_why)})" if static_why else "")),
    ]
    if static and shim:
        facts.append(("static via", "WhiteNoise (this server cannot serve files itself)"))
    facts += list(cmd.notes)
    shown = {name: [list(pair) for pair in value] if name == "static" else (list(value) if isinstance(value, tuple) else value)
             for name, value in settings.items()}
    sources = {name: config.sources.get(name, "default") for name in settings}
    return Plan(server=server, argv=argv, env=full, changed=_changed(full), cwd=project.app_dir,
                files=dict(cmd.files), facts=tuple(facts), entry=entry, process_type=process_type,
                settings=shown, sources=sources)


def check_dev_switches(project: Project) -> None:
    """--reload and --debug are for a developer's machine: refused where env is production."""
    config = project.config
    asked = [name for name in ("reload", "debug") if config.values[name]]
    if asked and config.env == "production" and not config.force_dev:
        flags = " and ".join(f"--{name}" for name in asked)
        raise StartError(
            f"{flags}: development switches, and env is production ({config.source('env')})",
            "run them on a development machine, or add --force-dev if you mean it",
        )


def dev_environ(project: Project, entry: EntryPoint) -> Dict[str, str]:
    """What the shim needs for --debug and --record (nothing when neither is asked)."""
    config = project.config
    if not (config.debug or config.record):
        return {}
    if entry.kind != WSGI:
        raise StartError(f"--debug and --record wrap WSGI apps, and {entry.target} is {entry.kind.upper()}",
                         "use them with a WSGI entry point")
    env = {}
    if config.debug:
        env["WARP_DEBUG"] = "1"
    if config.record:
        env["WARP_RECORD"] = str((project.root / config.record).resolve())
        env["WARP_RECORD_BODY_LIMIT"] = str(config.record_body_limit)
        env["WARP_RECORD_REDACT"] = ",".join(config.record_redact)
    return env


def procfile_process_types(project: Project) -> Dict[str, str]:
    """{type: command} of the app's Procfile; empty when it has none."""
    procfile = project.root / "Procfile"
    return procfile_types(procfile) if procfile.is_file() else {}


def plan_all(project: Project, env: Mapping[str, str], wanted: Sequence[str] = (),
             scale: Optional[Mapping[str, int]] = None) -> Tuple[Optional[Plan], List[Tuple[str, int, Plan]]]:
    """Plans for `warp start --all`: (the release plan or None, [(type, instances, plan), ...]).

    Every Procfile type but ``release`` (or the ``wanted`` subset), plus ``web``
    when the app has an entry point without a Procfile ``web:`` line. ``PORT``
    reaches ``web`` only; every type gets the same environment otherwise.
    """
    types = procfile_process_types(project)
    release = types.pop("release", None)
    available: Dict[str, Optional[str]] = dict(types)  # None: web from the entry point
    if "web" not in available:
        try:
            resolve(project, environ=env)
        except NoEntryPoint:
            pass
        else:
            available["web"] = None
    if not available:
        raise ConfigError(f"nothing to run in {project.root}: no Procfile types and no entry point",
                          "add a Procfile (`web: ...`, `worker: ...`) or an entry point")
    order = (["web"] if "web" in available else []) + [name for name in available if name != "web"]
    unknown = [name for name in wanted if name not in available and name != "release"]
    if unknown:
        raise ConfigError(f"no process type {unknown[0]!r} to run", "this app has: " + ", ".join(order))
    scale = dict(scale or {})
    for name in scale:
        if name not in available:
            raise ConfigError(f"scale names {name!r}, which is not a process type", "this app has: " + ", ".join(order))
    if scale.get("web", 1) > 1:
        raise ConfigError(f"scale web={scale['web']}: web is one server on one port",
                          "give it more workers instead (--workers or WEB_CONCURRENCY)")
    chosen = [name for name in order if not wanted or name in wanted]
    others_env = {name: value for name, value in env.items() if name != "PORT"}
    planned = []
    for name in chosen:
        count = scale.get(name, 1)
        if count < 1:
            continue
        plan = plan_start(project, env if name == "web" else others_env, name, supervised=True)
        planned.append((name, count, plan))
    # release runs before anything, whichever subset was asked for: it prepares what they all use.
    release_plan = plan_start(project, others_env, "release", supervised=True) if release is not None else None
    return release_plan, planned


def _json(value):
    import json

    return json.dumps(value, sort_keys=True)


def _has_package(project, name):
    lib = project.venv / "lib"
    return any(lib.glob(f"python*/site-packages/{name}/__init__.py"))


def run_deploy_hook(project: Project, env: Mapping[str, str], stream: HookOutput = None) -> List[str]:
    """Run the deploy hooks (warp's enabled ones, then the app's); BuildError stops the start."""
    return run_hook(project, "deploy", env, stream)


def run_plan(plan: Plan) -> NoReturn:
    """Write the plan's files and replace this process by the server. Never returns."""
    for path, text in plan.files.items():
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(text, encoding="utf-8")
    os.chdir(plan.cwd)
    try:
        os.execvpe(plan.argv[0], list(plan.argv), plan.env)
    except OSError as exc:
        raise StartError(f"cannot run {plan.argv[0]}: {exc.strerror}", "run `warp build`, or check the command") from None
