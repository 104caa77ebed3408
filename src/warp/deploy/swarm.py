"""`warp deploy NAME`: the app as Docker Swarm services, through the docker SDK.

One service per process type, ``NAME_<type>``, on an overlay network of its
own (``NAME_net``), every object labelled ``warp.deploy=NAME`` so that
``--status`` and ``--rm`` find exactly what a deploy made. Swarm does the
scheduling, the rolling update and the rollback; warp writes the services'
specs, runs the ``release`` task first and watches the update converge.

:func:`deploy` is a generator like ``warp.image.build.build_image``: it
yields progress lines and returns a :class:`DeployResult`, or raises
``WarpError``. Nothing is created before every check has passed (swarm
manager, image present, published port free, secret files readable); a
failing ``release`` removes what this run created and updates nothing.
"""

from dataclasses import dataclass, field
from typing import Any, Dict, Generator, List, Optional, Tuple
import hashlib
import json
import os
import socket
import time

from warp.core.errors import WarpError
from warp.deploy.spec import RUN_DIR, AppSpec, Process

LABEL = "warp.deploy"
TYPE_LABEL = "warp.deploy.type"
IMAGE_LABEL = "warp.deploy.image"
SPEC_LABEL = "warp.deploy.spec"  # hash of a container spec: tells new tasks from old ones
SECRET_LABEL = "warp.deploy.secret"
NS = 1_000_000_000
POLL = 1.0
LOG_TAIL = 20
# Tasks of a new service that may fail before warp calls the deploy failed
# (Swarm would go on restarting them).
FIRST_DEPLOY_FAILURES = 3
ENDED = ("complete", "failed", "rejected", "shutdown", "orphaned", "remove")


class DeployFailed(WarpError):
    """The engine refused, the release failed, or the update rolled back."""


@dataclass(frozen=True)
class ServiceState:
    name: str
    type: str
    image: str
    desired: int
    running: int
    update_state: str
    update_message: str = ""

    def as_dict(self) -> Dict[str, Any]:
        return {"name": self.name, "type": self.type, "image": self.image, "desired": self.desired,
                "running": self.running, "update_state": self.update_state, "update_message": self.update_message}


@dataclass(frozen=True)
class DeployResult:
    name: str
    image: str
    image_id: str
    network: str
    services: List[ServiceState]
    created: List[str] = field(default_factory=list)
    updated: List[str] = field(default_factory=list)
    unchanged: List[str] = field(default_factory=list)
    removed: List[str] = field(default_factory=list)
    release: Optional[Dict[str, Any]] = None
    seconds: float = 0.0

    def as_dict(self) -> Dict[str, Any]:
        return {
            "name": self.name, "image": self.image, "image_id": self.image_id, "network": self.network,
            "services": [s.as_dict() for s in self.services], "created": self.created, "updated": self.updated,
            "unchanged": self.unchanged, "removed": self.removed, "release": self.release, "seconds": self.seconds,
        }


def service_name(spec_name: str, type_name: str) -> str:
    return f"{spec_name}_{type_name}"


def network_name(spec_name: str) -> str:
    return f"{spec_name}_net"


# -- the engine ------------------------------------------------------------------

def connect(environ: Optional[Dict[str, str]] = None) -> Any:
    """A client of a swarm manager; WarpError naming `docker swarm init` otherwise."""
    from warp.image.build import connect as connect_engine

    client = connect_engine(environ)
    swarm = (client.info() or {}).get("Swarm") or {}
    if swarm.get("LocalNodeState") != "active":
        raise WarpError("this Docker engine is not in swarm mode",
                        "run `docker swarm init` (one node is enough) or point DOCKER_HOST at a swarm manager")
    if not swarm.get("ControlAvailable"):
        raise WarpError("this Docker engine is a swarm worker, not a manager",
                        "point DOCKER_HOST at a manager node (`docker node ls` there lists the swarm)")
    return client


