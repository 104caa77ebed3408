"""Every warp setting, declared once.

A setting has one entry in ``SETTINGS``: its ``warp.yaml`` key, its type, its
default, the environment variables that set it (``WARP_<NAME>`` first, then the
conventions users already have, such as ``PORT`` or ``WEB_CONCURRENCY``), its
command-line flag where one makes sense, and its documentation. The CLI's
options, ``warp config``, the README's settings table and the validation of
``warp.yaml`` are all derived from this list, so they cannot drift apart.

Precedence, highest first: command-line flag, environment variable,
``warp.yaml``, a value warp detected in the application, the default.
"""

from dataclasses import dataclass
from typing import Optional
from pathlib import Path
import difflib
import os

import yaml

from warp.core.errors import ConfigError

CONFIG_FILE = "warp.yaml"

# Where a value came from, as ``warp config`` shows it.
SOURCE_DEFAULT = "default"
SOURCE_DETECTED = "detected"
SOURCE_FILE = CONFIG_FILE
SOURCE_ENV = "env"
SOURCE_FLAG = "flag"


def _to_bool(value):
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("expected true or false")


def _to_int(value):
    text = str(value).strip()
    if isinstance(value, bool) or not text.lstrip("-").isdigit():
        raise ValueError("expected a whole number")
    return int(text)


def _to_number(value):
    if isinstance(value, bool):
        raise ValueError("expected a number")
    try:
        return float(str(value).strip())
    except ValueError:
        raise ValueError("expected a number") from None


def _to_str(value):
    if isinstance(value, (dict, list)):
        raise ValueError("expected a single value")
    return str(value)


def _to_list(value):
    """A list from YAML, or a comma/space separated string from env or flag."""
    if isinstance(value, list):
        return [str(v) for v in value]
    if isinstance(value, dict):
        raise ValueError("expected a list")
    return [part for part in str(value).replace(",", " ").split() if part]


def _to_static_map(value):
    """URL prefix -> folder. YAML mapping, or ``/static/=public,/media/=media``."""
    if isinstance(value, dict):
        pairs = value.items()
    elif isinstance(value, list):
        raise ValueError("expected a mapping of URL prefix to folder")
    else:
        pairs = []
        for item in str(value).split(","):
            if not item.strip():
                continue
            if "=" not in item:
                raise ValueError(f"expected URL=FOLDER, got {item.strip()!r}")
            url, folder = item.split("=", 1)
            pairs.append((url, folder))
    result = {}
    for url, folder in pairs:
        url = "/" + str(url).strip().strip("/") + "/"
        result[url.replace("//", "/")] = str(folder).strip()
    return result


def _pairs(value, what):
    """(key, value) pairs from a YAML mapping, a list of KEY=VALUE (repeated flags) or a comma-separated string."""
    if isinstance(value, dict):
        return [(str(k).strip(), v) for k, v in value.items()]
    items = value if isinstance(value, list) else str(value).split(",")
    pairs = []
    for item in items:
        item = str(item).strip()
        if not item:
            continue
        if "=" not in item:
            raise ValueError(f"expected {what}, got {item!r}")
        key, val = item.split("=", 1)
        pairs.append((key.strip(), val.strip()))
    return pairs


def _to_env_map(value):
    """NAME=VALUE pairs: a YAML mapping, repeated ``--env NAME=VALUE`` or ``A=1,B=2``."""
    result = {}
    for key, val in _pairs(value, "NAME=VALUE"):
        if not key or not all(c.isalnum() or c in "_.-" for c in key):
            raise ValueError(f"{key!r} is not a usable name (letters, digits, _ . -)")
        if isinstance(val, (dict, list)):
            raise ValueError(f"{key}: expected a single value")
        result[key] = "" if val is None else (str(val).lower() if isinstance(val, bool) else str(val))
    return result


def _to_counts(value):
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


_SIZE_UNITS = {"": 1, "b": 1, "k": 1024, "ki": 1024, "kb": 1024, "m": 1024**2, "mi": 1024**2, "mb": 1024**2,
               "g": 1024**3, "gi": 1024**3, "gb": 1024**3}


def _to_size(value):
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


def _choice(*choices):
    def parse(value):
        text = str(value).strip().lower()
        if text not in choices:
            raise ValueError("expected one of " + ", ".join(choices))
        return text

    parse.choices = choices
    return parse


# Types by name, so the settings table can say what a value looks like.
TYPE_NAMES = {
    _to_bool: "bool",
    _to_int: "int",
    _to_number: "number",
    _to_str: "string",
    _to_list: "list",
    _to_static_map: "map",
    _to_env_map: "map",
    _to_counts: "map",
    _to_size: "size",
}

