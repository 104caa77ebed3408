"""What gets deployed, decided once for every target: pure, no engine, no cluster.

:func:`app_spec` reads the app (its entry point, Procfile, hooks and settings) and
returns an :class:`AppSpec`: one :class:`Process` per long-running process
type, the ``release`` task, health checks, limits, environment and secrets.
``warp.deploy.swarm`` turns it into Swarm services and
``warp.deploy.kubernetes`` into manifests, so the same ``deploy:`` settings
drive both.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional, Tuple
import math
import re

from warp.core.errors import ConfigError, UsageError
from warp.core.project import Project

APP_DIR = "/app"  # where `warp image` puts the app (warp.image.render.APP_DIR)
RUN_DIR = APP_DIR + "/.warp/run"  # warp's run folder inside the image (Project.run_dir)
SECRETS_DIR = "/run/secrets"
RELEASE = "release"
WEB = "web"
# Swarm caps a secret at 500 KiB.
SECRET_MAX_BYTES = 500 * 1024

# Lowercase so the same NAME is a valid Swarm service prefix and Kubernetes
# object name (DNS-1123), short enough for the suffixes warp adds.
_NAME = re.compile(r"^[a-z][a-z0-9-]{0,39}$")
_SECRET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class Process:
    """One process type: ``args`` follow the image's entrypoint (warp-entrypoint)."""

    type: str
    args: Tuple[str, ...]
    replicas: int = 1

    @property
    def is_web(self) -> bool:
        return self.type == WEB


@dataclass(frozen=True)
class Health:
    """How a web replica's health is checked.

    ``http``: GET ``path`` on the app's port (no alive/ready hook); else
    ``exec`` of ``warp health`` (which runs the hooks). Swarm always runs
    ``warp health``, which does either.
    """

    kind: str  # "http" or "exec"
    path: str
    alive: Tuple[str, ...]
    ready: Tuple[str, ...]


@dataclass(frozen=True)
class AppSpec:
    name: str
    image: str
    port: int
    publish: int  # 0: not published
    publish_mode: str
    endpoint_mode: str
    processes: Tuple[Process, ...]  # long-running, web first
    release: Optional[Process]
    env: Dict[str, str]  # for every process type
    web_concurrency: Optional[str]  # WEB_CONCURRENCY for web
    concurrency_reason: str
    cpus: Optional[float]
    memory: Optional[int]  # bytes
    secrets: Dict[str, Path]  # name -> the file on this machine
    graceful_timeout: int
    stop_grace: int  # seconds between TERM and KILL, above graceful_timeout
    startup_timeout: int
    health_interval: int
    monitor: int
    timeout: int
    read_only: bool
    drain: int
    autoscale: Optional[Tuple[int, int]]  # (min, max)
    autoscale_cpu: int
    health: Health

    def process(self, type_name: str) -> Process:
        for process in self.processes:
            if process.type == type_name:
                return process
        raise KeyError(type_name)

    def as_dict(self) -> dict:
        return {
            "name": self.name, "image": self.image, "port": self.port, "publish": self.publish,
            "processes": {p.type: p.replicas for p in self.processes},
            "release": self.release is not None,
            "cpus": self.cpus, "memory": self.memory, "web_concurrency": self.web_concurrency,
            "secrets": sorted(self.secrets), "env": sorted(self.env),
        }


def check_name(name: str) -> str:
    if not _NAME.match(name or ""):
        raise UsageError(
            f"{name!r} is not a usable deploy name",
            "use 1 to 40 lowercase letters, digits and -, starting with a letter (e.g. myapp)",
        )
    return name


def k8s_name(type_name: str) -> str:
    """A process type as a DNS-1123 label part (Procfile allows _ and capitals)."""
    return type_name.lower().replace("_", "-")


def _process_types(project: Project) -> dict:
    """{type: command line} of the Procfile, or {}."""
    from warp.app.entrypoint import procfile_types

    procfile = project.root / "Procfile"
    return procfile_types(procfile) if procfile.is_file() else {}


def _has_web(project: Project, types: dict) -> bool:
    """True when `warp start` has something to serve: the entry point rules resolve."""
    from warp.app.entrypoint import NoEntryPoint, resolve

    if WEB in types:
        return True
    try:
        resolve(project, environ={})
    except NoEntryPoint:
        if [t for t in types if t != RELEASE]:
            return False  # a Procfile of workers only
        raise
    return True


def _args(type_name: str) -> Tuple[str, ...]:
    if type_name == WEB:
        return ("warp", "start", "--app", APP_DIR)
    return ("warp", "start", type_name, "--app", APP_DIR)


def concurrency(config: Any, cpus: Optional[float], memory: Optional[int]) -> Tuple[Optional[str], str]:
    """(WEB_CONCURRENCY or None, why): the workers setting, else Heroku's rule on the limits."""
    if config.workers is not None and config.source("workers") != "default":
        return str(config.workers), f"workers from {config.source('workers')}"
    if cpus is None:
        return None, "no CPU limit: the server counts the CPUs and memory its container sees"
    from warp.runtime.workers import Resources, default_workers

    memory_mib = memory // (1024 * 1024) if memory else 1 << 20
    count, why = default_workers(Resources(
        cpus=max(1, math.ceil(cpus)), memory_mib=memory_mib,
        cpus_from=f"deploy_cpus {cpus:g}", memory_from="deploy_memory" if memory else "no memory limit",
    ))
    return str(count), why