def _engine_is_local(environ: Dict[str, str]) -> bool:
    host = environ.get("DOCKER_HOST", "")
    return not host or host.startswith("unix://")


def resolve_image(client: Any, reference: str) -> Tuple[str, str]:
    """(what the service runs, image id) for ``reference``; WarpError when the engine lacks it.

    A pushed image runs as ``repo@digest``, which every node can pull; a local
    one by its id, so that rebuilding under the same tag is a new version to
    Swarm (a tag alone would look unchanged), on this node only.
    """
    import docker

    try:
        image = client.images.get(reference)
    except docker.errors.ImageNotFound:
        raise WarpError(f"image {reference} is not on this Docker engine",
                        f"build it with `warp image {reference.rsplit(':', 1)[0]}` or name another with --image") from None
    except docker.errors.APIError as exc:
        raise WarpError(f"cannot inspect image {reference}: {exc.explanation or exc}") from None
    repository = reference.rsplit(":", 1)[0] if ":" in reference.rsplit("/", 1)[-1] else reference
    for digest in image.attrs.get("RepoDigests") or []:
        if digest.split("@", 1)[0] == repository:
            return digest, image.id
    return image.id, image.id


def _ours(client: Any, name: str) -> List[Any]:
    return client.services.list(filters={"label": f"{LABEL}={name}"})


def check_port(client: Any, spec: AppSpec, environ: Dict[str, str]) -> None:
    """WarpError when the web port to publish is taken by another service, a container or a process."""
    if not spec.publish or not any(p.is_web for p in spec.processes):
        return
    port, own = spec.publish, service_name(spec.name, "web")
    hint = "publish on another port with --publish PORT (setting deploy_publish), or 0 for none"
    own_publishes = False
    for service in client.services.list():
        ports = (service.attrs.get("Endpoint") or {}).get("Ports") or []
        ports += ((service.attrs.get("Spec") or {}).get("EndpointSpec") or {}).get("Ports") or []
        if any(p.get("PublishedPort") == port for p in ports):
            if service.name == own:
                own_publishes = True
                continue
            raise WarpError(f"port {port} is already published by swarm service {service.name}", hint)
    for container in client.containers.list():
        if container.labels.get("com.docker.swarm.service.name") == own:
            continue
        for bindings in ((container.attrs.get("NetworkSettings") or {}).get("Ports") or {}).values():
            if any(str(b.get("HostPort")) == str(port) for b in bindings or []):
                raise WarpError(f"port {port} is already published by container {container.name}", hint)
    if own_publishes or not _engine_is_local(environ):
        return
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("0.0.0.0", port))
        except OSError:
            raise WarpError(f"port {port} is already in use on this host", hint) from None


# -- specs -----------------------------------------------------------------------

def _env(spec: AppSpec, process: Process) -> List[str]:
    env = {"PORT": str(spec.port)}
    if process.is_web and spec.web_concurrency:
        env["WEB_CONCURRENCY"] = spec.web_concurrency
    env.update(spec.env)
    return [f"{key}={value}" for key, value in env.items()]


def _healthcheck(spec: AppSpec, process: Process) -> Any:
    from docker.types import Healthcheck

    if not process.is_web:
        # The image's HEALTHCHECK fetches the web page: not something a worker answers.
        return Healthcheck(test=["NONE"])
    return Healthcheck(
        test=["CMD", *spec.health.ready], interval=spec.health_interval * NS, timeout=5 * NS,
        retries=3, start_period=spec.startup_timeout * NS,
    )


def _container_spec(spec: AppSpec, process: Process, image: str, secrets: List[Any]) -> Any:
    from docker.types import ContainerSpec, Mount

    mounts = []
    if spec.read_only:
        # Writable places on a read-only root: /tmp (HOME and the passwd entry an
        # arbitrary UID gets) and warp's run folder.
        mounts = [Mount(target, None, type="tmpfs", tmpfs_mode=0o1777) for target in ("/tmp", RUN_DIR)]
    container = ContainerSpec(
        image=image, args=list(process.args), env=_env(spec, process), mounts=mounts,
        stop_grace_period=spec.stop_grace * NS, secrets=secrets, read_only=spec.read_only,
        healthcheck=_healthcheck(spec, process), cap_drop=["ALL"],
    )
    return container


