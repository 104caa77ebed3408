"""uWSGI in HTTP mode, master + prefork workers, static files natively (``--static-map``)."""

from typing import Tuple

from warp.launch.plan import Command, Launch, whole_seconds
from warp.runtime.accesslog import native_json_format

# pyuwsgi, not the uwsgi sdist: the same uWSGI core with the Python plugin built
# in, shipped as manylinux wheels (CPython 3.9-3.13), so installing it needs no C
# compiler or Python headers, which python:X.Y-slim images and many CI machines
# lack. Its `uwsgi` script runs uWSGI inside the app environment's interpreter.
REQUIREMENTS = ("pyuwsgi==2.0.30.post1",)
NATIVE_STATIC = True
INTERFACES = ("wsgi",)
ALWAYS_SHIM = False  # the shim goes in front only for static files this server cannot serve

COMMON_LOG = '%(addr) - %(user) [%(ltime)] "%(method) %(uri) %(proto)" %(status) %(size)'
JSON_LOG = native_json_format({
    "time": '"%(ltime)"', "remote": '"%(addr)"', "method": '"%(method)"', "path": '"%(var.PATH_INFO)"',
    "query": '"%(var.QUERY_STRING)"', "protocol": '"%(proto)"', "status": "%(status)", "bytes": "%(rsize)",
    "duration_us": "%(micros)", "pid": "%(pid)",
})


def command(launch: Launch) -> Command:
    argv = [
        str(launch.tool("uwsgi")),
        "--http-socket", launch.bind,
        "--master",
        "--processes", str(launch.workers),
        "--threads", str(launch.threads),
        "--enable-threads",
        # No --home: the interpreter is already the app environment's own (the
        # `uwsgi` script's #! line), and pyuwsgi skips --home once Python runs.
        "--chdir", str(launch.root),
        "--module", launch.app_target,
        "--need-app",
        "--strict",
        # uWSGI 2.0 treats TERM as "reload"; make it a stop that lets requests finish.
        "--die-on-term",
        "--hook-master-start", "unix_signal:15 gracefully_kill_them_all",
        # That stop HUPs every worker, then waits for each with a blocking
        # waitpid() inside the signal handler, where no mercy timeout applies.
        # A worker only installs its own HUP handler some time after fork();
        # until then it has the master's disposition, which is "ignore" until
        # the master loop starts. So a TERM landing while a worker is still
        # starting (likely on a busy machine) was lost on that worker and the
        # master hung forever. Giving the master, before it forks, the very
        # HUP handler a worker installs for itself closes that window; the
        # master loop installs its own HUP handler when it starts.
        "--hook-post-app", "unix_signal:1 gracefully_kill",
        "--worker-reload-mercy", whole_seconds(launch.graceful_timeout),
        "--reload-mercy", whole_seconds(launch.graceful_timeout),
        "--harakiri", whole_seconds(launch.timeout),
        "--log-format", JSON_LOG if launch.access_log_format == "json" else COMMON_LOG,
        "--req-logger", "stdio",
        "--buffer-size", "32768",
        "--single-interpreter",
    ]
    if launch.max_requests:
        argv += ["--max-requests", str(launch.max_requests)]
        if launch.max_requests_jitter:
            argv += ["--max-requests-delta", str(launch.max_requests_jitter)]
    for prefix, folder in launch.static:
        argv += ["--static-map", f"{prefix.rstrip('/')}={folder}"]
    notes: Tuple[Tuple[str, str], ...] = ()
    if launch.log_level in ("warning", "error", "critical"):
        argv += ["--disable-logging"]
    notes += (("trusted proxies", "uWSGI does not rewrite the client address from proxy headers; the app sees the proxy"),)
    argv += list(launch.server_args)
    return Command(argv=tuple(argv), notes=notes)
