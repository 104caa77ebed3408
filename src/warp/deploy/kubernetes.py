"""`warp manifest kubernetes`: the app's Kubernetes manifests, as data, then YAML.

Pure: :func:`manifests` turns an :class:`~warp.deploy.spec.AppSpec` into
plain dicts (one per object, in the order to apply them), :func:`render`
into YAML text and :func:`write` into one file per object. No cluster is
contacted; the tests validate every object against the Kubernetes schemas.

What the objects carry, and why:

- a Deployment per long-running process type; web rolls out one extra pod
  at a time and never drops below its replicas (maxSurge 1, maxUnavailable 0),
  the others replace pods one by one (maxSurge 0) since a worker may not be
  safe to run twice;
- probes from the app's health: HTTP GET on ``health_path``, or ``warp
  health`` (exec) when the app has alive/ready hooks; the startupProbe gives a
  new pod ``deploy_startup_timeout`` seconds before liveness counts;
- a securityContext that works for any UID in group 0 (the image's user is
  1001:0 and OpenShift swaps the UID): non-root, no privilege escalation, no
  capabilities, the runtime's seccomp profile, a read-only root with emptyDir
  volumes for /tmp and warp's run folder;
- a preStop pause (``deploy_drain``) so endpoints stop sending traffic before
  TERM, and a grace period above the server's graceful timeout;
- secrets as files under /run/secrets from one Secret the user creates (its
  content never appears in a manifest);
- a Service for web, a PodDisruptionBudget per Deployment, a Job for the
  Procfile's ``release`` (named after the image, since a Job is immutable), an
  optional HorizontalPodAutoscaler for web.
"""

from pathlib import Path
from typing import Any, Dict, List, Union
import hashlib
import math
import os

import yaml

from warp.core.errors import WarpError
from warp.deploy.spec import RUN_DIR, SECRETS_DIR, AppSpec, Process, k8s_name

MANAGED_BY = "warp"
STARTUP_PERIOD = 2  # seconds between startupProbe attempts
PROBE_TIMEOUT = 5


def labels(spec: AppSpec, process: Process) -> dict:
    return {
        "app.kubernetes.io/name": spec.name,
        "app.kubernetes.io/component": k8s_name(process.type),
        "app.kubernetes.io/managed-by": MANAGED_BY,
    }


def _selector(spec: AppSpec, process: Process) -> dict:
    found = labels(spec, process)
    return {key: found[key] for key in ("app.kubernetes.io/name", "app.kubernetes.io/component")}


def object_name(spec: AppSpec, process: Process) -> str:
    return f"{spec.name}-{k8s_name(process.type)}"


def secret_name(spec: AppSpec) -> str:
    return f"{spec.name}-secrets"


def release_job_name(spec: AppSpec) -> str:
    """A Job's pod template cannot change, so each image gets its own Job."""
    digest = hashlib.sha256(spec.image.encode()).hexdigest()[:8]
    return f"{spec.name}-release-{digest}"