def _health(project: Project, config) -> Health:
    from warp.build.hooks import find_hooks

    hooks = find_hooks(project)
    alive = ("warp", "health", "--alive", "--app", APP_DIR)
    ready = ("warp", "health", "--ready", "--app", APP_DIR)
    kind = "exec" if ("alive" in hooks or "ready" in hooks) else "http"
    return Health(kind=kind, path=config.health_path, alive=alive, ready=ready)


def _secrets(project: Project, config) -> dict:
    values = config.deploy_secrets
    # A path on the command line is the user's (relative to where they are);
    # one in warp.yaml is the app's.
    base = Path.cwd() if config.source("deploy_secrets") == "flag" else project.root
    secrets = {}
    for name, where in values.items():
        if not _SECRET_NAME.match(name):
            raise ConfigError(f"secret name {name!r} is not usable", "use letters, digits and _ . - (it becomes the file /run/secrets/NAME)")
        path = (base / where).resolve() if where else None
        if path is None or not path.is_file():
            raise ConfigError(f"secret {name}: no such file {where!r}", f"give --secret {name}=FILE with a readable file")
        if path.stat().st_size > SECRET_MAX_BYTES:
            raise ConfigError(f"secret {name}: {where} is larger than 500 KiB", "Swarm and Kubernetes keep secrets small; store a key, not a blob")
        secrets[name] = path
    return secrets


def _autoscale(config: Any, cpus: Optional[float]) -> Optional[Tuple[int, int]]:
    text = config.deploy_autoscale
    if not text:
        return None
    match = re.fullmatch(r"\s*(\d+)\s*-\s*(\d+)\s*", str(text))
    if not match or not 1 <= int(match.group(1)) <= int(match.group(2)):
        raise ConfigError(f"deploy_autoscale={text!r} is not MIN-MAX", "write e.g. 2-10 (at least 1, MIN <= MAX)")
    if cpus is None:
        raise ConfigError("deploy_autoscale needs deploy_cpus", "an autoscaler aims at a share of the CPU request: set deploy_cpus (e.g. 0.5)")
    return int(match.group(1)), int(match.group(2))


def app_spec(project: Project, name: str) -> AppSpec:
    """The AppSpec of ``project`` deployed as ``name``; ConfigError for settings that cannot work."""
    from warp.image.build import check_name as check_image

    name = check_name(name)
    config = project.config
    image = check_image(config.deploy_image or name)
    types = _process_types(project)
    scale = dict(config.deploy_scale)
    long_running = ([WEB] if _has_web(project, types) else []) + sorted(t for t in types if t not in (WEB, RELEASE))
    unknown = sorted(set(scale) - set(long_running))
    if unknown:
        raise ConfigError(
            f"deploy_scale names {', '.join(unknown)}, not a process type of this app (from {config.source('deploy_scale')})",
            "process types: " + (", ".join(long_running) or "none") + " (web from the entry point, others from the Procfile)",
        )
    seen: Dict[str, str] = {}
    for type_name in long_running:
        other = seen.setdefault(k8s_name(type_name), type_name)
        if other != type_name:
            raise ConfigError(f"Procfile types {other} and {type_name} give the same name", "rename one of them")
    processes = tuple(Process(t, _args(t), scale.get(t, 1)) for t in long_running)
    release = Process(RELEASE, _args(RELEASE), 1) if RELEASE in types else None

    cpus = config.deploy_cpus
    if cpus is not None and cpus <= 0:
        raise ConfigError(f"deploy_cpus={cpus:g} must be above 0", "give a CPU share such as 0.5 or 2")
    memory = config.deploy_memory
    web_concurrency, why = concurrency(config, cpus, memory)
    publish = config.port if config.deploy_publish is None else config.deploy_publish
    if not 0 <= publish <= 65535:
        raise ConfigError(f"deploy_publish={publish} is not a port", "give 1-65535, or 0 for not published")
    if publish and config.deploy_endpoint_mode == "dnsrr" and config.deploy_publish_mode == "ingress":
        raise ConfigError(
            "endpoint mode dnsrr cannot publish through the ingress routing mesh (Swarm refuses it)",
            "add --publish-mode host, or --publish 0 to reach it on its network only",
        )
    for setting in ("deploy_monitor", "deploy_startup_timeout", "deploy_health_interval", "deploy_timeout", "deploy_drain"):
        if getattr(config, setting) < (0 if setting in ("deploy_monitor", "deploy_drain") else 1):
            raise ConfigError(f"{setting}={getattr(config, setting)} is too small", "give a number of seconds")
    graceful = config.graceful_timeout
    return AppSpec(
        name=name, image=image, port=config.port, publish=publish,
        publish_mode=config.deploy_publish_mode, endpoint_mode=config.deploy_endpoint_mode,
        processes=processes, release=release, env=dict(config.deploy_env),
        web_concurrency=web_concurrency, concurrency_reason=why, cpus=cpus, memory=memory,
        secrets=_secrets(project, config), graceful_timeout=graceful,
        # Time to finish in-flight requests, plus slack for the server's own exit.
        stop_grace=graceful + 10,
        startup_timeout=config.deploy_startup_timeout, health_interval=config.deploy_health_interval,
        monitor=config.deploy_monitor, timeout=config.deploy_timeout, read_only=config.deploy_read_only,
        drain=config.deploy_drain, autoscale=_autoscale(config, cpus), autoscale_cpu=config.deploy_autoscale_cpu,
        health=_health(project, config),
    )


def open_for_deploy(app_dir: str, name: str, flags: Optional[Dict[str, Any]] = None) -> AppSpec:
    """Read the app in ``app_dir`` (environment files included) and make its AppSpec as ``name``."""
    from warp.core.project import open_project

    return app_spec(open_project(app_dir, flags=flags), name)
