"""warp's command line: parse, call the library, render text or JSON.

Every command is a thin wrapper: the work is done by functions in ``warp.*``
that tests call directly. Those functions never print or exit; they return
results or raise ``WarpError``, which ``_run`` turns into one line on stderr
and the error's exit code. Heavy imports stay inside the commands so that
``warp --help`` is instant.
"""

import json
import sys
from typing import Any, Callable, Dict, Optional, Tuple, TypeVar

import click

from warp import __version__
from warp.core.errors import WarpError, EXIT_FAILURE


def _emit_json(data):
    click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))


def _run(fn, as_json=False):
    """Call ``fn`` and turn a WarpError into one line and an exit code."""
    try:
        return fn()
    except WarpError as exc:
        if as_json:
            _emit_json({"ok": False, "error": exc.message, "hint": exc.hint, "exit_code": exc.exit_code})
        click.echo(f"warp: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("warp: interrupted", err=True)
        sys.exit(130)
    except OSError as exc:
        # A file or process the user pointed at is missing or unreadable.
        click.echo(f"warp: error: {exc}", err=True)
        sys.exit(EXIT_FAILURE)


def _raise(error):
    raise error


F = TypeVar("F", bound=Callable[..., Any])


def progress(line: str) -> None:
    """Short progress lines for people; on stderr so --json output stays clean."""
    click.echo(f"-> {line}", err=True)


def setting_options(command_name: str) -> Callable[[F], F]:
    """One click option per setting whose flag ``command_name`` takes (see warp.core.settings).

    Values stay raw text: the registry's parser checks them, so a flag fails with
    the same line as the same value in warp.yaml or the environment.
    """
    from warp.core.settings import settings_for

    def decorate(command: F) -> F:
        for setting in reversed(settings_for(command_name)):
            if not setting.flag:
                continue
            kwargs: Dict[str, Any] = {"default": None, "help": f"{setting.doc} (setting: {setting.name})"}
            if setting.switch:
                kwargs["is_flag"] = True
            else:
                choices = getattr(setting.parse, "choices", ())
                kwargs["metavar"] = setting.metavar or ("[" + "|".join(choices) + "]" if choices else setting.type_name.upper())
                kwargs["multiple"] = setting.multiple
            command = click.option(*setting.flags, setting.name, **kwargs)(command)
        return command

    return decorate


def flag_values(command_name: str, options: Dict[str, Any]) -> Dict[str, Any]:
    """{setting: raw value or None}, taken out of a command's keyword arguments."""
    import os
    from warp.core.settings import settings_for

    flags = {}
    for setting in settings_for(command_name):
        if setting.name not in options:
            continue
        value = options.pop(setting.name)
        if setting.multiple:
            value = list(value) or None
        if value is not None and setting.cwd_path:
            value = os.path.abspath(value)
        flags[setting.name] = value
    return flags


app_option = click.option(
    "--app", "app_dir", default=".", show_default=True, type=click.Path(file_okay=False),
    help="The application's folder.",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON object for machines.")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="warp")
def main() -> None:
    """Take a Python web application from its source folder to a running service."""


@main.command("config")
@app_option
@json_option
def config_command(app_dir: str, as_json: bool) -> None:
    """Show each setting's effective value and where it came from."""
    from warp.core.project import open_project

    project = _run(lambda: open_project(app_dir), as_json)
    rows = project.config.as_rows()
    if as_json:
        _emit_json({"ok": True, "config_file": str(project.config.path) if project.config.path else None, "settings": rows})
        return
    width = max(len(row["name"]) for row in rows)
    for row in rows:
        value = row["value"]
        shown = json.dumps(value) if isinstance(value, (dict, list)) else ("" if value is None else str(value))
        click.echo(f"{row['name']:<{width}}  {shown:<24}  ({row['source']})")



@main.command("project")
@app_option
@json_option
@setting_options("project")
def project_command(app_dir: str, as_json: bool, **options: Any) -> None:
    """Create the app's own virtualenv (.warp/venv), or reuse the one that is there."""
    from warp.app.python import wanted_python
    from warp.build.venv import ensure_env
    from warp.core.project import open_project

    flags = flag_values("project", options)

    def run():
        project = open_project(app_dir, flags=flags)
        wanted = wanted_python(project)
        return ensure_env(project, wanted.version, wanted.reason)

    env = _run(run, as_json)
    if as_json:
        _emit_json({"ok": True, "venv": str(env.path), "python": env.python.version_text, "created": env.created})
        return
    verb = "created" if env.created else "reusing"
    progress(f"{verb} {env.path} (Python {env.python.version_text})")


@main.command("env")
@app_option
def env_command(app_dir: str) -> None:
    """Print the variables `warp start` sets, as shell lines: eval "$(warp env)"."""
    from warp.core.environment import shell_script
    from warp.core.project import open_project

    script = _run(lambda: shell_script(open_project(app_dir)))
    if script:
        click.echo(script)


def _exec_in_app(app_dir, argv):
    """Replace this process by ``argv`` run in the app's folder with its runtime environment."""
    import os
    from warp.core.environment import runtime_environ
    from warp.core.errors import UsageError
    from warp.core.project import open_project

    def prepare():
        project = open_project(app_dir)
        if not (project.venv / "pyvenv.cfg").exists():
            raise UsageError(f"{project.venv}: no environment yet", "run `warp project` or `warp build` first")
        return project, runtime_environ(project)

    project, env = _run(prepare)
    os.chdir(project.root)
    try:
        os.execvpe(argv[0], list(argv), env)
    except FileNotFoundError:
        click.echo(f"warp: error: {argv[0]}: command not found in the app's environment", err=True)
        sys.exit(127)
    except OSError as exc:
        click.echo(f"warp: error: {argv[0]}: {exc.strerror}", err=True)
        sys.exit(126)


@main.command("exec", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@app_option
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def exec_command(app_dir: str, command: Tuple[str, ...]) -> None:
    """Run COMMAND in the app's folder and environment; its exit status is warp's."""
    _exec_in_app(app_dir, command)


@main.command("shell")
@app_option
def shell_command(app_dir: str) -> None:
    """Open an interactive shell ($SHELL, else /bin/sh) in the app's environment."""
    import os

    _exec_in_app(app_dir, [os.environ.get("SHELL") or "/bin/sh"])


@main.command("detect")
@app_option
@json_option
def detect_command(app_dir: str, as_json: bool) -> None:
    """Show what warp finds in the app folder, which file or setting decided each fact, and each buildpack's answer."""
    from warp.core.project import open_project
    from warp.build.recognise import recognise, render_text

    recognised = _run(lambda: recognise(open_project(app_dir)), as_json)
    if as_json:
        _emit_json({"ok": True, **recognised.to_dict()})
        return
    click.echo(render_text(recognised))


@main.command("image")
@click.argument("name")
@app_option
@click.option("--run", "run_after", is_flag=True, help="Then start it, published on 127.0.0.1:PORT, until Ctrl-C.")
@json_option
@setting_options("image")
def image_command(name: str, app_dir: str, run_after: bool, as_json: bool, **options: Any) -> None:
    """Build a container image NAME[:TAG] of the app through the Docker engine."""
    from warp.image.build import build_image, drain, run_image

    flags = flag_values("image", options)
    result = _run(lambda: drain(build_image(app_dir, name, **flags), progress), as_json)
    if as_json:
        _emit_json({"ok": True, **result.as_dict()})
    else:
        progress(f"built {result.tags[0]} ({result.id[7:19]}, {result.size / 1e6:.0f} MB) in {result.timings['total']:.1f}s")
        if result.sbom:
            progress(f"SBOM written to {result.sbom}")
        if result.digest:
            progress(f"pushed {result.pushed}")
            click.echo(result.digest)
    if run_after:
        logs = run_image(result.tags[0], result.port)

        def follow():
            # Ctrl-C is how a quick look ends: stop the container, exit 0.
            try:
                drain(logs, click.echo)
            except KeyboardInterrupt:
                progress(f"stopping {result.tags[0]}")
            finally:
                logs.close()

        _run(follow)



@main.command("build")
@app_option
@json_option
@click.option("--clean", is_flag=True, help="Build a fresh environment instead of updating the current one.")
@setting_options("build")
def build_command(app_dir: str, as_json: bool, clean: bool, **options: Any) -> None:
    """Install the app's dependencies, run its hooks and collectstatic, in .warp/venv."""
    import signal
    from warp.core.project import open_project
    from warp.build.pipeline import build
    from warp.launch import server_requirements

    def on_term(signum, frame):
        # Unwind like Ctrl-C so the half-built environment is removed.
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_term)
    flags = flag_values("build", options)

    def run():
        project = open_project(app_dir, flags=flags)
        return build(project, server_requirements, progress=progress, stream=sys.stderr, clean=clean)

    result = _run(run, as_json)
    if as_json:
        _emit_json(dict(result.record, ok=True))
    progress(result.summary)


@main.command("status")
@app_option
@json_option
@click.option("--stats", "stats_address", default="", metavar="ADDRESS",
              help="The server's stats socket, if it was started with --stats.")
def status_command(app_dir: str, as_json: bool, stats_address: str) -> None:
    """Show the bundled server's workers: state, requests in flight, connections, req/s,
    latency percentiles and capacity over the last minute, memory; then the totals."""
    from warp.launch.status import format_table, status

    doc = _run(lambda: status(app_dir, stats_address), as_json)
    if as_json:
        _emit_json(doc)
        return
    click.echo(format_table(doc))


@main.command("metrics")
@app_option
@click.option("--stats", "stats_address", default="", metavar="ADDRESS",
              help="The server's stats socket, if it was started with --stats.")
@click.option("--openmetrics", is_flag=True, help="OpenMetrics text instead of Prometheus text 0.0.4.")
def metrics_command(app_dir: str, stats_address: str, openmetrics: bool) -> None:
    """Print the bundled server's metrics as Prometheus text (what --metrics HOST:PORT serves)."""
    from warp.launch.status import metrics_text

    click.echo(_run(lambda: metrics_text(app_dir, stats_address, openmetrics)), nl=False)


@main.command("top")
@app_option
@click.option("--stats", "stats_address", default="", metavar="ADDRESS",
              help="The server's stats socket, if it was started with --stats.")
@click.option("--interval", default=1.0, show_default=True, type=click.FloatRange(0.1, 60),
              help="Seconds between refreshes.")
@click.option("--count", default=0, type=click.IntRange(0), metavar="N",
              help="Frames to print when not on a terminal (default 1), then exit.")
def top_command(app_dir: str, stats_address: str, interval: float, count: int) -> None:
    """A live view of the bundled server's master and workers; q quits.

    Not on a terminal, prints plain-text frames instead."""
    import time

    from warp.launch.status import status
    from warp.launch.top import frame, run_terminal

    def fetch():
        return status(app_dir, stats_address)

    first = _run(fetch)
    if sys.stdout.isatty() and sys.stdin.isatty() and not count:
        _run(lambda: run_terminal(fetch, interval))
        return
    prev, doc = None, first
    for number in range(max(1, count)):
        if number:
            time.sleep(interval)
            prev, doc = doc, _run(fetch)
            click.echo("")
        click.echo("\n".join(frame(doc, prev, 200)))


def _shell_line(argv):
    import shlex

    return " ".join(shlex.quote(str(word)) for word in argv)


@main.command("start")
@click.argument("process_types", nargs=-1)
@app_option
@click.option("--all", "run_all", is_flag=True,
              help="Run every Procfile process type together, supervised (release first, once); "
                   "TYPES narrows it to a subset.")
@click.option("--print", "print_only", is_flag=True, help="Print the exact command line and environment, then exit.")
@json_option
@setting_options("start")
def start_command(process_types: Tuple[str, ...], app_dir: str, run_all: bool, print_only: bool, as_json: bool,
                  **options: Any) -> None:
    """Start the app (or Procfile process type TYPE) in the foreground, replacing warp.

    With --all, every process type runs under warp's supervisor.
    """
    from warp.core.environment import runtime_environ
    from warp.core.project import open_project
    from warp.launch import plan_start, run_deploy_hook, run_plan

    flags = flag_values("start", options)

    if len(process_types) > 1 and not run_all:
        from warp.core.errors import UsageError

        _run(lambda: _raise(UsageError(f"several process types given ({' '.join(process_types)})",
                                       "add --all to run them together")), as_json)
    project = _run(lambda: open_project(app_dir, flags=flags), as_json)
    env = _run(lambda: runtime_environ(project), as_json)
    if run_all:
        _start_all(project, env, process_types, print_only, as_json)
        return
    process_type = process_types[0] if process_types else "web"
    reload = bool(project.config.reload) and process_type == "web"
    plan = _run(lambda: plan_start(project, env, process_type, supervised=reload), as_json)
    if print_only or as_json:
        if as_json:
            _emit_json({"ok": True, **plan.to_dict()})
            return
        for label, value in plan.facts:
            click.echo(f"# {label}: {value}")
        if plan.entry is not None:
            click.echo("# entry point, rule by rule:")
            for step in plan.entry.steps:
                click.echo(f"#   {step}")
        click.echo(f"cd {_shell_line([plan.cwd])}")
        for name, value in plan.changed.items():
            click.echo(f"export {name}={_shell_line([value])}")
        click.echo(_shell_line(plan.argv))
        return
    _run(lambda: run_deploy_hook(project, env, stream=sys.stderr))
    for label, value in plan.facts:
        progress(f"{label}: {value}")
    sys.stderr.flush()
    sys.stdout.flush()
    if reload:
        sys.exit(_run(lambda: _run_reloading(project, plan)))
    _run(lambda: run_plan(plan))


def _run_reloading(project, plan) -> int:
    """--reload: the server as warp's child, reloaded by the watcher when the source changes."""
    from warp.launch.reloader import Watcher
    from warp.launch.supervisor import Output, ProcessSpec, Supervisor

    output = Output(stream=sys.stdout, prefix=False)
    supervisor = Supervisor([ProcessSpec("web", 1, plan)], output,
                            graceful_timeout=float(project.config.graceful_timeout))
    watcher = Watcher(project.root, lambda changed: supervisor.request_reload(), progress,
                      include=project.config.reload_include)
    progress(f"reload: watching {project.root} ({watcher.mechanism})")
    watcher.start()
    try:
        return supervisor.run()
    finally:
        watcher.stop()


def _start_all(project, env, process_types, print_only, as_json):
    """`warp start --all`: plan every type, print the plans or run them under the supervisor."""
    from warp.launch import plan_all, run_deploy_hook
    from warp.launch.supervisor import Output, ProcessSpec, Supervisor, run_release

    release, planned = _run(lambda: plan_all(project, env, process_types, project.config.scale), as_json)
    if print_only:
        plans = ([("release", 1, release)] if release is not None else []) + planned
        if as_json:
            _emit_json({"ok": True, "processes": [{"type": name, "instances": count, **plan.to_dict()}
                                                  for name, count, plan in plans]})
            return
        for name, count, plan in plans:
            click.echo(f"# {name} x {count}: " + _shell_line(plan.argv))
        return
    output = Output(stream=sys.stdout, colour=sys.stdout.isatty() and not as_json, json_lines=as_json,
                    width=max(len(f"{name}.{count}") for name, count, _ in [("release", 1, None), *planned]))
    _run(lambda: run_deploy_hook(project, env, stream=sys.stderr))
    if release is not None:
        status = run_release(release, output)
        if status != 0:
            output.warp(f"release exited with status {status}; nothing started")
            sys.exit(status if 0 < status < 256 else 1)
    specs = [ProcessSpec(name, number, plan) for name, count, plan in planned for number in range(1, count + 1)]
    supervisor = Supervisor(specs, output, graceful_timeout=float(project.config.graceful_timeout))
    sys.exit(supervisor.run())


@main.command("replay")
@click.argument("folder", type=click.Path(file_okay=False))
@app_option
@click.option("--against", default=None, metavar="URL",
              help="The running app to send the requests to (default: http://127.0.0.1:PORT of the app's settings).")
@click.option("--ignore-header", "ignore_headers", multiple=True, metavar="NAME",
              help="A response header not to compare (repeatable; Date, cookies and Server never are).")
@click.option("--ignore-json", "ignore_json", multiple=True, metavar="PATH",
              help="A dotted path into JSON bodies not to compare, * for any key (repeatable), e.g. data.*.id.")
@json_option
def replay_command(folder: str, app_dir: str, against: Optional[str], ignore_headers: Tuple[str, ...],
                   ignore_json: Tuple[str, ...], as_json: bool) -> None:
    """Send the requests recorded by `warp start --record FOLDER` again; exit 1 on a difference."""
    from pathlib import Path

    from warp.core.project import open_project
    from warp.launch.replay import replay

    def run():
        url = against
        if url is None:
            url = f"http://127.0.0.1:{open_project(app_dir).config.port}"
        return replay(Path(folder), url, ignore_headers, ignore_json)

    outcomes = _run(run, as_json)
    failed = [o for o in outcomes if not o.ok]
    if as_json:
        _emit_json({"ok": not failed, "requests": [o.to_dict() for o in outcomes]})
    else:
        for outcome in outcomes:
            click.echo(f"{'ok  ' if outcome.ok else 'DIFF'} {outcome.method} {outcome.target}  ({outcome.name})")
            for difference in outcome.differences:
                click.echo(f"       {difference}")
        click.echo(f"{len(outcomes) - len(failed)} of {len(outcomes)} requests answered as recorded")
    sys.exit(1 if failed else 0)


@main.command("health")
@app_option
@click.option("--alive", "which", flag_value="alive", default=True, help="Is the app running? (alive hook, else GET health_path)")
@click.option("--ready", "which", flag_value="ready", help="Can it take traffic? (ready hook, else GET health_path)")
@click.option("--timeout", default=5.0, show_default=True, help="Seconds to wait for an answer.")
def health_command(app_dir: str, which: str, timeout: float) -> None:
    """Exit 0 when the running app is healthy: for container HEALTHCHECK and Kubernetes probes."""
    from warp.core.environment import runtime_environ
    from warp.core.project import open_project
    from warp.launch.health import check

    def run():
        project = open_project(app_dir)
        return check(project, runtime_environ(project), which, timeout)

    result = _run(run)
    click.echo(f"{result.check}: ok ({result.how}: {result.detail})")


def _default_name(app_dir):
    import os
    import re

    name = re.sub(r"[^a-z0-9-]+", "-", os.path.basename(os.path.abspath(app_dir)).lower()).strip("-")
    return name if re.match(r"^[a-z]", name or "") else f"app-{name}".strip("-")


@main.command("deploy")
@click.argument("name")
@app_option
@click.option("--status", "show_status", is_flag=True, help="Show each service's desired and running replicas, image and update state.")
@click.option("--rm", "remove", is_flag=True, help="Remove the services, secrets and network of NAME.")
@json_option
@setting_options("deploy")
def deploy_command(name: str, app_dir: str, show_status: bool, remove: bool, as_json: bool, **options: Any) -> None:
    """Create or update NAME's Docker Swarm services, one per process type (NAME_web, NAME_worker...)."""
    from warp.core.errors import UsageError
    from warp.deploy import swarm
    from warp.deploy.spec import check_name
    from warp.image.build import drain

    flags = flag_values("deploy", options)
    if show_status and remove:
        _run(lambda: _raise(UsageError("--status and --rm cannot be combined", "give one of them")), as_json)
    if show_status or remove:
        _run(lambda: check_name(name), as_json)
    if show_status:
        states = _run(lambda: swarm.status(name), as_json)
        if as_json:
            _emit_json({"ok": True, "name": name, "services": [s.as_dict() for s in states]})
        elif not states:
            click.echo(f"nothing deployed as {name}")
        else:
            rows = [("SERVICE", "REPLICAS", "IMAGE", "UPDATE")] + [
                (s.name, f"{s.running}/{s.desired}", s.image, " ".join(filter(None, [s.update_state, s.update_message])))
                for s in states
            ]
            widths = [max(len(row[i]) for row in rows) for i in range(3)]
            for row in rows:
                click.echo("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:3])) + "  " + row[3])
        if not states:
            sys.exit(EXIT_FAILURE)
        return
    if remove:
        removed = _run(lambda: drain(swarm.remove(name), progress), as_json)
        if as_json:
            _emit_json({"ok": True, "name": name, "removed": removed})
        else:
            progress(f"removed {len(removed)} object(s) of {name}" if removed else f"nothing deployed as {name}")
        return

    from warp.deploy.spec import open_for_deploy

    def run():
        spec = open_for_deploy(app_dir, name, flags)
        return drain(swarm.deploy(spec), progress)

    result = _run(run, as_json)
    if as_json:
        _emit_json({"ok": True, **result.as_dict()})
        return
    for state in result.services:
        progress(f"{state.name}: {state.running}/{state.desired} running {state.image}")
    progress(f"deployed {name} in {result.seconds:.1f}s")


@main.group("manifest")
def manifest_group() -> None:
    """Describe the app for another engine, without contacting it."""


@manifest_group.command("kubernetes")
@app_option
@click.option("--name", default=None, help="Name of the objects (default: the app folder's name).")
@click.option("-o", "--output", "output_dir", default=None, type=click.Path(file_okay=False),
              help="Write one file per object into this folder instead of printing them.")
@json_option
@setting_options("deploy")
def manifest_kubernetes_command(app_dir: str, name: Optional[str], output_dir: Optional[str], as_json: bool,
                                **options: Any) -> None:
    """Print (or write with -o DIR) the Kubernetes manifests of the app."""
    from warp.deploy import kubernetes
    from warp.deploy.spec import open_for_deploy

    flags = flag_values("deploy", options)
    spec = _run(lambda: open_for_deploy(app_dir, name or _default_name(app_dir), flags), as_json)
    if output_dir:
        paths = _run(lambda: kubernetes.write(spec, output_dir), as_json)
        if as_json:
            _emit_json({"ok": True, "files": [str(p) for p in paths]})
        else:
            for path in paths:
                click.echo(str(path))
        return
    if as_json:
        _emit_json({"ok": True, "objects": [obj for _, obj in kubernetes.manifests(spec)]})
        return
    click.echo(kubernetes.render(spec), nl=False)


if __name__ == "__main__":
    main()
