"""Build an application's image through the Docker Engine (docker SDK).

:func:`build_image` is a generator: it yields progress lines for people as
the engine reports them and returns an :class:`ImageResult`. It raises
``WarpError`` with a fix-it hint when no engine answers, the base image is
missing or a build step fails; the engine tags only a finished build, so a
failure leaves no image tagged with the name asked for.
"""

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
import os
import re
import subprocess
import sys
import time

import warp

from warp.app.python import wanted_python
from warp.core.errors import UsageError, WarpError
from warp.core.project import open_project
from warp.image import context as ctx
from warp.image import pipconf, render, wheel

ENTRYPOINT = Path(__file__).with_name("entrypoint.sh")

# A reference the engine accepts: lowercase path components, optional registry
# host[:port] first, optional :tag last.
_NAME = re.compile(
    r"^(?:[a-zA-Z0-9.-]+(?::[0-9]+)?/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
    r"(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?$"
)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_STEP = re.compile(r"^Step (\d+)/(\d+) : (.*)$")
# Engine chatter that tells people nothing.
_NOISE = re.compile(r"^(?: ---> [0-9a-f]{12}$| ---> Running in |Removing intermediate container |Successfully built |Successfully tagged )")


@dataclass(frozen=True)
class ImageResult:
    id: str
    tags: list
    size: int  # bytes, as the engine reports
    base_image: str
    port: int = 8080
    timings: dict = field(default_factory=dict)  # seconds: context, build, total
    labels: dict = field(default_factory=dict)

    def as_dict(self):
        return {
            "id": self.id, "tags": self.tags, "size": self.size, "port": self.port,
            "base_image": self.base_image, "timings": self.timings, "labels": self.labels,
        }


def drain(steps, on_line=None):
    """Run a generator such as :func:`build_image` to its end: each yielded
    line goes to ``on_line``; the generator's return value is returned."""
    while True:
        try:
            line = next(steps)
        except StopIteration as stop:
            return stop.value
        if on_line is not None:
            on_line(line)


def check_name(name):
    """``name`` as a full reference (``:latest`` added), or UsageError."""
    if not _NAME.match(name or ""):
        raise UsageError(
            f"{name!r} is not a valid image name",
            "use lowercase letters, digits and . _ - / with an optional :tag, e.g. myapp or myapp:1.0",
        )
    last = name.rsplit("/", 1)[-1]
    return name if ":" in last else f"{name}:latest"


def check_base_image(reference, where):
    """``reference`` if the engine could accept it as an image (name[:tag][@digest]), else UsageError."""
    name, _, digest = str(reference).partition("@")
    if _NAME.match(name) and (not digest or re.fullmatch(r"sha256:[0-9a-f]{64}", digest)):
        return reference
    raise UsageError(f"base image {reference!r} (from {where}) is not a valid image reference",
                     "give one like python:3.12-slim, registry.local/team/base:1 or name@sha256:<digest>")


def default_base_image(python_version=None):
    """``python:X.Y-slim`` for ``python_version`` (e.g. "3.11" or "3.11.4"), else this interpreter's."""
    if python_version:
        # An exact version (3.11, 3.11.4, python-3.11.4); a range such as
        # ">=3.9" says nothing exact, so the interpreter running warp decides.
        match = re.match(r"^\s*(?:python-?)?(\d+)\.(\d+)(?:\.\d+)?\s*$", str(python_version), re.I)
        if match:
            return f"python:{match.group(1)}.{match.group(2)}-slim"
    return f"python:{sys.version_info.major}.{sys.version_info.minor}-slim"


def connect(environ=None):
    """A docker client for the engine DOCKER_HOST names (or the local socket) that answers."""
    try:
        import docker
    except ImportError:
        raise WarpError("the docker SDK for Python is not installed", "pip install 'docker>=7'") from None
    environ = dict(os.environ if environ is None else environ)
    where = environ.get("DOCKER_HOST") or "the local socket (/var/run/docker.sock)"
    try:
        # A short timeout to find out whether anything answers; then a long
        # one, since a build step may stay silent for minutes (compiling).
        client = docker.from_env(environment=environ, timeout=15)
        client.ping()
        client.api.timeout = 3600
    except Exception as exc:  # the SDK raises DockerException, requests' or OSError's kinds
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise WarpError(
            f"no Docker engine answers at {where}: {reason}",
            "start one (e.g. `sudo systemctl start docker`, or `dockerd &`) or point DOCKER_HOST at one",
        ) from None
    return client