def _service_kwargs(spec: AppSpec, process: Process, image: str, network_id: str, secrets: List[Any],
                    job: bool = False) -> Dict[str, Any]:
    from docker.types import (EndpointSpec, NetworkAttachmentConfig, Resources, RestartPolicy, RollbackConfig,
                              ServiceMode, TaskTemplate, UpdateConfig)

    resources = Resources(
        cpu_limit=int(spec.cpus * NS) if spec.cpus else None, mem_limit=spec.memory,
    ) if (spec.cpus or spec.memory) else None
    if job:
        restart = RestartPolicy(condition="none")
    else:
        # Swarm waits `delay` between restarts of a crashing task, every time.
        restart = RestartPolicy(condition="any", delay=5 * NS, max_attempts=0, window=60 * NS)
    container = _container_spec(spec, process, image, secrets)
    template = TaskTemplate(
        container_spec=container, resources=resources,
        restart_policy=restart, networks=[NetworkAttachmentConfig(network_id, aliases=[process.type])],
    )
    # Every new task carries the hash of what it was made from, so the new
    # version's tasks can be told from the old ones while an update runs.
    digest = hashlib.sha256(json.dumps(template, sort_keys=True, default=str).encode()).hexdigest()[:16]
    container["Labels"] = {LABEL: spec.name, TYPE_LABEL: process.type, SPEC_LABEL: digest}
    labels = {LABEL: spec.name, TYPE_LABEL: process.type, IMAGE_LABEL: spec.image}
    if job:
        return {"task_template": template, "name": service_name(spec.name, process.type), "labels": labels,
                "mode": ServiceMode("replicated-job", replicas=1, concurrency=1)}
    order = update_order(spec, process)
    update = UpdateConfig(parallelism=1, delay=0, failure_action="rollback", monitor=max(1, spec.monitor) * NS,
                          max_failure_ratio=0, order=order)
    rollback = UpdateConfig(parallelism=1, delay=0, failure_action="pause", monitor=max(1, spec.monitor) * NS,
                            max_failure_ratio=0, order=order)
    ports = {}
    if process.is_web and spec.publish:
        ports = {spec.publish: (spec.port, "tcp", spec.publish_mode)}
    return {
        "task_template": template, "name": service_name(spec.name, process.type), "labels": labels,
        "mode": ServiceMode("replicated", replicas=process.replicas),
        "update_config": update, "rollback_config": RollbackConfig(**{
            "parallelism": rollback["Parallelism"], "delay": 0, "failure_action": "pause",
            "monitor": rollback["Monitor"], "max_failure_ratio": 0, "order": order,
        }),
        "endpoint_spec": EndpointSpec(mode=spec.endpoint_mode, ports=ports or None),
    }


def update_order(spec: AppSpec, process: Process) -> str:
    """start-first for web: each new replica is healthy before an old one stops.

    Other types stop first, since a worker (a scheduler, say) may not be safe to
    run twice; so does web published in host mode, where the new replica
    cannot bind the port on a node while the old one holds it.
    """
    if process.is_web and not (spec.publish and spec.publish_mode == "host"):
        return "start-first"
    return "stop-first"


def _spec_hash(kwargs: Dict[str, Any]) -> str:
    return kwargs["task_template"]["ContainerSpec"]["Labels"][SPEC_LABEL]


# -- secrets and network -----------------------------------------------------------

