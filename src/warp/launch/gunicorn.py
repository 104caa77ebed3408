"""gunicorn, with warp's settings as its flags; static files through WhiteNoise."""


from warp.launch.plan import Command, Launch, whole_seconds
from warp.runtime.accesslog import native_json_format

# Pinned (tested) versions; older Pythons get the last release that supports them.
REQUIREMENTS = ('gunicorn==27.0.1; python_version >= "3.10"', 'gunicorn==23.0.0; python_version < "3.10"')
NATIVE_STATIC = False
INTERFACES = ("wsgi",)
ALWAYS_SHIM = False  # the shim goes in front only for static files this server cannot serve

COMMON_LOG = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s'
# gunicorn's atoms: B may be None and p is "<pid>", so both stay in quotes.
JSON_LOG = native_json_format({
    "time": '"%(t)s"', "remote": '"%(h)s"', "method": '"%(m)s"', "path": '"%(U)s"', "query": '"%(q)s"',
    "protocol": '"%(H)s"', "status": "%(s)s", "bytes": '"%(B)s"', "duration_us": "%(D)s", "pid": '"%(p)s"',
})


def command(launch: Launch) -> Command:
    entry = launch.entry
    # With the app's own gunicorn.conf.py, only settings the user chose override it.
    conf = entry.config_file
    chosen = (lambda name: name in launch.explicit) if conf else (lambda name: True)
    argv = [str(launch.tool("gunicorn"))]
    notes = []
    if conf:
        argv += ["--config", conf]
        notes.append(("config", f"{conf} (the app's own; warp passes only the settings you set)"))
    if conf and _sets_bind(conf) and not ({"port", "host"} & set(launch.explicit)):
        # The app's configuration chose its address; warp's port/host override it only when set.
        notes.append(("bind", f"as {conf} says (set port or host to override)"))
    else:
        argv += ["--bind", launch.bind]
    argv += ["--chdir", str(launch.root)]
    if chosen("workers"):
        argv += ["--workers", str(launch.workers)]
    if chosen("threads"):
        argv += ["--threads", str(launch.threads)]
    if chosen("timeout"):
        argv += ["--timeout", whole_seconds(launch.timeout)]
    if chosen("graceful_timeout"):
        argv += ["--graceful-timeout", whole_seconds(launch.graceful_timeout)]
    if chosen("max_requests"):
        argv += ["--max-requests", str(launch.max_requests), "--max-requests-jitter", str(launch.max_requests_jitter)]
    if chosen("trusted_proxies"):
        argv += ["--forwarded-allow-ips", ",".join(launch.trusted_proxies)]
    argv += [
        "--access-logfile", "-",
        "--access-logformat", JSON_LOG if launch.access_log_format == "json" else COMMON_LOG,
        "--error-logfile", "-",
        "--log-level", launch.log_level,
    ]
    argv += list(launch.server_args)
    argv.append(launch.app_target)
    return Command(argv=tuple(argv), notes=tuple(notes))


def _sets_bind(conf):
    from warp.app.entrypoint import gunicorn_setting

    return gunicorn_setting(conf, "bind") is not None
