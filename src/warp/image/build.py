"""Build an application's image through the Docker Engine (docker SDK).

:func:`build_image` is a generator: it yields progress lines for people as
the engine reports them and returns an :class:`ImageResult`. It raises
``WarpError`` with a fix-it hint when no engine answers, the base image is
missing or a build step fails; the engine tags only a finished build, so a
failure leaves no image tagged with the name asked for.
"""

from dataclasses import dataclass, field
from pathlib import Path
import os
import re
import sys
import time
from typing import Any, Callable, Dict, Generator, Iterator, Mapping, Optional, Tuple, TypeVar, Union

from warp.app.python import wanted_python
from warp.core.errors import UsageError, WarpError
from warp.core.project import Project, open_project
from warp.image import context as ctx
from warp.image import labels as labels_mod
from warp.image import pipconf, render, wheel

# docker.DockerClient: the SDK ships no type information.
DockerClient = Any
# A value given as a flag, raw: the settings registry parses and checks it.
RawFlag = object
T = TypeVar("T")

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
    timings: dict = field(default_factory=dict)  # seconds: context, build, assemble, push, total
    labels: dict = field(default_factory=dict)
    digest: Optional[str] = None  # the registry's manifest digest, when pushed
    source_date_epoch: int = 0
    sbom: Optional[str] = None  # the file the SBOM was written to

    @property
    def pushed(self) -> Optional[str]:
        """name@digest, the reference that always pulls this very image."""
        if not self.digest:
            return None
        repository = self.tags[0].rsplit(":", 1)[0] if ":" in self.tags[0].rsplit("/", 1)[-1] else self.tags[0]
        return f"{repository}@{self.digest}"

    def as_dict(self) -> Dict[str, Any]:
        return {
            "id": self.id, "tags": self.tags, "size": self.size, "port": self.port,
            "base_image": self.base_image, "timings": self.timings, "labels": self.labels,
            "digest": self.digest, "pushed": self.pushed, "source_date_epoch": self.source_date_epoch,
            "sbom": self.sbom,
        }


def drain(steps: Generator[str, None, T], on_line: Optional[Callable[[str], object]] = None) -> T:
    """Run a generator such as :func:`build_image` to its end: each yielded
    line goes to ``on_line``; the generator's return value is returned."""
    while True:
        try:
            line = next(steps)
        except StopIteration as stop:
            return stop.value
        if on_line is not None:
            on_line(line)


def check_name(name: str) -> str:
    """``name`` as a full reference (``:latest`` added), or UsageError."""
    if not _NAME.match(name or ""):
        raise UsageError(
            f"{name!r} is not a valid image name",
            "use lowercase letters, digits and . _ - / with an optional :tag, e.g. myapp or myapp:1.0",
        )
    last = name.rsplit("/", 1)[-1]
    return name if ":" in last else f"{name}:latest"


def check_base_image(reference: str, where: str) -> str:
    """``reference`` if the engine could accept it as an image (name[:tag][@digest]), else UsageError."""
    name, _, digest = str(reference).partition("@")
    if _NAME.match(name) and (not digest or re.fullmatch(r"sha256:[0-9a-f]{64}", digest)):
        return reference
    raise UsageError(f"base image {reference!r} (from {where}) is not a valid image reference",
                     "give one like python:3.12-slim, registry.local/team/base:1 or name@sha256:<digest>")


def default_base_image(python_version: Optional[str] = None) -> str:
    """``python:X.Y-slim`` for ``python_version`` (e.g. "3.11" or "3.11.4"), else this interpreter's."""
    if python_version:
        # An exact version (3.11, 3.11.4, python-3.11.4); a range such as
        # ">=3.9" says nothing exact, so the interpreter running warp decides.
        match = re.match(r"^\s*(?:python-?)?(\d+)\.(\d+)(?:\.\d+)?\s*$", str(python_version), re.I)
        if match:
            return f"python:{match.group(1)}.{match.group(2)}-slim"
    return f"python:{sys.version_info.major}.{sys.version_info.minor}-slim"