def _secret_refs(client: Any, spec: AppSpec, created: List[Tuple[str, str]]) -> List[Any]:
    """A SecretReference per secret; a new Swarm secret (content-addressed name) when the file changed."""
    from docker.types import SecretReference

    refs = []
    for name, path in sorted(spec.secrets.items()):
        data = path.read_bytes()
        swarm_name = f"{spec.name}_{name}_{hashlib.sha256(data).hexdigest()[:12]}"
        found = [s for s in client.secrets.list(filters={"name": swarm_name}) if s.name == swarm_name]
        if found:
            secret_id = found[0].id
        else:
            secret = client.secrets.create(name=swarm_name, data=data, labels={LABEL: spec.name, SECRET_LABEL: name})
            secret_id = secret.id
            created.append(("secret", secret_id))
        # Owned by root, readable by group 0, which every UID the image runs as is in.
        refs.append(SecretReference(secret_id, swarm_name, filename=name, uid="0", gid="0", mode=0o440))
    return refs


def _network(client: Any, spec: AppSpec, created: List[Tuple[str, str]]) -> str:
    name = network_name(spec.name)
    for network in client.networks.list(names=[name]):
        if network.name == name:
            return network.id
    # Attachable, so a one-off container (a shell, a client) can join the app's network.
    network = client.networks.create(name, driver="overlay", attachable=True, labels={LABEL: spec.name})
    created.append(("network", network.id))
    return network.id


def _undo(client: Any, created: List[Tuple[str, str]]) -> None:
    import docker

    for kind, object_id in reversed(created):
        try:
            if kind == "secret":
                client.secrets.get(object_id).remove()
            elif kind == "network":
                client.networks.get(object_id).remove()
            elif kind == "service":
                client.services.get(object_id).remove()
        except docker.errors.APIError:
            pass


# -- tasks and logs ------------------------------------------------------------------

def _tasks(client: Any, service_id: str) -> List[Dict[str, Any]]:
    return client.api.tasks(filters={"service": service_id})


def _task_hash(task: Dict[str, Any]) -> Optional[str]:
    return (((task.get("Spec") or {}).get("ContainerSpec") or {}).get("Labels") or {}).get(SPEC_LABEL)


def _task_label(service: str, task: Dict[str, Any]) -> str:
    slot = task.get("Slot")
    return f"{service}.{slot}" if slot else f"{service} task {task['ID'][:12]}"


def _task_error(task: Dict[str, Any]) -> str:
    status = task.get("Status") or {}
    error = status.get("Err") or status.get("Message") or status.get("State", "")
    code = ((status.get("ContainerStatus") or {}).get("ExitCode"))
    if not code:
        return error
    # Swarm's own words for it are "task: non-zero exit (3)".
    return f"exit status {code}" if not error or "non-zero exit" in error else f"{error} (exit status {code})"


def _read_logs(client: Any, call: Any, silence: float = 3.0) -> str:
    """Text of a log stream, read until it ends or stays silent for ``silence`` seconds.

    Swarm's service logs, asked for without follow, do not always end (a
    removed task's stream stays open), so a short read timeout bounds them.
    """
    saved = client.api.timeout
    client.api.timeout = silence
    chunks: List[bytes] = []
    try:
        for chunk in call():
            chunks.append(chunk if isinstance(chunk, bytes) else str(chunk).encode())
    except Exception:  # a read timeout (requests', urllib3's or the socket's kind) ends the read
        pass
    finally:
        client.api.timeout = saved
    return b"".join(chunks).decode("utf-8", "replace")


def log_tail(client: Any, service_id: str, task: Optional[Dict[str, Any]] = None, lines: int = LOG_TAIL) -> List[str]:
    """The last ``lines`` lines the service's tasks (or one task) wrote."""
    import docker

    container_id = ((((task or {}).get("Status") or {}).get("ContainerStatus")) or {}).get("ContainerID")
    if container_id:
        try:
            # The task's container, when it ran on this node: exact and quick.
            text = client.api.logs(container_id, stdout=True, stderr=True, tail=lines).decode("utf-8", "replace")
            return [line.rstrip() for line in text.splitlines()][-lines:]
        except docker.errors.APIError:
            pass
    text = _read_logs(client, lambda: client.api.service_logs(
        service_id, details=True, stdout=True, stderr=True, tail=500 if task else lines))
    result = []
    for line in text.splitlines():
        details, _, message = line.partition(" ")
        if "com.docker.swarm" not in details:
            details, message = "", line
        if task and task["ID"] not in details:
            continue
        result.append(message.rstrip())
    return result[-lines:]