def cpu_quantity(cpus: float) -> str:
    millis = int(round(cpus * 1000))
    return str(millis // 1000) if millis % 1000 == 0 else f"{millis}m"


def memory_quantity(size: int) -> str:
    mib = 1024 * 1024
    return f"{size // mib}Mi" if size % mib == 0 else str(size)


def _resources(spec: AppSpec) -> dict:
    # Requests equal to limits: the scheduler reserves what the pod may use,
    # and the CPU request is what an autoscaler's percentage refers to.
    limits = {}
    if spec.cpus is not None:
        limits["cpu"] = cpu_quantity(spec.cpus)
    if spec.memory is not None:
        limits["memory"] = memory_quantity(spec.memory)
    return {"limits": dict(limits), "requests": dict(limits)} if limits else {}


def _env(spec: AppSpec, process: Process) -> list:
    env: Dict[str, str] = {"PORT": str(spec.port)}
    if process.is_web and spec.web_concurrency:
        env["WEB_CONCURRENCY"] = spec.web_concurrency
    env.update(spec.env)
    return [{"name": key, "value": value} for key, value in env.items()]


def _probe(spec: AppSpec, command: tuple) -> dict:
    if spec.health.kind == "http":
        return {"httpGet": {"path": spec.health.path, "port": "http"}}
    return {"exec": {"command": list(command)}}


def _probes(spec: AppSpec) -> dict:
    health = spec.health
    return {
        "startupProbe": dict(
            _probe(spec, health.ready), periodSeconds=STARTUP_PERIOD, timeoutSeconds=PROBE_TIMEOUT,
            failureThreshold=max(1, math.ceil(spec.startup_timeout / STARTUP_PERIOD)),
        ),
        "readinessProbe": dict(
            _probe(spec, health.ready), periodSeconds=spec.health_interval, timeoutSeconds=PROBE_TIMEOUT,
            failureThreshold=2, successThreshold=1,
        ),
        "livenessProbe": dict(
            _probe(spec, health.alive), periodSeconds=max(10, 2 * spec.health_interval),
            timeoutSeconds=PROBE_TIMEOUT, failureThreshold=3,
        ),
    }


def _container(spec: AppSpec, process: Process, long_running: bool = True) -> dict:
    container: Dict[str, Any] = {
        "name": k8s_name(process.type),
        "image": spec.image,
        "imagePullPolicy": "IfNotPresent",
        # args, not command: the image's entrypoint gives an arbitrary UID a
        # passwd entry and a writable HOME before `warp start`.
        "args": list(process.args),
        "env": _env(spec, process),
    }
    if process.is_web:
        container["ports"] = [{"name": "http", "containerPort": spec.port, "protocol": "TCP"}]
        container.update(_probes(spec))
    resources = _resources(spec)
    if resources:
        container["resources"] = resources
    if long_running and spec.drain:
        container["lifecycle"] = {"preStop": {"exec": {"command": ["sleep", str(spec.drain)]}}}
    container["securityContext"] = {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": spec.read_only,
        "runAsNonRoot": True,
    }
    mounts: list = [{"name": "tmp", "mountPath": "/tmp"}, {"name": "warp-run", "mountPath": RUN_DIR}]
    if spec.secrets:
        mounts.append({"name": "secrets", "mountPath": SECRETS_DIR, "readOnly": True})
    container["volumeMounts"] = mounts
    return container


def _pod_spec(spec: AppSpec, process: Process, long_running: bool = True) -> dict:
    volumes = [{"name": "tmp", "emptyDir": {}}, {"name": "warp-run", "emptyDir": {}}]
    if spec.secrets:
        volumes.append({"name": "secrets", "secret": {
            "secretName": secret_name(spec),
            # Readable by group 0, which every UID the image runs as is in.
            "defaultMode": 0o440,
            "items": [{"key": name, "path": name} for name in sorted(spec.secrets)],
        }})
    pod: Dict[str, Any] = {
        "automountServiceAccountToken": False,
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [_container(spec, process, long_running)],
        "volumes": volumes,
    }
    if long_running:
        # The preStop pause runs inside the grace period, then TERM: both must fit.
        pod["terminationGracePeriodSeconds"] = spec.drain + spec.stop_grace
    else:
        pod["restartPolicy"] = "Never"
        pod["terminationGracePeriodSeconds"] = spec.stop_grace
    return pod


def deployment(spec: AppSpec, process: Process) -> dict:
    if process.is_web:
        strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    else:
        strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}
    body = {
        "selector": {"matchLabels": _selector(spec, process)},
        "strategy": strategy,
        # Like Swarm's monitor window: a new pod must stay ready this long to count.
        "minReadySeconds": spec.monitor,
        "progressDeadlineSeconds": max(spec.timeout, spec.monitor + 1),
        "revisionHistoryLimit": 5,
        "template": {"metadata": {"labels": labels(spec, process)}, "spec": _pod_spec(spec, process)},
    }
    if not (process.is_web and spec.autoscale):
        # With an autoscaler the replica count is its to set; applying one here would fight it.
        body = {"replicas": process.replicas, **body}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": object_name(spec, process), "labels": labels(spec, process)},
        "spec": body,
    }


