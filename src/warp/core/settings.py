"""Every warp setting, declared once. Standard library only.

A setting has one entry in ``SETTINGS``: its name (which is also its
``warp.yaml`` key), its parser, its default, the environment variables that set
it (``WARP_<NAME>`` first, then the conventions users already have, such as
``PORT`` or ``WEB_CONCURRENCY``), its command-line flag, the commands it
belongs to, whether it changes what ``warp build`` produces, and its doc.

Everything else is derived from this list, so the copies cannot drift apart:
the click options of every ``warp`` command, ``warp config``, the validation of
``warp.yaml`` (``warp.core.config``), the bundled server's argparse and
environment (``warp.runtime.server.config``), the build fingerprint, the
launcher's inputs and the README's settings table (``python -m
warp.core.settings``). A raw value goes through the same parser and fails with
the same one line wherever it comes from.

Precedence, highest first: command-line flag, environment variable,
``warp.yaml``, a value warp detected in the application, the default.

Adding a setting is one ``Setting(...)`` line: a parser from the set below (one
error wording for all), a ``group`` or the ``commands`` whose flag it is (a
``server`` setting is read by the bundled server alone, from its flags and
``WARP_*`` variables), ``changes_build=True`` when a build must be redone for it,
and an ``example`` when the walk over every flag (tests) cannot guess a valid
value. Then regenerate the README table.

This module is imported by the bundled server inside the application's own
interpreter, where none of warp's dependencies exist: it may import only the
standard library and ``warp.core.errors`` (itself standard library only).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Tuple

from warp.core.errors import ConfigError

CONFIG_FILE = "warp.yaml"

# Where a value came from, as ``warp config`` and ``python -m warp.runtime.server --print-config`` show it.
SOURCE_DEFAULT = "default"
SOURCE_DETECTED = "detected"
SOURCE_FILE = CONFIG_FILE
SOURCE_ENV = "env"
SOURCE_FLAG = "flag"

# The process that reads the server-only settings: the bundled server, from its own
# flags and environment (``python -m warp.runtime.server``).
SERVER = "server"

__all__ = [
    "CONFIG_FILE", "ConfigError", "Kind", "SERVER", "SETTINGS", "BY_NAME", "Setting", "parse_value",
    "resolve", "settings_for", "config_settings", "build_settings", "settings_table",
]


# -- parsers: one set, one wording ------------------------------------------------------

@dataclass(frozen=True)
class Kind:
    """A parser: raw value (flag or environment text, or a YAML value) to the setting's value.

    ``convert`` raises ValueError with the reason, which becomes the one error line.
    ``switch``: a flag that takes no value (``--no-index``). ``multiple``: a flag that
    may be repeated, each value possibly comma separated.
    """

    name: str
    convert: Callable[[Any], Any]
    choices: Tuple[str, ...] = ()
    switch: bool = False
    multiple: bool = False

    def __call__(self, raw: Any) -> Any:
        return self.convert(raw)


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (list, dict)):
        raise ValueError("expected true or false")
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("expected true or false")


def _integer(minimum: Optional[int] = None, maximum: Optional[int] = None) -> Callable[[Any], int]:
    if minimum is not None and maximum is not None:
        wanted = f"a whole number from {minimum} to {maximum}"
    elif minimum is not None:
        wanted = f"a whole number of at least {minimum}"
    else:
        wanted = "a whole number"

    def parse(value: Any) -> int:
        text = str(value).strip()
        if isinstance(value, (bool, list, dict)) or not text.lstrip("-").isdigit() or text.count("-") > 1:
            raise ValueError(f"expected {wanted}")
        number = int(text)
        if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
            raise ValueError(f"expected {wanted}")
        return number

    return parse


def _number(value: Any) -> Any:
    """A number; whole numbers stay ints so ``30`` reads back as ``30``, not ``30.0``."""
    if isinstance(value, (bool, list, dict)):
        raise ValueError("expected a number")
    try:
        number = float(str(value).strip())
    except ValueError:
        raise ValueError("expected a number") from None
    if not math.isfinite(number):
        raise ValueError("expected a number")
    return int(number) if number.is_integer() else number


def _seconds(value: Any) -> Any:
    try:
        number = _number(value)
    except ValueError:
        raise ValueError("expected a number of seconds, 0 or more") from None
    if number < 0:
        raise ValueError("expected a number of seconds, 0 or more")
    return number


def _str(value: Any) -> str:
    if isinstance(value, (dict, list)):
        raise ValueError("expected a single value")
    return str(value)


def _items(value: Any) -> List[str]:
    """Items of a list: a YAML list, repeated flags, or comma separated text."""
    if isinstance(value, dict):
        raise ValueError("expected a list")
    raw = value if isinstance(value, (list, tuple)) else [value]
    items: List[str] = []
    for part in raw:
        if isinstance(part, (list, dict)):
            raise ValueError("expected a list of single values")
        items += [item.strip() for item in str(part).split(",") if item.strip()]
    return items


def _list(value: Any) -> List[str]:
    """A list: a YAML list or repeated flags, each item whole (``server_args`` items may
    hold spaces and commas), or one string (environment) split on commas and spaces."""
    if isinstance(value, dict):
        raise ValueError("expected a list")
    if isinstance(value, (list, tuple)):
        if any(isinstance(item, (list, dict)) for item in value):
            raise ValueError("expected a list of single values")
        return [str(item).strip() for item in value if str(item).strip()]
    return [word for word in str(value).replace(",", " ").split() if word]


def _static_map(value: Any) -> Dict[str, str]:
    """URL prefix -> folder. YAML mapping, or ``/static/=public,/media/=media``."""
    if isinstance(value, dict):
        pairs = [(str(url), str(folder)) for url, folder in value.items()]
    else:
        pairs = []
        for item in _items(value):
            url, sep, folder = item.partition("=")
            if not sep or not url.strip() or not folder.strip():
                raise ValueError(f"{item!r} is not PREFIX=FOLDER, e.g. /static/=staticfiles")
            pairs.append((url, folder))
    result = {}
    for url, folder in pairs:
        prefix = ("/" + url.strip().strip("/") + "/").replace("//", "/")
        result[prefix] = folder.strip()
    return result


def _pairs(value: Any, what: str) -> List[Tuple[str, Any]]:
    """(key, value) pairs from a YAML mapping, a list of KEY=VALUE (repeated flags) or a comma-separated string."""
    if isinstance(value, dict):
        return [(str(k).strip(), v) for k, v in value.items()]
    pairs = []
    for item in _items(value):
        if "=" not in item:
            raise ValueError(f"expected {what}, got {item!r}")
        key, val = item.split("=", 1)
        pairs.append((key.strip(), val.strip()))
    return pairs


def _env_map(value: Any) -> Dict[str, str]:
    """NAME=VALUE pairs: a YAML mapping, repeated ``--env NAME=VALUE`` or ``A=1,B=2``."""
    result = {}
    for key, val in _pairs(value, "NAME=VALUE"):
        if not key or not all(c.isalnum() or c in "_.-" for c in key):
            raise ValueError(f"{key!r} is not a usable name (letters, digits, _ . -)")
        if isinstance(val, (dict, list)):
            raise ValueError(f"{key}: expected a single value")
        result[key] = "" if val is None else (str(val).lower() if isinstance(val, bool) else str(val))
    return result


def _counts(value: Any) -> Dict[str, int]:
    """Process type -> count: ``web=3,worker=2`` or a YAML mapping."""
    result = {}
    for key, val in _pairs(value, "TYPE=COUNT"):
        if not key:
            raise ValueError("a process type name is empty")
        text = str(val).strip()
        if isinstance(val, bool) or not text.isdigit():
            raise ValueError(f"{key}={val!r}: expected a whole number of replicas")
        result[key] = int(text)
    return result


def _services(value: Any) -> Dict[str, str]:
    """Side service name -> shell command: a YAML mapping, repeated ``--service NAME=COMMAND``,
    or environment text with one NAME=COMMAND per line (commands may hold commas)."""
    if isinstance(value, dict):
        pairs = [(str(k).strip(), v) for k, v in value.items()]
    else:
        raw = value if isinstance(value, (list, tuple)) else str(value).splitlines()
        pairs = []
        for item in raw:
            if isinstance(item, (list, dict)):
                raise ValueError("expected NAME=COMMAND entries")
            item = str(item).strip()
            if not item:
                continue
            name, sep, command = item.partition("=")
            if not sep:
                raise ValueError(f"expected NAME=COMMAND, got {item!r}")
            pairs.append((name.strip(), command))
    result = {}
    for name, command in pairs:
        if not name or not all(c.isalnum() or c in "-_." for c in name):
            raise ValueError(f"service name {name!r}: use letters, digits, - _ .")
        if isinstance(command, (list, dict)) or command is None or not str(command).strip():
            raise ValueError(f"service {name}: expected one shell command")
        result[name] = str(command).strip()
    return result


_SIZE_UNITS = {"": 1, "b": 1, "k": 1024, "ki": 1024, "kb": 1024, "m": 1024**2, "mi": 1024**2, "mb": 1024**2,
               "g": 1024**3, "gi": 1024**3, "gb": 1024**3}


def _size(value: Any) -> int:
    """Bytes from ``512M``, ``1G``, ``256Mi`` (binary units, as Docker's --memory reads them) or a byte count."""
    text = str(value).strip().lower()
    number = text.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = text[len(number):]
    try:
        amount = float(number)
    except ValueError:
        raise ValueError("expected a size such as 512M or 1G") from None
    if unit not in _SIZE_UNITS or amount <= 0 or isinstance(value, bool):
        raise ValueError("expected a size such as 512M or 1G")
    return int(amount * _SIZE_UNITS[unit])


_to_bool = Kind("bool", _bool, switch=True)
_to_int = Kind("int", _integer())
_to_count = Kind("int", _integer(0))  # 0 usually means "off"
_to_positive = Kind("int", _integer(1))
_to_port = Kind("int", _integer(0, 65535))
_to_number = Kind("number", _number)
_to_seconds = Kind("seconds", _seconds)
_to_str = Kind("string", _str)
_to_list = Kind("list", _list, multiple=True)
_to_static_map = Kind("map", _static_map, multiple=True)
_to_env_map = Kind("map", _env_map, multiple=True)
_to_counts = Kind("map", _counts, multiple=True)
_to_size = Kind("size", _size)
_to_services = Kind("map", _services, multiple=True)


def _name(value: Any) -> str:
    """A name warp only learns at run time (a buildpack's folder), checked where it is used."""
    text = _str(value).strip().lower()
    if not text or any(c.isspace() or c in "/\\" for c in text):
        raise ValueError("expected a single name")
    return text


_to_name = Kind("auto / package-manager buildpack name", _name)


def _choice(*choices: str) -> Kind:
    def parse(value: Any) -> str:
        text = "" if isinstance(value, (list, dict)) else str(value).strip().lower()
        if text not in choices:
            raise ValueError("expected one of " + ", ".join(choices))
        return text

    return Kind(" / ".join(choices), parse, choices=tuple(choices))


SERVERS = ("bundled", "gunicorn", "uwsgi", "waitress", "mod_wsgi", "uvicorn")
INSTALLERS = ("auto", "pip", "uv")
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")

# The commands a setting belongs to when its entry names only a group.
GROUP_COMMANDS = {
    "project": ("project", "build", "start"),
    "build": ("build",),
    "start": ("start",),
    "image": ("image",),
    "deploy": ("deploy",),
    SERVER: (SERVER,),
}


@dataclass(frozen=True)
class Setting:
    """One setting. ``commands`` names the ``warp`` commands (and ``server``, the
    bundled server) that take its flag; every setting that is not server-only is
    also a ``warp.yaml`` key and a ``warp config`` flag."""

    name: str
    parse: Callable[[Any], Any]
    default: Any
    doc: str
    env: Tuple[str, ...] = ()
    flag: Optional[str] = None
    group: str = "build"
    short: Optional[str] = None
    commands: Tuple[str, ...] = ()
    changes_build: bool = False
    metavar: Optional[str] = None
    # The flag's value is a path relative to the current folder, not to the app.
    cwd_path: bool = False
    # What the table says when the default is computed at run time.
    default_doc: Optional[str] = None
    # A valid value other than the default, for the walk over every flag (tests).
    example: Any = None
    # The bundled server takes it as its positional argument rather than a flag.
    positional: Optional[str] = None

    def __post_init__(self) -> None:
        if not self.commands:
            object.__setattr__(self, "commands", GROUP_COMMANDS.get(self.group, (self.group,)))

    @property
    def env_names(self) -> Tuple[str, ...]:
        return ("WARP_" + self.name.upper(),) + tuple(self.env)

    @property
    def type_name(self) -> str:
        return str(getattr(self.parse, "name", "string"))

    @property
    def switch(self) -> bool:
        return bool(getattr(self.parse, "switch", False))

    @property
    def multiple(self) -> bool:
        return bool(getattr(self.parse, "multiple", False))

    @property
    def server_only(self) -> bool:
        return tuple(self.commands) == (SERVER,)

    @property
    def flags(self) -> Tuple[str, ...]:
        """The flag and its short form, as the command line accepts them."""
        if not self.flag:
            return ()
        return ((self.short,) if self.short else ()) + (self.flag,)

    def fresh_default(self) -> Any:
        """The default, copied so no caller can change the declaration's list or dict."""
        if isinstance(self.default, (list, dict)):
            return type(self.default)(self.default)
        return self.default


SETTINGS: Tuple[Setting, ...] = (
    # -- the application and its environment
    Setting("venv", _to_str, ".warp/venv", "Folder of the application's own virtual environment, relative to the app.", flag="--venv", group="project", metavar="DIR", example=".venv-walk"),
    Setting("python", _to_str, None, "Python version wanted (e.g. 3.11); detected from .python-version, runtime.txt or requires-python.", flag="--python", group="project", commands=("project", "build"), changes_build=True, metavar="X.Y"),
    # -- warp build
    # Its values are the package-manager buildpacks found at run time (warp.build.recognise checks them).
    Setting("package_manager", _to_name, "auto", "Which package-manager buildpack installs the dependencies when several apply (`warp detect` lists them).", flag="--package-manager", changes_build=True, metavar="NAME", example="requirements"),
    Setting("buildpacks_path", _to_list, [], "Folders of buildpack folders searched before warp's own (relative to the app); a name found first wins.", changes_build=True),
    Setting("installer", _choice(*INSTALLERS), "auto", "Tool that installs packages: pip, or uv (auto: the one the package-manager buildpack prefers, uv for uv.lock; else pip).", flag="--installer", changes_build=True, example="pip"),
    Setting("wheelhouse", _to_str, None, "Folder of wheels to install from; with no_index, the only source.", flag="--wheelhouse", changes_build=True, cwd_path=True, metavar="DIR"),
    Setting("no_index", _to_bool, False, "Never contact a package index (offline builds).", flag="--no-index", changes_build=True),
    Setting("disable_collectstatic", _to_bool, False, "Skip Django's collectstatic.", env=("DISABLE_COLLECTSTATIC",), changes_build=True),
    Setting("lock_groups", _to_list, [], "Dependency groups installed from a lock file besides the main ones (Poetry and uv groups; `dev` for Pipfile.lock's develop); flag: repeat for several.", flag="--group", changes_build=True, metavar="GROUP", example="dev"),
    Setting("extras", _to_list, [], "Optional extras of the app installed from poetry.lock or uv.lock; flag: repeat for several.", flag="--extra", changes_build=True, metavar="EXTRA", example="fast"),
    Setting("migrate", _to_bool, False, "Run Django's migrate before each start (warp's standard deploy hook).", env=("DJANGO_MIGRATE",)),
    # -- warp start, and the bundled server where it shares the setting
    Setting("entrypoint", _to_str, None, "WSGI/ASGI callable as package.module:callable.", env=("APP_MODULE",), flag="--entrypoint", commands=("start", SERVER), positional="APP", metavar="MODULE:CALLABLE", example="app:application"),
    Setting("interface", _choice("auto", "wsgi", "asgi"), "auto", "Whether the entry point is a WSGI or an ASGI callable (auto: read from its source).", group="start"),
    Setting("server", _choice(*SERVERS), "bundled", "Server that runs the app.", flag="--server", commands=("build", "start"), changes_build=True, example="bundled"),
    Setting("host", _to_str, "0.0.0.0", "Address to listen on.", env=("HOST",), flag="--host", commands=("start", SERVER), example="127.0.0.1"),
    Setting("port", _to_port, 8080, "Port to listen on.", env=("PORT",), flag="--port", commands=("start", SERVER), example="8123"),
    Setting("workers", _to_positive, None, "Worker processes.", env=("WEB_CONCURRENCY",), flag="--workers", short="-w", commands=("start", SERVER), default_doc="min(2 x CPUs + 1, memory / 256 MiB), from the CPUs and memory the container really has", example="3"),
    Setting("threads", _to_positive, 1, "Threads per worker.", env=("PYTHON_MAX_THREADS",), flag="--threads", commands=("start", SERVER), example="4"),
    Setting("timeout", _to_seconds, 30, "Seconds a request may run: then its client gets 504, its traceback is logged and its worker is replaced once a new one is ready (0: never).", flag="--timeout", short="-t", commands=("start", SERVER), example="2.5"),
    Setting("graceful_timeout", _to_seconds, 30, "Seconds in-flight requests get to finish on stop, reload or recycling.", flag="--graceful-timeout", commands=("start", SERVER), example="12"),
    Setting("max_requests", _to_count, 0, "Recycle a worker after this many requests (0: never).", flag="--max-requests", commands=("start", SERVER), example="1000"),
    Setting("max_requests_jitter", _to_count, 0, "Random extra requests added to max_requests per worker, so workers do not recycle together.", flag="--max-requests-jitter", commands=("start", SERVER), example="50"),
    Setting("static", _to_static_map, {}, "URL prefix to folder map of static files served without entering the app (flag: repeat, or comma separated).", flag="--static", commands=("start", SERVER), metavar="PREFIX=FOLDER", example="/assets/=public"),
    Setting("trusted_proxies", _to_list, ["127.0.0.1", "::1"], "Addresses whose X-Forwarded-*/Forwarded headers are believed; `*` trusts every peer (flag: repeat for several).", env=("FORWARDED_ALLOW_IPS", "WARP_FORWARDED_ALLOW_IPS"), flag="--forwarded-allow-ips", commands=("start", SERVER), metavar="ADDRESS", example="10.0.0.1"),
    Setting("server_args", _to_list, [], "Extra native flags passed to the server as they are.", group="start"),
    Setting("log_level", _choice(*LOG_LEVELS), "info", "Server log level.", flag="--log-level", commands=("start", SERVER), example="critical"),
    Setting("access_log_format", _choice("common", "json"), "common", "Access log lines: common log format or JSON lines.", flag="--access-log-format", commands=("start", SERVER), example="json"),
    Setting("health_path", _to_str, "/", "Path fetched by `warp health` when no alive/ready hook exists.", group="start"),
    Setting("scale", _to_counts, {}, "Instances per Procfile process type under `warp start --all`, e.g. worker=2,clock=1 (1 for each type not named; web stays one server).", flag="--scale", group="start", metavar="TYPE=COUNT", example="worker=2"),
    Setting("metrics", _to_str, "", "Address the bundled server's master serves Prometheus/OpenMetrics metrics on at /metrics, as HOST:PORT (loopback advised; default: off; `warp metrics` prints the same text through the stats socket).", flag="--metrics", commands=("start", SERVER), metavar="HOST:PORT", example="127.0.0.1:9464"),
    Setting("slow_request", _to_seconds, 0, "Log a line (method, path, status, duration, worker, queue time) for each request slower than this many seconds (0: off). mod_wsgi-express's --slow-requests.", flag="--slow-request", commands=("start", SERVER), metavar="SECONDS", example="2.5"),
    Setting("services", _to_services, {}, "Side services the bundled server's master runs beside its workers, restarts when they die and stops after them: NAME=COMMAND (flag: repeat; env: one per line; a mapping in warp.yaml).", flag="--service", commands=("start", SERVER), metavar="NAME=COMMAND", example="warmer=sleep 30"),
    # -- development switches (refused where env is production, unless force_dev)
    Setting("env", _choice("development", "production"), "development", "Where the app runs: production refuses the development switches (reload, debug) unless force_dev; warp's images set production.", flag="--env", commands=("start",), example="production"),
    Setting("force_dev", _to_bool, False, "Allow reload and debug even where env is production.", flag="--force-dev", commands=("start",)),
    Setting("reload", _to_bool, False, "Reload the workers when a source file changes (a file with a syntax error is reported and the running code keeps serving).", flag="--reload", commands=("start",)),
    Setting("reload_include", _to_list, [], "Extra glob patterns (relative to the app) watched by reload besides the app's source tree, e.g. `config/*.ini`.", flag="--reload-include", commands=("start",), metavar="GLOB", example="*.ini"),
    Setting("debug", _to_bool, False, "One worker, one thread, no request timeout; an exception in a request stops in pdb at the failing frame (traceback with locals without a terminal), then the client gets 500.", flag="--debug", commands=("start",)),
    Setting("record", _to_str, None, "Folder to record every request and response to, one JSON file each, for `warp replay`.", flag="--record", commands=("start",), cwd_path=True, metavar="DIR", example="recorded"),
    Setting("record_body_limit", _to_size, 64 * 1024, "Bytes of each body kept in a recording; longer bodies are truncated and marked.", flag="--record-body-limit", commands=("start",), example="1K"),
    Setting("record_redact", _to_list, [], "Header names redacted in recordings besides Authorization, Cookie, Set-Cookie, Proxy-Authorization and X-Api-Key.", flag="--record-redact", commands=("start",), metavar="HEADER", example="X-Token"),
    # -- warp image
    Setting("base_image", _to_str, None, "Base image for `warp image` (default python:X.Y-slim for the detected version).", flag="--base-image", group="image"),
    Setting("source_date_epoch", _to_count, None, "Seconds since 1970 that every time in the image is set to (default: the last commit's time; now outside git).", env=("SOURCE_DATE_EPOCH",), flag="--source-date-epoch", group="image", metavar="SECONDS", default_doc="last commit", example="1700000000"),
    Setting("push", _to_bool, False, "Push the image to the registry its name names, with the Docker config's credentials, and print its digest.", flag="--push", group="image"),
    Setting("sbom", _to_str, None, "Also write the image's SBOM (CycloneDX JSON) to this file.", flag="--sbom", group="image", cwd_path=True, metavar="FILE", example="sbom.cdx.json"),
    Setting("no_cache", _to_bool, False, "Build every layer of the image again instead of reusing the engine's cache.", flag="--no-cache", group="image"),
    # -- warp deploy (Docker Swarm) and warp manifest kubernetes; in warp.yaml
    # also as a `deploy:` mapping without the prefix (deploy: {scale: {web: 2}}).
    Setting("deploy_image", _to_str, None, "Image the services run (default: the deploy's NAME, as `warp image NAME` tags it).", flag="--image", group="deploy"),
    Setting("deploy_scale", _to_counts, {}, "Replicas per process type, e.g. web=3,worker=2 (1 for each type not named).", flag="--scale", group="deploy"),
    Setting("deploy_publish", _to_int, None, "Port the web service is published on (default: the app's port; 0: not published, reachable on its own network only).", flag="--publish", group="deploy"),
    Setting("deploy_publish_mode", _choice("ingress", "host"), "ingress", "Swarm publishing: ingress (routing mesh, any node answers) or host (the node running a replica, one replica per node).", flag="--publish-mode", group="deploy"),
    Setting("deploy_endpoint_mode", _choice("vip", "dnsrr"), "vip", "Swarm service address: a virtual IP, or DNS round robin over the replicas' own addresses.", flag="--endpoint-mode", group="deploy"),
    Setting("deploy_cpus", _to_number, None, "CPU limit per replica (e.g. 0.5); WEB_CONCURRENCY is derived from it unless workers is set.", flag="--cpus", group="deploy"),
    Setting("deploy_memory", _to_size, None, "Memory limit per replica (e.g. 512M).", flag="--memory", group="deploy"),
    Setting("deploy_env", _to_env_map, {}, "Environment of every process type: NAME=VALUE (flag repeated, or a mapping in warp.yaml).", flag="--env", group="deploy"),
    Setting("deploy_secrets", _to_env_map, {}, "Secrets as NAME=FILE; each reaches the app as the file /run/secrets/NAME, never as environment.", flag="--secret", group="deploy"),
    Setting("deploy_monitor", _to_int, 10, "Seconds each updated replica is watched before the next; a failure in that window rolls the update back.", group="deploy"),
    Setting("deploy_startup_timeout", _to_int, 60, "Seconds a new replica may take to become healthy (Swarm start period, Kubernetes startupProbe).", group="deploy"),
    Setting("deploy_health_interval", _to_int, 5, "Seconds between health checks of a running replica.", group="deploy"),
    Setting("deploy_timeout", _to_int, 600, "Seconds `warp deploy` waits for an update (or the release task) to finish before giving up.", flag="--timeout", group="deploy"),
    Setting("deploy_read_only", _to_bool, True, "Run with a read-only root filesystem (writable: /tmp and warp's run folder).", group="deploy"),
    Setting("deploy_drain", _to_int, 5, "Seconds a stopping Kubernetes pod waits (preStop) so endpoints stop sending it traffic before TERM.", group="deploy"),
    Setting("deploy_autoscale", _to_str, None, "Kubernetes only: MIN-MAX replicas of web for a HorizontalPodAutoscaler (needs deploy_cpus).", group="deploy"),
    Setting("deploy_autoscale_cpu", _to_int, 70, "Kubernetes only: average CPU utilisation (% of the request) the autoscaler aims at.", group="deploy"),
    # -- the bundled server alone (python -m warp.runtime.server)
    Setting("bind", _to_list, [], "Addresses to listen on: HOST:PORT, [IPV6]:PORT, :PORT or unix:/PATH (flag: repeat; env: comma separated).", flag="--bind", short="-b", group=SERVER, metavar="ADDRESS", default_doc="host:port", example="127.0.0.1:8124"),
    Setting("backlog", _to_positive, 2048, "Listen queue length.", flag="--backlog", group=SERVER, example="64"),
    Setting("reuse_port", _to_bool, False, "Give each worker its own SO_REUSEPORT socket (kernel load balancing) instead of sharing the master's.", flag="--reuse-port", group=SERVER),
    Setting("preload", _to_bool, False, "Import the application once in the master before forking (copy-on-write memory sharing); a HUP reload imports the new code in each new worker instead.", flag="--preload", group=SERVER),
    Setting("startup_timeout", _to_seconds, 60, "Seconds a new worker may take to import the application (0: never).", flag="--startup-timeout", group=SERVER, example="5"),
    Setting("heartbeat_timeout", _to_seconds, 30, "Seconds an idle worker may go without a heartbeat before it is considered wedged and replaced (0: never).", flag="--heartbeat-timeout", group=SERVER, example="5"),
    Setting("max_memory", _to_count, 0, "Recycle a worker after the request that takes its RSS above this many MiB (0: no limit).", flag="--max-memory", group=SERVER, metavar="MIB", example="512"),
    Setting("stats", _to_str, "", "Stats socket: a UNIX socket path, unix:/PATH, HOST:PORT, or `off` (default .warp/run/stats.sock in the app folder, or a private folder under $TMPDIR when that one is read-only); `warp status` reads it.", flag="--stats", group=SERVER, metavar="ADDRESS", example="off"),
    Setting("chdir", _to_str, "", "Folder to change to before loading the application (default: the current one); it is put first on sys.path.", flag="--chdir", group=SERVER, metavar="DIR", example="."),
    Setting("access_log", _to_str, "-", "Access log file, `-` for stdout, `off` to disable.", flag="--access-log", group=SERVER, metavar="FILE", example="off"),
    Setting("error_log", _to_str, "-", "Server log file, `-` for stderr.", flag="--error-log", group=SERVER, metavar="FILE", example="server.log"),
    Setting("script_name", _to_str, "", "URL prefix the application is mounted at (becomes SCRIPT_NAME; requests outside it get 404).", flag="--script-name", group=SERVER, metavar="PREFIX", example="/app"),
    Setting("limit_request_line", _to_positive, 8190, "Longest request line in bytes (longer: 414).", flag="--limit-request-line", group=SERVER, example="4096"),
    Setting("limit_request_fields", _to_positive, 100, "Most header fields in a request (more: 431).", flag="--limit-request-fields", group=SERVER, example="50"),
    Setting("limit_request_field_size", _to_positive, 8190, "Longest header field line in bytes (longer: 431).", flag="--limit-request-field-size", group=SERVER, example="4096"),
    Setting("limit_request_body", _to_count, 100 * 1024 * 1024, "Largest request body in bytes (larger: 413; 0: no limit).", flag="--limit-request-body", group=SERVER, example="1024"),
    Setting("header_timeout", _to_seconds, 10, "Seconds a client gets to send a whole request head, the longest pause while sending a body, and the grace before --body-min-rate applies (then 408 and close).", flag="--header-timeout", group=SERVER, example="7"),
    Setting("body_min_rate", _to_count, 500, "Slowest request body accepted, in bytes/s, after the header timeout's grace (then 408; 0: no minimum). mod_wsgi-express's body-min-rate.", flag="--body-min-rate", group=SERVER, metavar="BYTES", example="1000"),
    Setting("body_max_time", _to_seconds, 3600, "Seconds a whole request body may take to arrive (then 408; 0: no limit).", flag="--body-max-time", group=SERVER, example="600"),
    Setting("keepalive_timeout", _to_seconds, 5, "Seconds an idle keep-alive connection stays open (0: no keep-alive).", flag="--keepalive-timeout", group=SERVER, example="3"),
    Setting("write_timeout", _to_seconds, 30, "Seconds a client may stop reading a response before the connection is dropped, and the grace before --write-min-rate applies.", flag="--write-timeout", group=SERVER, example="9"),
    Setting("write_min_rate", _to_count, 500, "Slowest reader of a response kept, in bytes/s, counted while the client does not keep up (then the connection is dropped; 0: no minimum).", flag="--write-min-rate", group=SERVER, metavar="BYTES", example="1000"),
    Setting("write_max_time", _to_seconds, 3600, "Seconds a response may wait in total for a client that does not keep up (then dropped; 0: no limit).", flag="--write-max-time", group=SERVER, example="600"),
    Setting("response_buffer", _to_positive, 1 << 20, "Bytes of a response held in memory per connection for a client slower than the app; past it (or past --response-buffer-total) they go to a temporary file.", flag="--response-buffer", group=SERVER, metavar="BYTES", example="65536"),
    Setting("response_buffer_total", _to_positive, 64 << 20, "Bytes of responses held in memory per worker for slow clients, all connections together.", flag="--response-buffer-total", group=SERVER, metavar="BYTES", example="16777216"),
    Setting("response_spool", _to_count, 1 << 30, "Bytes of a response spooled to a temporary file per connection; past it the app's write waits for the client (0: never spool).", flag="--response-spool", group=SERVER, metavar="BYTES", example="0"),
    Setting("response_spool_total", _to_count, 4 << 30, "Bytes of responses spooled to temporary files per worker, all connections together.", flag="--response-spool-total", group=SERVER, metavar="BYTES", example="1073741824"),
    Setting("queue_timeout", _to_seconds, 0, "Seconds a request may wait for a free request thread, from its arrival (or a trusted proxy's X-Request-Start): then 503 without calling the app (0: off). mod_wsgi-express's queue-timeout.", flag="--queue-timeout", group=SERVER, example="45"),
    Setting("worker_connections", _to_positive, 1000, "Most open connections per worker (idle keep-alive ones included).", flag="--worker-connections", group=SERVER, example="200"),
)

BY_NAME: Dict[str, Setting] = {setting.name: setting for setting in SETTINGS}

# A mapping in warp.yaml whose keys are settings named with a prefix:
# `deploy: {scale: ...}` is `deploy_scale: ...`.
SECTIONS = {"deploy": "deploy_"}


def settings_for(command: str) -> List[Setting]:
    """The settings whose flag (or, for the server, positional argument) ``command`` takes."""
    return [s for s in SETTINGS if command in s.commands and (s.flag or s.positional)]


def config_settings() -> List[Setting]:
    """The settings warp itself resolves: ``warp.yaml`` keys, shown by ``warp config``."""
    return [s for s in SETTINGS if not s.server_only]


def server_settings() -> List[Setting]:
    """The settings the bundled server reads from its flags and environment."""
    return [s for s in SETTINGS if SERVER in s.commands]


def build_settings() -> Tuple[str, ...]:
    """Names of the settings whose value changes what a build produces (its fingerprint)."""
    return tuple(s.name for s in SETTINGS if s.changes_build)


def parse_value(setting: Setting, raw: Any, where: str, fix: Optional[str] = None) -> Any:
    """``raw`` through ``setting``'s parser; ConfigError naming ``where`` when it is not valid.

    ``fix`` is the hint: how to correct the value where it came from.
    """
    try:
        return setting.parse(raw)
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            f"{where}: {setting.name}={raw!r} is not valid: {exc}",
            fix or f"correct {setting.name} in {where}",
        ) from None