SERVERS = ("bundled", "gunicorn", "uwsgi", "waitress", "mod_wsgi", "uvicorn")
INSTALLERS = ("auto", "pip", "uv")
PACKAGE_MANAGERS = ("auto", "requirements", "pyproject", "setup", "pipfile", "poetry", "uv")


@dataclass(frozen=True)
class Setting:
    name: str
    parse: object
    default: object
    doc: str
    env: tuple = ()
    flag: Optional[str] = None
    group: str = "build"

    @property
    def env_names(self):
        return ("WARP_" + self.name.upper(),) + tuple(self.env)

    @property
    def type_name(self):
        choices = getattr(self.parse, "choices", None)
        if choices:
            return " / ".join(choices)
        return TYPE_NAMES.get(self.parse, "string")


SETTINGS = (
    # -- the application and its environment
    Setting("venv", _to_str, ".warp/venv", "Folder of the application's own virtual environment, relative to the app.", flag="--venv", group="project"),
    Setting("python", _to_str, None, "Python version wanted (e.g. 3.11); detected from .python-version, runtime.txt or requires-python.", group="project"),
    # -- warp build
    Setting("package_manager", _choice(*PACKAGE_MANAGERS), "auto", "Which dependency file to install when several are present.", flag="--package-manager"),
    Setting("installer", _choice(*INSTALLERS), "auto", "Tool that installs packages: pip, or uv (auto: uv when uv.lock is present, else pip).", flag="--installer"),
    Setting("wheelhouse", _to_str, None, "Folder of wheels to install from; with no_index, the only source.", flag="--wheelhouse"),
    Setting("no_index", _to_bool, False, "Never contact a package index (offline builds).", flag="--no-index"),
    Setting("disable_collectstatic", _to_bool, False, "Skip Django's collectstatic.", env=("DISABLE_COLLECTSTATIC",)),
    Setting("lock_groups", _to_list, [], "Dependency groups installed from a lock file besides the main ones (Poetry and uv groups; `dev` for Pipfile.lock's develop).", flag="--group"),
    Setting("extras", _to_list, [], "Optional extras of the app installed from poetry.lock or uv.lock.", flag="--extra"),
    Setting("migrate", _to_bool, False, "Run Django's migrate before each start (warp's standard deploy hook).", env=("DJANGO_MIGRATE",)),
    # -- warp start
    Setting("entrypoint", _to_str, None, "WSGI/ASGI callable as package.module:callable.", env=("APP_MODULE",), flag="--entrypoint", group="start"),
    Setting("interface", _choice("auto", "wsgi", "asgi"), "auto", "Whether the entry point is a WSGI or an ASGI callable (auto: read from its source).", group="start"),
    Setting("server", _choice(*SERVERS), "bundled", "Server that runs the app.", flag="--server", group="start"),
    Setting("host", _to_str, "0.0.0.0", "Address to listen on.", env=("HOST",), flag="--host", group="start"),
    Setting("port", _to_int, 8080, "Port to listen on.", env=("PORT",), flag="--port", group="start"),
    Setting("workers", _to_int, None, "Worker processes (default: from the CPUs and memory the container really has).", env=("WEB_CONCURRENCY",), flag="--workers", group="start"),
    Setting("threads", _to_int, 1, "Threads per worker.", env=("PYTHON_MAX_THREADS",), flag="--threads", group="start"),
    Setting("timeout", _to_int, 30, "Seconds a request may run before its worker is killed and replaced.", flag="--timeout", group="start"),
    Setting("graceful_timeout", _to_int, 30, "Seconds in-flight requests get to finish on stop or reload.", flag="--graceful-timeout", group="start"),
    Setting("max_requests", _to_int, 0, "Recycle a worker after this many requests (0: never).", flag="--max-requests", group="start"),
    Setting("max_requests_jitter", _to_int, 0, "Random extra requests added to max_requests per worker, so workers do not recycle together.", group="start"),
    Setting("static", _to_static_map, {}, "URL prefix to folder map of static files served without entering the app.", flag="--static", group="start"),
    Setting("trusted_proxies", _to_list, ["127.0.0.1", "::1"], "Addresses whose X-Forwarded-*/Forwarded headers are believed.", group="start"),
    Setting("server_args", _to_list, [], "Extra native flags passed to the server as they are.", group="start"),
    Setting("log_level", _choice("debug", "info", "warning", "error"), "info", "Server log level.", flag="--log-level", group="start"),
    Setting("access_log_format", _choice("common", "json"), "common", "Access log lines: common log format or JSON lines.", group="start"),
    Setting("health_path", _to_str, "/", "Path fetched by `warp health` when no alive/ready hook exists.", group="start"),
    Setting("scale", _to_counts, {}, "Instances per Procfile process type under `warp start --all`, e.g. worker=2,clock=1 (1 for each type not named; web stays one server).", flag="--scale", group="start"),
    # -- warp image
    Setting("base_image", _to_str, None, "Base image for `warp image` (default python:X.Y-slim for the detected version).", flag="--base-image", group="image"),
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
)