# -- release -----------------------------------------------------------------------

def run_release(client: Any, spec: AppSpec, image: str, network_id: str, secrets: List[Any]) -> Generator[str, None, Any]:
    """Run the Procfile's release once, on the new image, as a Swarm job; DeployFailed on failure.

    The job service is removed afterwards, whatever happened.
    """
    import docker

    process = spec.release
    assert process is not None
    kwargs = _service_kwargs(spec, process, image, network_id, secrets, job=True)
    name = kwargs["name"]
    for stale in client.services.list(filters={"name": name}):
        if stale.name == name:
            stale.remove()  # a release job left by an interrupted deploy
    yield f"release: running `warp start release` on {spec.image}"
    started = time.monotonic()
    service = client.api.create_service(**kwargs)
    service_id = service["ID"]
    try:
        state, task = "pending", None
        while time.monotonic() - started < spec.timeout:
            tasks = _tasks(client, service_id)
            if tasks:
                task = max(tasks, key=lambda t: t.get("CreatedAt", ""))
                state = (task.get("Status") or {}).get("State", "")
                if state == "complete":
                    for line in log_tail(client, service_id, task):
                        yield f"release| {line}"
                    return {"ok": True, "seconds": round(time.monotonic() - started, 1)}
                if state in ("failed", "rejected", "orphaned", "shutdown"):
                    break
            time.sleep(POLL)
        else:
            raise DeployFailed(f"release did not finish within {spec.timeout}s (last state: {state}); nothing was updated",
                               "raise deploy_timeout or look at what the release waits for")
        time.sleep(1)  # let the log driver hand over the last lines
        tail = log_tail(client, service_id, task)
        for line in tail:
            yield f"release| {line}"
        last = f"; last output: {tail[-1]}" if tail else ""
        raise DeployFailed(f"release failed: {_task_error(task or {})}{last}; nothing was updated",
                           "fix the Procfile's release command (try `warp start release` locally), then deploy again")
    finally:
        try:
            client.api.remove_service(service_id)
        except docker.errors.APIError:
            pass
        # Swarm leaves a finished job's container behind even once the job
        # service is gone; remove it where it ran here.
        for finished in [task] if task else []:
            container_id = ((finished.get("Status") or {}).get("ContainerStatus") or {}).get("ContainerID")
            if container_id:
                try:
                    client.api.remove_container(container_id, force=True)
                except docker.errors.APIError:
                    pass


# -- converging -----------------------------------------------------------------------

@dataclass
class _Watch:
    name: str  # service name
    service_id: str
    type: str
    target: str  # spec hash of the new tasks
    replicas: int
    started_before: Optional[str]  # UpdateStatus.StartedAt before our update
    created: bool
    done: bool = False
    shown: str = ""
    reason: str = ""  # Swarm's update status message when the update failed


def _update_status(client: Any, service_id: str) -> Dict[str, Any]:
    return client.api.inspect_service(service_id).get("UpdateStatus") or {}


def _health_output(client: Any, task: Dict[str, Any]) -> str:
    """The last health check output of a task's container, when it ran here and was unhealthy."""
    import docker

    container_id = ((task.get("Status") or {}).get("ContainerStatus") or {}).get("ContainerID")
    if not container_id:
        return ""
    try:
        health = (client.api.inspect_container(container_id).get("State") or {}).get("Health") or {}
    except docker.errors.APIError:
        return ""  # on another node, or already removed
    if health.get("Status") != "unhealthy":
        return ""
    # The last probes may have run while the container was being stopped
    # (connection refused, or nothing): the output that recurs is the reason.
    said = [" ".join(str(probe.get("Output", "")).split()) for probe in health.get("Log") or []]
    said = [text for text in said if text]
    if not said:
        return f"{health.get('FailingStreak', 0)} failed health checks"
    return max(said, key=lambda text: (said.count(text), -said.index(text)))