def service(spec: AppSpec, process: Process) -> dict:
    return {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": object_name(spec, process), "labels": labels(spec, process)},
        "spec": {
            "type": "ClusterIP",
            "selector": _selector(spec, process),
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def disruption_budget(spec: AppSpec, process: Process) -> dict:
    # maxUnavailable rather than minAvailable: a single replica can still be
    # drained off a node (minAvailable 1 would block the drain forever).
    return {
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
        "metadata": {"name": object_name(spec, process), "labels": labels(spec, process)},
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": _selector(spec, process)}},
    }


def autoscaler(spec: AppSpec, process: Process) -> dict:
    assert spec.autoscale is not None
    low, high = spec.autoscale
    return {
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": object_name(spec, process), "labels": labels(spec, process)},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": object_name(spec, process)},
            "minReplicas": low, "maxReplicas": high,
            "metrics": [{"type": "Resource", "resource": {
                "name": "cpu", "target": {"type": "Utilization", "averageUtilization": spec.autoscale_cpu},
            }}],
        },
    }


def release_job(spec: AppSpec) -> dict:
    process = spec.release
    assert process is not None
    return {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": release_job_name(spec), "labels": labels(spec, process)},
        "spec": {
            "backoffLimit": 0,  # a failed release is a stop sign, not something to retry
            "activeDeadlineSeconds": spec.timeout,
            "ttlSecondsAfterFinished": 86400,
            "template": {"metadata": {"labels": labels(spec, process)}, "spec": _pod_spec(spec, process, long_running=False)},
        },
    }


def manifests(spec: AppSpec) -> list:
    """[(file name, object)] in the order to apply them: release Job first."""
    objects = []
    if spec.release is not None:
        objects.append(("job-release.yaml", release_job(spec)))
    for process in spec.processes:
        part = k8s_name(process.type)
        objects.append((f"deployment-{part}.yaml", deployment(spec, process)))
        if process.is_web:
            objects.append((f"service-{part}.yaml", service(spec, process)))
        objects.append((f"poddisruptionbudget-{part}.yaml", disruption_budget(spec, process)))
        if process.is_web and spec.autoscale:
            objects.append((f"horizontalpodautoscaler-{part}.yaml", autoscaler(spec, process)))
    return objects


def header(spec: AppSpec) -> str:
    lines = [f"# Kubernetes manifests for {spec.name}, made by `warp manifest kubernetes`."]
    if spec.release is not None:
        lines.append(f"# Apply the release Job first and wait for it: kubectl apply -f job-release.yaml && "
                     f"kubectl wait --for=condition=complete --timeout={spec.timeout}s job/{release_job_name(spec)}")
    if spec.secrets:
        files = " ".join(f"--from-file={name}=FILE" for name in sorted(spec.secrets))
        lines.append(f"# Secrets come from a Secret you create: kubectl create secret generic {secret_name(spec)} {files}")
    return "\n".join(lines) + "\n"


def _dump(obj: dict) -> str:
    return yaml.safe_dump(obj, sort_keys=False, default_flow_style=False)


def render(spec: AppSpec) -> str:
    """Every object as one multi-document YAML stream, with a header saying how to apply it."""
    return header(spec) + "".join("---\n" + _dump(obj) for _, obj in manifests(spec))


def write(spec: AppSpec, folder: Union[str, "os.PathLike[str]"]) -> List[Path]:
    """One file per object in ``folder`` (made if needed); returns the paths written.

    Everything is rendered before the first file is written, and each file is
    replaced atomically, so a failure leaves no half-written manifest.
    """
    folder = Path(folder)
    texts = [(name, header(spec) + _dump(obj)) for name, obj in manifests(spec)]
    try:
        folder.mkdir(parents=True, exist_ok=True)
        written: List[Path] = []
        for name, text in texts:
            path = folder / name
            temporary = folder / f".{name}.{os.getpid()}.tmp"
            temporary.write_text(text, encoding="utf-8")
            os.replace(temporary, path)
            written.append(path)
    except OSError as exc:
        raise WarpError(f"cannot write the manifests to {folder}: {exc.strerror or exc}", "choose a folder you can write with -o DIR") from None
    return written
