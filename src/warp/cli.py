"""warp's command line: parse, call the library, render text or JSON.

Every command is a thin wrapper: the work is done by functions in ``warp.*``
that tests call directly. Those functions never print or exit; they return
results or raise ``WarpError``, which ``_run`` turns into one line on stderr
and the error's exit code. Heavy imports stay inside the commands so that
``warp --help`` is instant.
"""

import json
import sys

import click

from . import __version__
from .errors import WarpError, EXIT_FAILURE


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


def progress(line):
    """Short progress lines for people; on stderr so --json output stays clean."""
    click.echo(f"-> {line}", err=True)


app_option = click.option(
    "--app", "app_dir", default=".", show_default=True, type=click.Path(file_okay=False),
    help="The application's folder.",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON object for machines.")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="warp")
def main():
    """Take a Python web application from its source folder to a running service."""


@main.command("config")
@app_option
@json_option
def config_command(app_dir, as_json):
    """Show each setting's effective value and where it came from."""
    from .project import open_project

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


if __name__ == "__main__":
    main()