def connect(environ: Optional[Mapping[str, str]] = None) -> DockerClient:
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


def ensure_base_image(client: DockerClient, base_image: str) -> Iterator[str]:
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


# Engine API version from which HEALTHCHECK knows --start-interval.
START_INTERVAL_API = (1, 44)
START_INTERVAL = 1  # seconds between checks during the start period
# Label the engine puts on the image its builder makes (warp's layer cache),
# so that the one a new build replaces can be removed.
BUILDER_LABEL = render.BUILDER_LABEL
SBOM_REQUIREMENTS = ("cyclonedx-bom>=7.5,<8",)


def api_version(client: DockerClient) -> Tuple[int, ...]:
    """The engine's API version as a tuple of ints, e.g. (1, 41); (0,) when it does not say."""
    try:
        text = str(client.version().get("ApiVersion", ""))
        return tuple(int(part) for part in text.split("."))
    except Exception:  # an engine that cannot say is treated as the oldest
        return (0,)


def start_interval_for(version: Tuple[int, ...]) -> Optional[int]:
    """Seconds between health checks during the start period, or None where the engine has none."""
    return START_INTERVAL if tuple(version) >= START_INTERVAL_API else None


def start_period(environ: Mapping[str, str]) -> int:
    """The health check's grace period: the bundled server's startup timeout
    (the time a worker may take to import the app), plus 10 s for the master."""
    from warp.core.settings import BY_NAME

    setting = BY_NAME["startup_timeout"]
    timeout = float(setting.default)
    for name in reversed(setting.env_names):  # WARP_STARTUP_TIMEOUT wins, as everywhere
        if environ.get(name):
            try:
                timeout = float(setting.parse(environ[name]))
            except (ValueError, TypeError):
                pass  # the server itself will say what is wrong with it
    return int(max(timeout, 0)) + 10


@dataclass(frozen=True)
class Prepared:
    reference: str
    base_image: str
    port: int
    dockerfile: str
    context: ctx.Context
    labels: dict
    not_forwarded: tuple = ()  # host pip settings that mean nothing in a container
    source_date_epoch: int = 0
    start_interval: Optional[int] = None


def prepare(app_dir: Union[str, Path] = ".", name: str = "app", base_image: RawFlag = None,
            environ: Optional[Mapping[str, str]] = None, engine_api: Tuple[int, ...] = (0,), base_image_id: str = "",
            source_date_epoch: RawFlag = None) -> Prepared:
    """Everything the engine needs, made without the engine.

    ``engine_api`` is the engine's API version (it decides the health check's
    start interval), ``base_image_id`` the base's ID for the SBOM.
    """
    reference = check_name(name)
    environ = dict(os.environ if environ is None else environ)
    project = open_project(app_dir, environ=environ,
                           flags={"base_image": base_image, "source_date_epoch": source_date_epoch})
    config = project.config
    base = resolve_base_image(project)

    patterns = ctx.ignore_patterns(project.root, project.venv)
    deps = ctx.dependency_files(project.root, config.package_manager, set(ctx.app_paths(project.root, patterns)))
    pip_files = pipconf.build_files(pipconf.read_pip_config(environ))
    facts_git = labels_mod.git_facts(project.root)
    epoch = labels_mod.source_date_epoch(facts_git, config.source_date_epoch)
    labels = labels_mod.oci_labels(facts_git, reference, epoch)
    labels[labels_mod.SBOM] = render.SBOM_PATH
    interval = start_interval_for(engine_api)
    facts = render.ImageFacts(
        base_image=base,
        port=config.port,
        dependency_files=deps.files,
        prefetch_requirements=deps.prefetch,
        no_prefetch_reason=deps.reason,
        build_env=pip_files.environment,
        labels=labels,
        source_date_epoch=epoch,
        base_image_id=base_image_id,
        title=labels[labels_mod.TITLE],
        builder_for=reference,
        start_period=start_period(project.environ),
    )
    dockerfile = render.render(facts)
    wheel_name, wheel_bytes = wheel.build_wheel()
    warp_files = {f"build/{n}": data for n, data in pip_files.files.items()}
    warp_files["build/warp-requirements.txt"] = ("\n".join(wheel.requirements()) + "\n").encode()
    warp_files["build/sbom-requirements.txt"] = ("\n".join(SBOM_REQUIREMENTS) + "\n").encode()
    warp_files[f"wheel/{wheel_name}"] = wheel_bytes
    warp_files["entrypoint.sh"] = (ENTRYPOINT.read_bytes(), 0o755)
    context = ctx.make_context(project.root, dockerfile, warp_files, patterns)
    return Prepared(reference, base, config.port, dockerfile, context, labels, pip_files.dropped, epoch, interval)