def flag_where(setting: Setting) -> str:
    return setting.flag or (setting.positional or setting.name)


def resolve(
    settings: Iterable[Setting],
    environ: Mapping[str, str],
    flags: Optional[Mapping[str, Any]] = None,
    file_values: Optional[Mapping[str, Tuple[Any, str]]] = None,
    detected: Optional[Mapping[str, Any]] = None,
) -> Tuple[Dict[str, Any], Dict[str, str]]:
    """Every setting's value and source, by precedence: flag, environment, file, detected, default.

    ``flags`` holds raw command-line values (None: not given); ``file_values`` maps a
    key to (raw value, "path:line"); ``detected`` holds values found in the app.
    """
    flags = flags or {}
    file_values = file_values or {}
    detected = detected or {}
    values: Dict[str, Any] = {}
    sources: Dict[str, str] = {}
    for setting in settings:
        value, source = setting.fresh_default(), SOURCE_DEFAULT
        if detected.get(setting.name) is not None:
            value, source = detected[setting.name], SOURCE_DETECTED
        if setting.name in file_values:
            raw, where = file_values[setting.name]
            value, source = parse_value(setting, raw, where, f"correct {setting.name} in {CONFIG_FILE}"), SOURCE_FILE
        for env_name in reversed(setting.env_names):
            # WARP_<NAME> wins over the conventional names, so walk it last.
            text = environ.get(env_name, "")
            if text.strip() != "":
                value = parse_value(setting, text, f"environment variable {env_name}", f"correct or unset {env_name}")
                source = f"{SOURCE_ENV} {env_name}"
        raw_flag = flags.get(setting.name)
        if raw_flag is not None and raw_flag != [] and raw_flag != ():
            where = flag_where(setting)
            value, source = parse_value(setting, raw_flag, where, f"correct the value of {where}"), SOURCE_FLAG
        values[setting.name] = value
        sources[setting.name] = source
    return values, sources


def _default_text(setting: Setting) -> str:
    if setting.default_doc:
        return setting.default_doc
    default = setting.default
    if default in (None, "", {}, []):
        return ""
    if isinstance(default, list):
        return "`" + ",".join(default) + "`"
    return f"`{default}`"


def settings_table() -> str:
    """The README's settings table, in Markdown."""
    rows = [
        "| setting | type | default | environment | flag | commands | what it does |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in SETTINGS:
        env = ", ".join(f"`{name}`" for name in s.env_names)
        flags = ", ".join(f"`{flag}`" for flag in s.flags)
        if s.positional:
            flags = ", ".join(filter(None, [flags, f"`{s.positional}` (server)"]))
        commands = ", ".join(s.commands)
        rows.append(f"| `{s.name}` | {s.type_name} | {_default_text(s)} | {env} | {flags} | {commands} | {s.doc} |")
    return "\n".join(rows)


if __name__ == "__main__":
    # `python -m warp.core.settings` prints the README's settings table.
    print(settings_table())
