"""The bundled server's settings, each declared once.

Every setting is one field of :class:`ServerConfig`; its metadata (flag, environment
variable, help text) is what the argparse CLI and the docs are generated from, so the
three can never drift apart. Precedence: command-line flag > environment > default.
``ServerConfig.sources`` records where each value came from (``flag``, ``env`` or
``default``) so a confusing setup can be explained.

Standard library only: this runs inside the application's interpreter.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional, Sequence

# Upper bound on the automatic worker count: beyond this, memory (one interpreter
# per worker) runs out long before CPUs do. Set WEB_CONCURRENCY to go higher.
AUTO_WORKERS_CAP = 12
DEFAULT_PORT = "8080"


class ConfigError(ValueError):
    """A setting has a value the server cannot use (message names the setting)."""


def _setting(
    flags: Sequence[str],
    env: Optional[str],
    help: str,
    *,
    parse: Optional[Callable[[str], Any]] = None,
    kind: str = "value",
    metavar: Optional[str] = None,
) -> dict:
    """Metadata for one ServerConfig field.

    ``kind`` is ``value`` (takes an argument), ``flag`` (boolean switch) or ``list``
    (repeatable). ``parse`` turns a string (flag argument or env value) into the
    field's type and raises ValueError on nonsense.
    """
    return {"flags": tuple(flags), "env": env, "help": help, "parse": parse, "kind": kind,
            "metavar": metavar}


def _bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"expected true/false, got {text!r}")


def _nonneg_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError(f"must be 0 or more, got {value}")
    return value


def _pos_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(f"must be 1 or more, got {value}")
    return value


def _seconds(text: str) -> float:
    value = float(text)
    if value < 0 or math.isnan(value):
        raise ValueError(f"must be a number of seconds >= 0, got {text!r}")
    return value


def _choice(*choices: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        value = text.strip().lower()
        if value not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}, got {text!r}")
        return value
    return parse


def _default_bind() -> tuple:
    return (f"0.0.0.0:{os.environ.get('PORT') or DEFAULT_PORT}",)


def _static_entry(text: str) -> str:
    prefix, sep, folder = text.partition("=")
    if not sep or not prefix.strip() or not folder.strip():
        raise ValueError(f"{text!r} is not PREFIX=FOLDER, e.g. /static/=staticfiles")
    return text


@dataclass(frozen=True)
class ServerConfig:
    """Validated, immutable server settings. Build with :func:`parse_args`."""

    app: str = field(default="", metadata=_setting(
        ["app"], None, "WSGI application as module:callable (callable defaults to "
        "'application', then 'app')", metavar="MODULE:CALLABLE"))

    # --- process model (helper "arbiter") ---------------------------------------------
    bind: tuple = field(default_factory=_default_bind, metadata=_setting(
        ["-b", "--bind"], "WARP_BIND",
        "address to listen on: HOST:PORT, [IPV6]:PORT, :PORT or unix:/PATH; repeat for "
        "several (env: comma separated); default 0.0.0.0:$PORT, PORT defaults to 8080",
        kind="list", metavar="ADDRESS"))
    workers: int = field(default=0, metadata=_setting(
        ["-w", "--workers"], "WEB_CONCURRENCY",
        "worker processes; default 2 x usable CPUs + 1 (cgroup quota and CPU affinity "
        f"respected), at most one per 256 MiB of the container's memory limit and at most "
        f"{AUTO_WORKERS_CAP}", parse=_pos_int))
    threads: int = field(default=1, metadata=_setting(
        ["--threads"], "WARP_THREADS", "request threads per worker (for I/O-bound apps)",
        parse=_pos_int))
    backlog: int = field(default=2048, metadata=_setting(
        ["--backlog"], "WARP_BACKLOG", "listen queue length", parse=_pos_int))
    reuse_port: bool = field(default=False, metadata=_setting(
        ["--reuse-port"], "WARP_REUSE_PORT",
        "give each worker its own SO_REUSEPORT socket (kernel load balancing) instead of "
        "sharing the master's", kind="flag"))
    preload: bool = field(default=False, metadata=_setting(
        ["--preload"], "WARP_PRELOAD",
        "import the application once in the master before forking (copy-on-write memory "
        "sharing); a HUP reload imports the new code in each new worker instead",
        kind="flag"))
    timeout: float = field(default=30.0, metadata=_setting(
        ["-t", "--timeout"], "WARP_TIMEOUT",
        "seconds a request may run before its worker is killed and its traceback logged "
        "(0: never)", parse=_seconds))
    graceful_timeout: float = field(default=30.0, metadata=_setting(
        ["--graceful-timeout"], "WARP_GRACEFUL_TIMEOUT",
        "seconds stopping workers get to finish in-flight requests (TERM, HUP, recycling)",
        parse=_seconds))
    startup_timeout: float = field(default=60.0, metadata=_setting(
        ["--startup-timeout"], "WARP_STARTUP_TIMEOUT",
        "seconds a new worker may take to import the application (0: never)",
        parse=_seconds))
    heartbeat_timeout: float = field(default=30.0, metadata=_setting(
        ["--heartbeat-timeout"], "WARP_HEARTBEAT_TIMEOUT",
        "seconds an idle worker may go without a heartbeat before it is considered wedged "
        "and replaced (0: never)", parse=_seconds))
    max_requests: int = field(default=0, metadata=_setting(
        ["--max-requests"], "WARP_MAX_REQUESTS",
        "recycle a worker after this many requests (0: never)", parse=_nonneg_int))
    max_requests_jitter: int = field(default=0, metadata=_setting(
        ["--max-requests-jitter"], "WARP_MAX_REQUESTS_JITTER",
        "add 0..N random requests to each worker's max-requests so they do not all "
        "recycle at once", parse=_nonneg_int))
    max_memory: int = field(default=0, metadata=_setting(
        ["--max-memory"], "WARP_MAX_MEMORY",
        "recycle a worker after the request that takes its RSS above this many MiB "
        "(0: no limit)", parse=_nonneg_int, metavar="MIB"))
    stats: str = field(default="", metadata=_setting(
        ["--stats"], "WARP_STATS",
        "stats socket: a UNIX socket path, unix:/PATH, HOST:PORT, or 'off'; default "
        ".warp/run/stats.sock in the app folder (a private directory under $TMPDIR "
        "when that folder is read-only); `warp status` reads it"))
    chdir: str = field(default="", metadata=_setting(
        ["--chdir"], "WARP_CHDIR",
        "change to this folder before loading the application (default: current folder); "
        "it is put first on sys.path"))
    access_log: str = field(default="-", metadata=_setting(
        ["--access-log"], "WARP_ACCESS_LOG",
        "access log file, '-' for stdout, 'off' to disable", metavar="FILE"))
    access_log_format: str = field(default="common", metadata=_setting(
        ["--access-log-format"], "WARP_ACCESS_LOG_FORMAT",
        "access log line format: common or json (JSON lines)",
        parse=_choice("common", "json")))
    error_log: str = field(default="-", metadata=_setting(
        ["--error-log"], "WARP_ERROR_LOG", "server log file, '-' for stderr", metavar="FILE"))
    log_level: str = field(default="info", metadata=_setting(
        ["--log-level"], "WARP_LOG_LEVEL", "debug, info, warning, error or critical",
        parse=_choice("debug", "info", "warning", "error", "critical")))

    # --- protocol (helper "http"): add fields below this line -------------------------
    script_name: str = field(default="", metadata=_setting(
        ["--script-name"], "WARP_SCRIPT_NAME",
        "URL prefix the application is mounted at (becomes SCRIPT_NAME; requests outside "
        "it get 404)", metavar="PREFIX"))
    forwarded_allow_ips: tuple = field(default=("127.0.0.1", "::1"), metadata=_setting(
        ["--forwarded-allow-ips"], "WARP_FORWARDED_ALLOW_IPS",
        "proxy addresses whose X-Forwarded-For/-Proto and Forwarded headers are trusted; "
        "'*' trusts every peer (env: comma separated)", kind="list", metavar="ADDRESS"))
    static: tuple = field(default=(), metadata=_setting(
        ["--static"], "WARP_STATIC",
        "serve files under URL prefix from a folder without calling the app; repeat for "
        "several (env: comma separated)", kind="list", metavar="PREFIX=FOLDER",
        parse=_static_entry))
    limit_request_line: int = field(default=8190, metadata=_setting(
        ["--limit-request-line"], "WARP_LIMIT_REQUEST_LINE",
        "longest request line in bytes (longer: 414)", parse=_pos_int))
    limit_request_fields: int = field(default=100, metadata=_setting(
        ["--limit-request-fields"], "WARP_LIMIT_REQUEST_FIELDS",
        "most header fields in a request (more: 431)", parse=_pos_int))
    limit_request_field_size: int = field(default=8190, metadata=_setting(
        ["--limit-request-field-size"], "WARP_LIMIT_REQUEST_FIELD_SIZE",
        "longest header field line in bytes (longer: 431)", parse=_pos_int))
    limit_request_body: int = field(default=100 * 1024 * 1024, metadata=_setting(
        ["--limit-request-body"], "WARP_LIMIT_REQUEST_BODY",
        "largest request body in bytes (larger: 413; 0: no limit)", parse=_nonneg_int))
    header_timeout: float = field(default=10.0, metadata=_setting(
        ["--header-timeout"], "WARP_HEADER_TIMEOUT",
        "seconds a client gets to send a whole request head, and the longest pause "
        "while sending a body (then 408 and close)", parse=_seconds))
    keepalive_timeout: float = field(default=5.0, metadata=_setting(
        ["--keepalive-timeout"], "WARP_KEEPALIVE_TIMEOUT",
        "seconds an idle keep-alive connection stays open (0: no keep-alive)",
        parse=_seconds))
    write_timeout: float = field(default=30.0, metadata=_setting(
        ["--write-timeout"], "WARP_WRITE_TIMEOUT",
        "seconds a client may stop reading a response before the connection is dropped",
        parse=_seconds))
    worker_connections: int = field(default=1000, metadata=_setting(
        ["--worker-connections"], "WARP_WORKER_CONNECTIONS",
        "most open connections per worker (idle keep-alive ones included)", parse=_pos_int))

    # --- bookkeeping, not settings ------------------------------------------------------
    sources: Mapping[str, str] = field(default_factory=dict, compare=False, metadata={})

    def with_changes(self, **changes: Any) -> "ServerConfig":
        return dataclasses.replace(self, **changes)


def settings() -> list:
    """The ServerConfig fields that are settings, in declaration order."""
    return [f for f in dataclasses.fields(ServerConfig) if f.metadata.get("flags")]


def settings_markdown() -> str:
    """The settings as a Markdown table (for the README), from the same declarations."""
    rows = ["| flag | environment | default | what it does |", "|---|---|---|---|"]
    for f in settings():
        meta = f.metadata
        if f.name == "app":
            continue
        if f.default_factory is not dataclasses.MISSING:
            default = "0.0.0.0:$PORT" if f.name == "bind" else ", ".join(f.default_factory()) or "-"
        elif meta["kind"] == "flag":
            default = "off"
        elif f.name == "workers":
            default = "2 x CPUs + 1"
        else:
            default = "-" if f.default in ("", ()) else str(f.default)
        if isinstance(f.default, tuple):
            default = ", ".join(f.default) or "-"
        flags = ", ".join(f"`{flag}`" for flag in meta["flags"])
        env = f"`{meta['env']}`" if meta["env"] else ""
        rows.append(f"| {flags} | {env} | {default} | {meta['help']} |")
    return "\n".join(rows)


def build_parser(prog: str = "python -m warp.runtime.server") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="warp's prefork WSGI server: a master binds the sockets and supervises "
        "worker processes that import the application and serve requests.",
        epilog="Signals to the master: HUP graceful reload, TERM graceful stop, INT/QUIT "
        "fast stop, TTIN/TTOU one worker more/less, USR1 reopen log files.",
    )
    for f in settings():
        meta = f.metadata
        help_text = meta["help"] + (f" [env {meta['env']}]" if meta["env"] else "")
        if f.name == "app":
            parser.add_argument("app", metavar=meta["metavar"], help=help_text)
            continue
        kwargs: dict = {"dest": f.name, "help": help_text, "default": None}
        if meta["kind"] == "flag":
            kwargs["action"] = "store_const"
            kwargs["const"] = True
        elif meta["kind"] == "list":
            kwargs["action"] = "append"
        if meta["metavar"] and meta["kind"] != "flag":
            kwargs["metavar"] = meta["metavar"]
        parser.add_argument(*meta["flags"], **kwargs)
    return parser


def _convert(f: dataclasses.Field, raw: Any, origin: str) -> Any:
    meta = f.metadata
    parse = meta["parse"]
    try:
        if meta["kind"] == "flag":
            return raw if isinstance(raw, bool) else _bool(raw)
        if meta["kind"] == "list":
            given = raw if isinstance(raw, list) else str(raw).split(",")
            items = tuple(item.strip() for item in given if item.strip())
            if not items:
                raise ValueError("needs at least one value")
            return tuple(parse(item) for item in items) if parse else items
        return parse(raw) if parse else raw
    except ValueError as exc:
        raise ConfigError(f"invalid {origin}: {exc}") from None


def parse_args(argv: Optional[Sequence[str]] = None,
               environ: Optional[Mapping[str, str]] = None) -> ServerConfig:
    """Build a ServerConfig from command-line arguments and the environment.

    Raises ConfigError for a bad value; argparse itself exits 2 for unknown flags.
    """
    environ = os.environ if environ is None else environ
    namespace = build_parser().parse_args(argv)
    values: dict = {}
    sources: dict = {}
    for f in settings():
        meta = f.metadata
        flag_value = getattr(namespace, f.name, None)
        if flag_value is not None:
            origin = f"value for {meta['flags'][-1]}" if f.name != "app" else "application"
            values[f.name] = _convert(f, flag_value, origin)
            sources[f.name] = "flag"
        elif meta["env"] and environ.get(meta["env"], "").strip():
            values[f.name] = _convert(f, environ[meta["env"]], f"environment variable {meta['env']}")
            sources[f.name] = "env"
        else:
            sources[f.name] = "default"
    if "bind" not in values:
        port = environ.get("PORT", "").strip() or DEFAULT_PORT
        values["bind"] = (f"0.0.0.0:{port}",)
    if "workers" not in values:
        values["workers"] = default_workers()
    if not values.get("app", "").split(":", 1)[0].strip():
        raise ConfigError("invalid application: expected module:callable, e.g. myapp.wsgi:application")
    return ServerConfig(**values, sources=sources)


# --- worker count --------------------------------------------------------------------

def _cgroup_v2_quota(cgroup_root: str, proc_cgroup: str) -> Optional[float]:
    """CPUs allowed by cgroup v2 ``cpu.max`` along this process's cgroup path (the
    tightest limit of the cgroup and its ancestors), or None when unlimited/unknown."""
    rel = None
    try:
        with open(proc_cgroup) as fh:
            for line in fh:
                parts = line.rstrip("\n").split(":", 2)
                if len(parts) == 3 and parts[0] == "0" and parts[1] == "":
                    rel = parts[2]
    except OSError:
        return None
    if rel is None:
        return None
    best = None
    path = rel.strip("/")
    while True:
        candidate = os.path.join(cgroup_root, path, "cpu.max") if path else os.path.join(cgroup_root, "cpu.max")
        try:
            with open(candidate) as fh:
                quota, period = (fh.read().split() + ["100000"])[:2]
            if quota != "max" and float(period) > 0:
                cpus = float(quota) / float(period)
                best = cpus if best is None else min(best, cpus)
        except (OSError, ValueError):
            pass
        if not path:
            break
        path = os.path.dirname(path)
    return best


def _cgroup_v1_quota(cgroup_root: str) -> Optional[float]:
    for sub in ("cpu,cpuacct", "cpu", "cpuacct,cpu"):
        base = os.path.join(cgroup_root, sub)
        try:
            with open(os.path.join(base, "cpu.cfs_quota_us")) as fh:
                quota = int(fh.read().strip())
            with open(os.path.join(base, "cpu.cfs_period_us")) as fh:
                period = int(fh.read().strip())
        except (OSError, ValueError):
            continue
        if quota > 0 and period > 0:
            return quota / period
        return None
    return None


def usable_cpus(cgroup_root: str = "/sys/fs/cgroup", proc_cgroup: str = "/proc/self/cgroup") -> int:
    """CPUs this process may really use: the smallest of the CPU affinity mask and the
    cgroup CPU quota (v2 ``cpu.max`` or v1 CFS quota), rounded up, at least 1. A
    container limited to 1.5 CPUs on a 64-core host gets 2, not 64."""
    try:
        cpus = float(len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        cpus = float(os.cpu_count() or 1)
    quota = _cgroup_v2_quota(cgroup_root, proc_cgroup)
    if quota is None:
        quota = _cgroup_v1_quota(cgroup_root)
    if quota is not None:
        cpus = min(cpus, quota)
    return max(1, math.ceil(cpus))


def memory_limit(cgroup_root: str = "/sys/fs/cgroup", proc_cgroup: str = "/proc/self/cgroup") -> Optional[int]:
    """The cgroup memory limit in bytes (v2 ``memory.max`` along this process's cgroup
    path, or v1 ``memory.limit_in_bytes``), or None when there is none."""
    best = None
    rel = None
    try:
        with open(proc_cgroup) as fh:
            for line in fh:
                parts = line.rstrip("\n").split(":", 2)
                if len(parts) == 3 and parts[0] == "0" and parts[1] == "":
                    rel = parts[2].strip("/")
    except OSError:
        pass
    candidates = []
    if rel is not None:
        path = rel
        while True:
            candidates.append(os.path.join(cgroup_root, path, "memory.max") if path
                              else os.path.join(cgroup_root, "memory.max"))
            if not path:
                break
            path = os.path.dirname(path)
    candidates.append(os.path.join(cgroup_root, "memory", "memory.limit_in_bytes"))
    for candidate in candidates:
        try:
            with open(candidate) as fh:
                text = fh.read().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < (1 << 60):  # v1 reports "no limit" as a huge number
            best = int(text) if best is None else min(best, int(text))
    return best


# Memory one worker of a typical web app needs; a container with 512 MiB runs 2.
MEMORY_PER_WORKER = 256 * 1024 * 1024


def default_workers(cpus: Optional[int] = None, memory: Optional[int] = -1) -> int:
    """2 x usable CPUs + 1 (one worker can wait on I/O while another computes), at most
    one per 256 MiB of the container's memory limit, and at most AUTO_WORKERS_CAP,
    because each worker holds a whole copy of the application."""
    cpus = usable_cpus() if cpus is None else cpus
    memory = memory_limit() if memory == -1 else memory
    workers = min(2 * cpus + 1, AUTO_WORKERS_CAP)
    if memory:
        workers = min(workers, max(1, memory // MEMORY_PER_WORKER))
    return workers