def _failing_task(client: Any, watch: _Watch) -> Tuple[str, str, str]:
    """(task label, error, last log line) of the task that made the update fail.

    Swarm names it in the update status message ("... early termination of
    task <id>"); otherwise the newest task of the new version that is not running.
    """
    tasks = [t for t in _tasks(client, watch.service_id) if _task_hash(t) == watch.target]
    named = [t for t in tasks if t["ID"] in watch.reason] if watch.reason else []
    stopped = [t for t in tasks if (t.get("Status") or {}).get("State") != "running"]
    candidates = named or stopped
    if not candidates:
        return watch.name, watch.reason or "the update did not complete", ""
    task = max(candidates, key=lambda t: (t.get("Status") or {}).get("Timestamp", ""))
    health = _health_output(client, task)
    error = f"unhealthy: {health}" if health else _task_error(task)
    tail = [] if health else log_tail(client, watch.service_id, task, lines=5)
    return f"{_task_label(watch.name, task)} ({task['ID'][:12]})", error, (tail[-1] if tail else "")


def _progress(client: Any, watch: _Watch) -> Tuple[str, str]:
    """(state, line) of one service: state is converged, updating, rolled-back or failed."""
    tasks = _tasks(client, watch.service_id)
    current = [t for t in tasks if t.get("DesiredState") == "running"]
    new_running = [t for t in current if _task_hash(t) == watch.target and (t.get("Status") or {}).get("State") == "running"]
    old = [t for t in current if _task_hash(t) != watch.target]
    status = _update_status(client, watch.service_id)
    fresh = status and status.get("StartedAt") != watch.started_before
    state = status.get("State", "") if fresh else ""
    if state in ("paused", "rollback_started") and status.get("Message") and not watch.reason:
        watch.reason = status["Message"]
    line = f"{watch.name}: {len(new_running)}/{watch.replicas} replicas on the new version"
    if state:
        line += f" ({state.replace('_', ' ')})"
    if state in ("rollback_started", "rollback_completed", "rollback_paused", "paused"):
        return "rolled-back" if state != "rollback_started" else "rolling-back", line
    if watch.created:
        # A new long-running task that ended, whatever its exit status (a task
        # stopped for failing its health check exits 0 on TERM), is a failure.
        failures = [t for t in tasks if _task_hash(t) == watch.target and (t.get("Status") or {}).get("State") in ENDED]
        if len(failures) >= FIRST_DEPLOY_FAILURES:
            return "failed", line
    if len(new_running) >= watch.replicas and not old and state in ("", "completed"):
        return "converged", line
    return "updating", line


def _converge(client: Any, spec: AppSpec, watches: List[_Watch], started: float) -> Generator[str, None, Any]:
    rolling_back_since: Optional[float] = None
    while True:
        for watch in watches:
            if watch.done:
                continue
            state, line = _progress(client, watch)
            if line != watch.shown:
                watch.shown = line
                yield line
            if state == "converged":
                watch.done = True
            elif state == "rolling-back":
                rolling_back_since = rolling_back_since or time.monotonic()
                # Say why now, and wait (bounded) for the rollback to finish.
                if time.monotonic() - rolling_back_since > spec.timeout:
                    state = "rolled-back"
            if state in ("rolled-back", "failed"):
                task, error, said = _failing_task(client, watch)
                what = "rolled back" if state == "rolled-back" else "failed to start"
                last = f"; last output: {said}" if said else ""
                raise DeployFailed(
                    f"{watch.name} {what}: task {task} failed: {error}{last}",
                    f"`warp deploy {spec.name} --status` shows the services; `docker service ps {watch.name} --no-trunc` every task"
                    + ("" if state == "rolled-back" else f"; `warp deploy {spec.name} --rm` removes them"),
                )
        if all(w.done for w in watches):
            return
        if time.monotonic() - started > spec.timeout:
            pending = ", ".join(w.shown or w.name for w in watches if not w.done)
            raise DeployFailed(f"the update did not converge within {spec.timeout}s: {pending}",
                               "raise deploy_timeout, or look at `docker service ps` for tasks that cannot start")
        time.sleep(POLL)