# A mapping in warp.yaml whose keys are settings named with a prefix:
# `deploy: {scale: ...}` is `deploy_scale: ...`.
SECTIONS = {"deploy": "deploy_"}

BY_NAME = {setting.name: setting for setting in SETTINGS}


@dataclass(frozen=True)
class Config:
    """The effective value of every setting, and where each came from."""

    values: dict
    sources: dict
    path: Optional[Path] = None  # the warp.yaml read, if any

    def __getattr__(self, name):
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(name) from None

    def source(self, name):
        return self.sources[name]

    def as_rows(self):
        return [
            {"name": s.name, "value": self.values[s.name], "source": self.sources[s.name]}
            for s in SETTINGS
        ]


def read_config_file(app_dir):
    """Parsed warp.yaml of ``app_dir`` as {key: (value, line)}; empty if absent."""
    path = Path(app_dir) / CONFIG_FILE
    if not path.exists():
        return path, {}
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}", "make it a readable UTF-8 YAML file") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{where}: invalid YAML: {problem}", "fix the syntax of warp.yaml") from None
    if data is None:
        return path, {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}:1: expected a mapping of settings at the top level", "write `key: value` lines, e.g. `server: gunicorn`")
    lines = {}
    for key_node, value_node in node.value:
        lines[key_node.value] = key_node.start_mark.line + 1
        if key_node.value in SECTIONS and isinstance(value_node, yaml.MappingNode):
            for sub_key, _ in value_node.value:
                lines[SECTIONS[key_node.value] + str(sub_key.value)] = sub_key.start_mark.line + 1
    result = {}
    for key, value in data.items():
        if key in SECTIONS:
            if not isinstance(value, dict):
                raise ConfigError(f"{path}:{lines.get(str(key))}: {key}: expected a mapping of settings",
                                  f"write e.g. `{key}:` then indented `key: value` lines")
            for sub_key, sub_value in value.items():
                name = SECTIONS[key] + str(sub_key)
                result[name] = (sub_value, lines.get(name))
            continue
        result[key] = (value, lines.get(str(key)))
    return path, result


def _parse(setting, raw, where):
    try:
        return setting.parse(raw)
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            f"{where}: {setting.name}={raw!r} is not valid: {exc}",
            f"set {setting.name} to a {setting.type_name} value",
        ) from None


def load_config(app_dir=".", environ=None, flags=None, detected=None):
    """Resolve every setting for the app in ``app_dir``.

    ``flags`` holds values given on the command line (None meaning not given),
    ``detected`` values warp found in the application itself.
    """
    environ = os.environ if environ is None else environ
    flags = flags or {}
    detected = detected or {}
    path, file_values = read_config_file(app_dir)

    for key, (_, line) in file_values.items():
        if key not in BY_NAME:
            near = difflib.get_close_matches(str(key), list(BY_NAME), n=1)
            hint = f"did you mean {near[0]}?" if near else "see `warp config` for the known settings"
            raise ConfigError(f"{path}:{line}: unknown setting {key!r}", hint)

    values, sources = {}, {}
    for setting in SETTINGS:
        value, source = setting.default, SOURCE_DEFAULT
        if detected.get(setting.name) is not None:
            value, source = detected[setting.name], SOURCE_DETECTED
        if setting.name in file_values:
            raw, line = file_values[setting.name]
            value, source = _parse(setting, raw, f"{path}:{line}"), SOURCE_FILE
        for env_name in reversed(setting.env_names):
            # WARP_<NAME> wins over the conventional names, so walk it last.
            if environ.get(env_name, "") != "":
                value = _parse(setting, environ[env_name], f"environment variable {env_name}")
                source = f"{SOURCE_ENV} {env_name}"
        if flags.get(setting.name) is not None:
            value, source = _parse(setting, flags[setting.name], setting.flag or setting.name), SOURCE_FLAG
        values[setting.name] = value
        sources[setting.name] = source
    return Config(values=values, sources=sources, path=path if file_values else None)


def settings_table():
    """The README's settings table, in Markdown."""
    rows = ["| setting | type | default | environment | flag | what it does |", "|---|---|---|---|---|---|"]
    for s in SETTINGS:
        default = "" if s.default in (None, {}, []) else f"`{s.default}`"
        if isinstance(s.default, list) and s.default:
            default = "`" + ",".join(s.default) + "`"
        env = ", ".join(f"`{name}`" for name in s.env_names)
        flag = f"`{s.flag}`" if s.flag else ""
        rows.append(f"| `{s.name}` | {s.type_name} | {default} | {env} | {flag} | {s.doc} |")
    return "\n".join(rows)


if __name__ == "__main__":
    # `python -m warp.core.settings` prints the README's settings table.
    print(settings_table())
