"""Apache httpd through ``mod_wsgi-express start-server``; static files natively (``--url-alias``).

The mod_wsgi package compiles against Apache's development files (``apxs``,
Debian's ``apache2-dev``) and runs Apache's ``httpd`` binary (Debian's
``apache2-bin``). Apache refuses to serve as root, so when warp runs as root the
server's processes run as the app folder's owner, or ``nobody``.
"""

from pathlib import Path
from typing import Callable, Optional, Tuple
import grp
import os
import pwd
import shutil

from warp.core.errors import BuildError, StartError
from warp.launch.plan import Command, Launch, whole_seconds
from warp.runtime.accesslog import native_json_format

# Pinned (tested) versions; older Pythons get the last release that supports them.
REQUIREMENTS = ('mod_wsgi==6.1.1; python_version >= "3.10"', 'mod_wsgi==5.0.2; python_version < "3.10"')
NATIVE_STATIC = True
INTERFACES = ("wsgi",)
ALWAYS_SHIM = False  # the shim goes in front only for static files this server cannot serve

COMMON_LOG = '%h %l %u %t "%r" %>s %b'
# %q would keep its leading "?"; the request's QUERY_STRING has none.
JSON_LOG = native_json_format({
    "time": '"%{%Y-%m-%dT%H:%M:%S%z}t"', "remote": '"%a"', "method": '"%m"', "path": '"%U"', "query": '"%{QUERY_STRING}e"',
    "protocol": '"%H"', "status": "%>s", "bytes": "%B", "duration_us": "%D", "pid": "%P",
})


def check_build_tools(which: Callable[[str], Optional[str]] = shutil.which) -> None:
    """Raise BuildError in one line when mod_wsgi cannot be compiled here."""
    if not (which("apxs") or which("apxs2")):
        raise BuildError(
            "mod_wsgi needs Apache's development files, and apxs was not found on PATH",
            "install them (Debian/Ubuntu: apt-get install apache2-dev) or choose another server",
        )


def _run_as(root):
    """(user, group) for Apache's children when warp runs as root."""
    owner = os.stat(root).st_uid
    if owner != 0:
        entry = pwd.getpwuid(owner)
        return entry.pw_name, grp.getgrgid(entry.pw_gid).gr_name
    for user, group in (("nobody", "nogroup"), ("nobody", "nobody"), ("www-data", "www-data")):
        try:
            pwd.getpwnam(user)
            grp.getgrnam(group)
            return user, group
        except KeyError:
            continue
    raise StartError("Apache refuses to run as root and no unprivileged user was found", "run warp start as a non-root user")


def _closed_to_others(path):
    """The first folder at or above ``path`` that other users cannot enter, or None."""
    path = Path(path).resolve()
    for folder in [path] + list(path.parents):
        try:
            if folder.is_dir() and not folder.stat().st_mode & 0o001:
                return folder
        except OSError:
            return folder
    return None


def _base_home(python):
    """The folder of the interpreter the app's venv was made from (pyvenv.cfg home)."""
    cfg = Path(python).parent.parent / "pyvenv.cfg"
    try:
        for line in cfg.read_text(encoding="utf-8").splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "home":
                return Path(value.strip())
    except OSError:
        pass
    return Path(python).parent


def command(launch: Launch) -> Command:
    express = launch.require_tool("mod_wsgi-express", "run `warp build` with server: mod_wsgi (it needs apache2-dev)")
    if not any(shutil.which(name) or os.path.exists(f"/usr/sbin/{name}") for name in ("apache2", "httpd")):
        raise StartError("mod_wsgi needs Apache's httpd, and neither apache2 nor httpd was found",
                         "install it (Debian/Ubuntu: apt-get install apache2-bin)")
    module, _, callable_name = launch.app_target.partition(":")
    argv = [
        # Apache stops at once on TERM and gracefully on WINCH: a small relay
        # (warp.runtime.shim, in the app's Python) turns the one into the other.
        str(launch.python), "-m", "warp.runtime.shim", "relay", "--map", "TERM:WINCH", "--",
        str(express), "start-server",
        "--application-type", "module",
        "--entry-point", module,
        "--callable-object", callable_name or "application",
        "--host", launch.host,
        "--port", str(launch.port),
        "--processes", str(launch.workers),
        "--threads", str(launch.threads),
        "--request-timeout", whole_seconds(launch.timeout),
        "--graceful-timeout", whole_seconds(launch.graceful_timeout),
        "--shutdown-timeout", whole_seconds(launch.graceful_timeout),
        "--maximum-requests", str(launch.max_requests),
        "--working-directory", str(launch.root),
        "--python-path", str(launch.root),
        "--server-root", str(launch.run_dir / "mod_wsgi"),
        "--log-to-terminal",
        "--access-log",
        "--access-log-format", JSON_LOG if launch.access_log_format == "json" else COMMON_LOG,
        "--log-level", {"warning": "warn", "critical": "crit"}.get(launch.log_level, launch.log_level),
    ]
    for prefix, folder in launch.static:
        argv += ["--url-alias", prefix, folder.rstrip("/") + "/"]
    if launch.trusted_proxies:
        argv += ["--trust-proxy-header", "X-Forwarded-For", "--trust-proxy-header", "X-Forwarded-Proto"]
        for address in launch.trusted_proxies:
            argv += ["--trust-proxy", address]
    notes: Tuple[Tuple[str, str], ...] = ()
    if os.geteuid() == 0 and "--user" not in launch.server_args:
        user, group = _run_as(launch.root)
        if user == "nobody":
            for what, path in (("the Python", _base_home(launch.python)), ("the app's environment", launch.python.parent),
                               ("the app", launch.root)):
                closed = _closed_to_others(path)
                if closed is not None:
                    raise StartError(
                        f"mod_wsgi runs Apache's processes as {user} when warp runs as root, and {user} cannot read "
                        f"{what} at {path} ({closed} is closed to other users)",
                        "run warp start as a non-root user, or use a Python and app folder outside it",
                    )
        argv += ["--user", user, "--group", group]
        notes += (("runs as", f"{user}:{group} (Apache refuses to serve as root)"),)
    argv += list(launch.server_args)
    return Command(argv=tuple(argv), notes=notes)