# -- the verbs -----------------------------------------------------------------------

def deploy(spec: AppSpec, environ: Optional[Dict[str, str]] = None, client: Any = None) -> Generator[str, None, Any]:
    """Create or update the app's services; yields progress lines, returns a DeployResult."""
    import docker

    started = time.monotonic()
    environ = dict(os.environ if environ is None else environ)
    client = client or connect(environ)
    image, image_id = resolve_image(client, spec.image)
    check_port(client, spec, environ)
    existing = {s.name: s for s in _ours(client, spec.name)}
    for name, service in existing.items():
        if service.attrs["Spec"]["Labels"].get(TYPE_LABEL) is None:
            raise WarpError(f"service {name} carries {LABEL}={spec.name} but no process type", "remove it by hand")
    for process in spec.processes:
        name = service_name(spec.name, process.type)
        clash = [s for s in client.services.list(filters={"name": name}) if s.name == name and name not in existing]
        if clash:
            raise WarpError(f"a service named {name} exists and was not made by `warp deploy {spec.name}`",
                            "choose another deploy name, or remove that service")

    created: List[Tuple[str, str]] = []
    try:
        network_id = _network(client, spec, created)
        secrets = _secret_refs(client, spec, created)
        release = None
        if spec.release is not None:
            release = yield from run_release(client, spec, image, network_id, secrets)
    except BaseException:
        _undo(client, created)
        raise

    result_created: List[str] = []
    updated: List[str] = []
    unchanged: List[str] = []
    # Web first, on its own: it is the one with a health check, and when its
    # update rolls back the other types have not been touched.
    web = [p for p in spec.processes if p.is_web]
    rest = [p for p in spec.processes if not p.is_web]
    for group in (web, rest):
        watches = []
        for process in group:
            kwargs = _service_kwargs(spec, process, image, network_id, secrets)
            target = _spec_hash(kwargs)
            current = existing.get(kwargs["name"])
            try:
                if current is None:
                    service = client.api.create_service(**kwargs)
                    result_created.append(kwargs["name"])
                    watches.append(_Watch(kwargs["name"], service["ID"], process.type, target, process.replicas, None, True))
                    yield f"{kwargs['name']}: created, {process.replicas} replica(s)"
                    continue
                attrs = client.api.inspect_service(current.id)
                same = (attrs["Spec"]["TaskTemplate"]["ContainerSpec"].get("Labels") or {}).get(SPEC_LABEL) == target
                started_before = (attrs.get("UpdateStatus") or {}).get("StartedAt")
                client.api.update_service(current.id, attrs["Version"]["Index"], **kwargs)
                if same and _mode_replicas(attrs) == process.replicas:
                    unchanged.append(kwargs["name"])
                else:
                    updated.append(kwargs["name"])
                    yield f"{kwargs['name']}: updating one replica at a time ({update_order(spec, process)})"
                watches.append(_Watch(kwargs["name"], current.id, process.type, target, process.replicas, started_before, False))
            except docker.errors.APIError as exc:
                raise DeployFailed(f"the engine refused service {kwargs['name']}: {exc.explanation or exc}") from None
        yield from _converge(client, spec, watches, started)

    removed = []
    wanted = {service_name(spec.name, p.type) for p in spec.processes}
    for name, service in existing.items():
        if name not in wanted:
            service.remove()
            removed.append(name)
            yield f"{name}: removed (no longer a process type of the app)"
    _prune_secrets(client, spec.name)
    return DeployResult(
        name=spec.name, image=spec.image, image_id=image_id, network=network_name(spec.name),
        services=status(spec.name, client=client), created=result_created, updated=updated,
        unchanged=unchanged, removed=removed, release=release, seconds=round(time.monotonic() - started, 1),
    )