def resolve_base_image(project: Project) -> str:
    """The base image the settings name, else python:X.Y-slim for the app's Python."""
    config = project.config
    if config.base_image:
        return check_base_image(config.base_image, config.source("base_image"))
    return default_base_image(wanted_python(project).version)


def build_image(app_dir: Union[str, Path] = ".", name: str = "app", base_image: RawFlag = None,
                environ: Optional[Mapping[str, str]] = None, client: Optional[DockerClient] = None,
                no_cache: RawFlag = None, push: RawFlag = None, sbom: RawFlag = None,
                source_date_epoch: RawFlag = None) -> Generator[str, None, ImageResult]:
    """Build the image; yields progress lines, returns an ImageResult.

    ``no_cache`` rebuilds every layer (the base image is reused as it is);
    ``push`` pushes the image to the registry its name names; ``sbom`` is a
    file to write the image's SBOM to; ``source_date_epoch`` overrides the
    last commit's time as the time of everything in the image.
    """
    from warp.image.assemble import assemble

    started = time.monotonic()
    reference = check_name(name)
    environ = dict(os.environ if environ is None else environ)
    # Values given here count as flags: warp.yaml and WARP_* fill what they leave out.
    project = open_project(app_dir, environ=environ, flags={
        "base_image": base_image, "no_cache": no_cache, "push": push, "sbom": sbom,
        "source_date_epoch": source_date_epoch})
    config = project.config
    rebuild_all, push_to, sbom_file = config.no_cache, config.push, config.sbom
    base = resolve_base_image(project)
    client = client or connect(environ)
    yield from ensure_base_image(client, base)
    base_id = client.images.get(base).id
    prepared = prepare(app_dir, reference, base_image, environ, engine_api=api_version(client),
                   base_image_id=base_id, source_date_epoch=source_date_epoch)
    context_seconds = time.monotonic() - started
    yield f"context: {prepared.context.app_files} files from the app, {len(prepared.context.data) / 1e6:.1f} MB"
    if prepared.not_forwarded:
        yield "pip settings of this host left out of the build (local paths): " + ", ".join(prepared.not_forwarded)
    if prepared.start_interval is None:
        yield "health check without a start interval: the engine's API is older than 1.44, so the first check comes after 30 s"

    yield f"building {prepared.reference} on {prepared.base_image}"
    build_started = time.monotonic()
    step_ids: Dict[str, str] = {}
    built_id = yield from _stream_build(client, prepared.context.data, None, rebuild_all,
                                        labels={BUILDER_LABEL: prepared.reference}, step_ids=step_ids)
    build_seconds = time.monotonic() - build_started

    yield f"assembling {prepared.reference}: the final stage as one layer, every time set to {labels_mod.iso(prepared.source_date_epoch)}"
    assemble_started = time.monotonic()
    assembled = assemble(client, built_id, prepared.base_image, prepared.reference, prepared.source_date_epoch, prepared.labels,
                         drop_labels=(BUILDER_LABEL,), start_interval=prepared.start_interval,
                         created_by=f"warp image {warp_version()}: Dockerfile.template's final stage on {prepared.base_image}")
    build_stage = [short for instruction, short in step_ids.items() if instruction.startswith(f"LABEL {BUILDER_LABEL}=")]
    _remove_replaced_builders(client, prepared.reference, {built_id[7:19] if built_id.startswith("sha256:") else built_id[:12],
                                                           *build_stage})
    timings = {"context": round(context_seconds, 3), "build": round(build_seconds, 3),
               "assemble": round(time.monotonic() - assemble_started, 3)}

    digest = None
    if push_to:
        yield f"pushing {prepared.reference}"
        push_started = time.monotonic()
        from warp.image.registry import push_image
        digest = yield from push_image(client, prepared.reference)
        timings["push"] = round(time.monotonic() - push_started, 3)
    if sbom_file:
        write_sbom(client, assembled.id, sbom_file)

    image = client.images.get(assembled.id)
    timings["total"] = round(time.monotonic() - started, 3)
    return ImageResult(
        id=image.id,
        tags=sorted(image.tags),
        size=image.attrs.get("Size", 0),
        base_image=prepared.base_image,
        port=prepared.port,
        timings=timings,
        labels=prepared.labels,
        digest=digest,
        source_date_epoch=prepared.source_date_epoch,
        sbom=str(sbom_file) if sbom_file else None,
    )


