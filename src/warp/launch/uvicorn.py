"""uvicorn: ASGI (and WSGI through its wsgi interface); static files through WhiteNoise."""

from warp.launch.plan import Command, Launch, whole_seconds

# Pinned (tested) versions; older Pythons get the last release that supports them.
REQUIREMENTS = ('uvicorn==0.54.0; python_version >= "3.10"', 'uvicorn==0.33.0; python_version < "3.10"')
NATIVE_STATIC = False
INTERFACES = ("asgi", "wsgi")
# The shim wraps the app in every case: its access log has the shape every warp server writes.
ALWAYS_SHIM = True


def command(launch: Launch) -> Command:
    launch.require_tool("uvicorn")
    argv = [
        # Through warp.runtime.shim so that TERM ends in exit status 0 (uvicorn re-raises it after draining).
        str(launch.python), "-m", "warp.runtime.shim", "uvicorn", launch.app_target,
        "--host", launch.host,
        "--port", str(launch.port),
        "--workers", str(launch.workers),
        "--app-dir", str(launch.root),
        "--timeout-graceful-shutdown", whole_seconds(launch.graceful_timeout),
        "--log-level", launch.log_level,
        "--no-access-log",
        "--no-use-colors",
        "--proxy-headers",
        "--forwarded-allow-ips", ",".join(launch.trusted_proxies) or "127.0.0.1",
    ]
    if launch.entry.kind == "wsgi":
        argv += ["--interface", "wsgi"]
    if launch.max_requests:
        argv += ["--limit-max-requests", str(launch.max_requests)]
        if launch.max_requests_jitter:
            argv += ["--limit-max-requests-jitter", str(launch.max_requests_jitter)]
    notes = []
    if launch.threads > 1:
        notes.append(("threads", "uvicorn runs one event loop per worker; threads does not apply"))
    notes.append(("timeout", "uvicorn cannot stop a running request; timeout does not apply"))
    argv += list(launch.server_args)
    return Command(argv=tuple(argv), env={"WARP_ACCESS_LOG": launch.access_log_format}, notes=tuple(notes))
