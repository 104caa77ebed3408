"""warp's own prefork server, run by the app's interpreter: ``python -m warp.runtime.server``.

Serves WSGI only, and static files natively (``--static PREFIX=FOLDER``).
Nothing to install: the package reaches the app through the PYTHONPATH folder
that exposes warp alone (see pythonpath.py).
"""

from warp.launch.plan import Command, Launch

REQUIREMENTS = ()
NATIVE_STATIC = True
INTERFACES = ("wsgi",)
ALWAYS_SHIM = False  # the shim goes in front only for static files this server cannot serve


def command(launch: Launch) -> Command:
    argv = [
        str(launch.python), "-m", "warp.runtime.server", launch.app_target,
        "--bind", launch.bind,
        "--workers", str(launch.workers),
        "--threads", str(launch.threads),
        "--timeout", str(launch.timeout),
        "--graceful-timeout", str(launch.graceful_timeout),
        "--max-requests", str(launch.max_requests),
        "--max-requests-jitter", str(launch.max_requests_jitter),
        "--access-log", "-",
        "--access-log-format", launch.access_log_format,
        "--log-level", launch.log_level,
        "--chdir", str(launch.root),
    ]
    for address in launch.trusted_proxies:
        argv += ["--forwarded-allow-ips", address]
    for prefix, folder in launch.static:
        argv += ["--static", f"{prefix}={folder}"]
    if launch.metrics:
        argv += ["--metrics", launch.metrics]
    if launch.slow_request:
        argv += ["--slow-request", str(launch.slow_request)]
    for name, service in launch.services.items():
        argv += ["--service", f"{name}={service}"]
    return Command(argv=tuple(argv) + launch.server_args)