def warp_version() -> str:
    from warp import __version__

    return __version__


def _remove_replaced_builders(client, reference, keep):
    """Remove the builder images earlier builds of ``reference`` left (the final
    stage's and the build stage's last, with their untagged parents no other
    image needs), keeping those whose short IDs are in ``keep``: the layer cache."""
    import docker

    try:
        olds = client.images.list(filters={"label": f"{BUILDER_LABEL}={reference}", "dangling": True})
    except docker.errors.APIError:
        return
    for old in olds:
        if old.id[7:19] not in keep:
            try:
                client.images.remove(old.id)
            except docker.errors.APIError:
                pass  # a container still uses it, or another build does: leave it


def read_sbom(client: DockerClient, image_id: str) -> bytes:
    """The SBOM an image made by warp carries, as bytes."""
    import io
    import tarfile

    import docker

    image = client.images.get(image_id)
    path = (image.attrs.get("Config") or {}).get("Labels", {}).get(labels_mod.SBOM)
    if not path:
        raise WarpError(f"image {image_id[:19]} has no {labels_mod.SBOM} label", "build it with warp image")
    container = client.containers.create(image.id, command=["true"])
    try:
        chunks, _ = container.get_archive(path)
        with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as tar:
            member = next(m for m in tar.getmembers() if m.isfile())
            handle = tar.extractfile(member)
            if handle is None:
                raise StopIteration
            return handle.read()
    except (docker.errors.APIError, StopIteration):
        raise WarpError(f"image {image_id[:19]} has no SBOM at {path}", "build it again with warp image") from None
    finally:
        container.remove(force=True)


def write_sbom(client: DockerClient, image_id: str, target: Union[str, Path]) -> None:
    """Write the image's SBOM to ``target`` whole, or not at all."""
    data = read_sbom(client, image_id)
    target = Path(target)
    partial = target.with_name(f".{target.name}.partial")
    try:
        partial.write_bytes(data)
        os.replace(partial, target)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise UsageError(f"cannot write the SBOM to {target}: {exc.strerror or exc}",
                         "give --sbom a file in a folder that exists and you can write") from None


def _stream_build(client, data, reference, no_cache=False, labels=None, step_ids=None):
    """Run the build, yield its lines, return the image id; WarpError on failure.

    ``step_ids`` (a dict) receives each step's instruction -> the short ID of
    the image that step made or reused.
    """
    import docker

    instruction = None

    step, last_output, image_id = None, None, None
    try:
        stream = client.api.build(
            fileobj=data, custom_context=True, tag=reference,
            rm=True, forcerm=True, pull=False, decode=True, nocache=no_cache, labels=labels,
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
                made = re.match(r"^ ---> ([0-9a-f]{12})$", line)
                if made and instruction and step_ids is not None:
                    step_ids[instruction] = made.group(1)
                if match:
                    instruction = match.group(3).strip()
                    step = f"step {match.group(1)}/{match.group(2)} ({instruction})"
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


def run_image(reference: str, port: int = 8080, environ: Optional[Mapping[str, str]] = None,
              client: Optional[DockerClient] = None, name: Optional[str] = None) -> Generator[str, None, None]:
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