def _mode_replicas(attrs: Dict[str, Any]) -> Optional[int]:
    return ((attrs["Spec"].get("Mode") or {}).get("Replicated") or {}).get("Replicas")


def _prune_secrets(client: Any, name: str) -> None:
    """Remove this deploy's secrets that no service spec (current or previous, for rollback) uses."""
    import docker

    used: set = set()
    for service in _ours(client, name):
        for key in ("Spec", "PreviousSpec"):
            container = ((service.attrs.get(key) or {}).get("TaskTemplate") or {}).get("ContainerSpec") or {}
            used.update(ref.get("SecretID") for ref in container.get("Secrets") or [])
    for secret in client.secrets.list(filters={"label": f"{LABEL}={name}"}):
        if secret.id not in used:
            try:
                secret.remove()
            except docker.errors.APIError:
                pass  # still referenced by a task being shut down: the next deploy prunes it


def status(name: str, environ: Optional[Dict[str, str]] = None, client: Any = None) -> List[ServiceState]:
    """Each service of deploy ``name``: desired and running replicas, image, update state."""
    client = client or connect(environ)
    states = []
    for service in sorted(_ours(client, name), key=lambda s: s.name):
        attrs = service.attrs
        tasks = _tasks(client, service.id)
        running = [t for t in tasks if t.get("DesiredState") == "running" and (t.get("Status") or {}).get("State") == "running"]
        update = attrs.get("UpdateStatus") or {}
        states.append(ServiceState(
            name=service.name, type=attrs["Spec"]["Labels"].get(TYPE_LABEL, ""),
            image=attrs["Spec"]["Labels"].get(IMAGE_LABEL, attrs["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"]),
            desired=_mode_replicas(attrs) or 0, running=len(running),
            update_state=update.get("State", "created" if not update else ""), update_message=update.get("Message", ""),
        ))
    return states


def remove(name: str, environ: Optional[Dict[str, str]] = None, client: Any = None, wait: float = 120) -> Generator[str, None, Any]:
    """Remove deploy ``name``'s services, then its secrets and network; returns what was removed."""
    import docker

    client = client or connect(environ)
    removed = []
    services = _ours(client, name)
    for service in services:
        service.remove()
        removed.append(service.name)
        yield f"{service.name}: removed"
    # The network and secrets are in use until the tasks' containers are gone.
    deadline = time.monotonic() + wait
    while services and time.monotonic() < deadline:
        if not client.containers.list(filters={"label": f"{LABEL}={name}"}):
            break
        time.sleep(POLL)
    for leftover in client.containers.list(all=True, filters={"label": f"{LABEL}={name}"}):
        try:
            leftover.remove(force=True)  # a stopped task's or release job's container
        except docker.errors.APIError:
            pass
    for secret in client.secrets.list(filters={"label": f"{LABEL}={name}"}):
        try:
            secret.remove()
            removed.append(secret.name)
            yield f"secret {secret.name}: removed"
        except docker.errors.APIError as exc:
            raise DeployFailed(f"cannot remove secret {secret.name}: {exc.explanation or exc}") from None
    for network in client.networks.list(filters={"label": f"{LABEL}={name}"}):
        for _ in range(30):
            try:
                network.remove()
                removed.append(network.name)
                yield f"network {network.name}: removed"
                break
            except docker.errors.APIError:
                time.sleep(POLL)  # endpoints of stopped tasks are released shortly after
        else:
            raise DeployFailed(f"cannot remove network {network.name}: something is still attached",
                               f"`docker network inspect {network.name}` names it")
    return removed