def ensure_base_image(client, base_image):
    """Yield progress while making sure ``base_image`` is there; WarpError if it cannot be."""
    import docker

    try:
        client.images.get(base_image)
        return
    except docker.errors.ImageNotFound:
        pass
    except docker.errors.APIError as exc:
        raise WarpError(f"cannot inspect base image {base_image}: {exc.explanation or exc}") from None
    yield f"pulling base image {base_image}"
    try:
        client.images.pull(base_image)
    except docker.errors.APIError as exc:
        reason = (exc.explanation or str(exc)).splitlines()[0]
        raise WarpError(
            f"base image {base_image} is not on this engine and cannot be pulled: {reason}",
            f"pull or build it first (docker pull {base_image}), or choose another with --base-image or base_image: in warp.yaml",
        ) from None


def _git(app_dir, *args):
    try:
        proc = subprocess.run(["git", "-C", str(app_dir), *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    out = proc.stdout.strip()
    return out if proc.returncode == 0 and out else None


def _without_credentials(url):
    # https://user:token@host/repo -> https://host/repo: labels are public.
    return re.sub(r"^([a-z][a-z0-9+.-]*://)[^/@]*@", r"\1", url)


def oci_labels(app_dir, name, now=None):
    """OCI annotations: source and revision (from git when present), created, title, warp's version."""
    now = now or datetime.now(timezone.utc)
    labels = {
        "org.opencontainers.image.created": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "org.opencontainers.image.title": name.rsplit("/", 1)[-1].split(":", 1)[0],
        "warp.version": warp.__version__,
    }
    remote = _git(app_dir, "config", "--get", "remote.origin.url")
    labels["org.opencontainers.image.source"] = _without_credentials(remote) if remote else Path(app_dir).resolve().as_uri()
    revision = _git(app_dir, "rev-parse", "HEAD")
    if revision:
        labels["org.opencontainers.image.revision"] = revision
    return labels


@dataclass(frozen=True)
class Prepared:
    reference: str
    base_image: str
    port: int
    dockerfile: str
    context: object  # context.Context
    labels: dict
    not_forwarded: tuple = ()  # host pip settings that mean nothing in a container


def prepare(app_dir=".", name="app", base_image=None, environ=None):
    """Everything the engine needs, made without the engine."""
    reference = check_name(name)
    environ = dict(os.environ if environ is None else environ)
    project = open_project(app_dir, environ=environ, flags={"base_image": base_image})
    config = project.config
    if config.base_image:
        base = check_base_image(config.base_image, config.source("base_image"))
    else:
        base = default_base_image(wanted_python(project).version)

    patterns = ctx.ignore_patterns(project.root, project.venv)
    deps = ctx.dependency_files(project.root, config.package_manager, set(ctx.app_paths(project.root, patterns)))
    pip_files = pipconf.build_files(pipconf.read_pip_config(environ))
    labels = oci_labels(project.root, reference)
    facts = render.ImageFacts(
        base_image=base,
        port=config.port,
        dependency_files=deps.files,
        prefetch_requirements=deps.prefetch,
        no_prefetch_reason=deps.reason,
        build_env=pip_files.environment,
        labels=labels,
    )
    dockerfile = render.render(facts)
    wheel_name, wheel_bytes = wheel.build_wheel()
    warp_files = {f"build/{n}": data for n, data in pip_files.files.items()}
    warp_files["build/warp-requirements.txt"] = ("\n".join(wheel.requirements()) + "\n").encode()
    warp_files[f"wheel/{wheel_name}"] = wheel_bytes
    warp_files["entrypoint.sh"] = (ENTRYPOINT.read_bytes(), 0o755)
    context = ctx.make_context(project.root, dockerfile, warp_files, patterns)
    return Prepared(reference, base, config.port, dockerfile, context, labels, pip_files.dropped)


def build_image(app_dir=".", name="app", base_image=None, environ=None, client=None, no_cache=False):
    """Build the image; yields progress lines, returns an ImageResult.

    ``no_cache`` rebuilds every layer (the base image is reused as it is).
    """
    started = time.monotonic()
    plan = prepare(app_dir, name, base_image, environ)
    context_seconds = time.monotonic() - started
    yield f"context: {plan.context.app_files} files from the app, {len(plan.context.data) / 1e6:.1f} MB"
    if plan.not_forwarded:
        yield "pip settings of this host left out of the build (local paths): " + ", ".join(plan.not_forwarded)

    client = client or connect(environ)
    yield from ensure_base_image(client, plan.base_image)
    yield f"building {plan.reference} on {plan.base_image}"
    build_started = time.monotonic()
    image_id = yield from _stream_build(client, plan.context.data, plan.reference, no_cache)
    build_seconds = time.monotonic() - build_started

    image = client.images.get(image_id)
    return ImageResult(
        id=image.id,
        tags=sorted(image.tags),
        size=image.attrs.get("Size", 0),
        base_image=plan.base_image,
        port=plan.port,
        timings={
            "context": round(context_seconds, 3),
            "build": round(build_seconds, 3),
            "total": round(time.monotonic() - started, 3),
        },
        labels=plan.labels,
    )


def _stream_build(client, data, reference, no_cache=False):
    """Run the build, yield its lines, return the image id; WarpError on failure."""
    import docker

    step, last_output, image_id = None, None, None
    try:
        stream = client.api.build(
            fileobj=data, custom_context=True, tag=reference,
            rm=True, forcerm=True, pull=False, decode=True, nocache=no_cache,
        )
        for event in stream:
            if "error" in event:
                detail = (event.get("errorDetail") or {}).get("message") or event["error"]
                raise _build_failed(step, last_output, detail)
            aux = event.get("aux")
            if isinstance(aux, dict) and aux.get("ID"):
                image_id = aux["ID"]
            text = event.get("stream") or ""
            for line in _ANSI.sub("", text).splitlines():
                line = line.rstrip()
                if not line.strip():
                    continue
                match = _STEP.match(line)
                if match:
                    step = f"step {match.group(1)}/{match.group(2)} ({match.group(3).strip()})"
                elif not _NOISE.match(line) and not line.startswith(" ---> "):
                    last_output = line
                built = re.match(r"^Successfully built ([0-9a-f]+)$", line)
                if built and not image_id:
                    image_id = built.group(1)
                if not _NOISE.match(line):
                    yield line
            if event.get("status"):
                yield " ".join(str(event[k]) for k in ("status", "progress") if event.get(k))
    except docker.errors.APIError as exc:
        raise _build_failed(step, last_output, exc.explanation or str(exc)) from None
    except docker.errors.DockerException as exc:
        raise WarpError(f"the Docker engine stopped answering during the build: {exc}", "check the engine (docker info) and retry") from None
    if not image_id:
        raise WarpError("the Docker engine finished the build without an image id", "retry; the engine's log may say more")
    return image_id


def _build_failed(step, last_output, detail):
    detail = " ".join(str(detail).split())
    where = f" at {step}" if step else ""
    said = f"; last output: {last_output.strip()}" if last_output and last_output.strip() not in detail else ""
    return WarpError(
        f"image build failed{where}: {detail}{said}",
        "the build output above shows why; run `warp build` in the app's folder to reproduce it outside Docker",
    )


def run_image(reference, port=8080, environ=None, client=None, name=None):
    """Start ``reference`` with its port published on 127.0.0.1 and yield its log lines.

    The container is stopped (TERM, then KILL after 10 s) and removed when the
    caller stops iterating, on Ctrl-C included.
    """
    client = client or connect(environ)
    container = client.containers.run(
        reference, detach=True, name=name, ports={f"{port}/tcp": ("127.0.0.1", port)},
        environment={"PORT": str(port)},
    )
    try:
        yield f"running {reference} as container {container.short_id}: http://127.0.0.1:{port}/ (Ctrl-C stops it)"
        for chunk in container.logs(stream=True, follow=True):
            for line in chunk.decode("utf-8", "replace").splitlines():
                yield line
    finally:
        try:
            container.stop(timeout=10)
        finally:
            container.remove(force=True)
