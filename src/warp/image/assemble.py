"""Make the image the engine built reproducible: one normalised layer over the base.

The engine's classic builder cannot give two builds of one commit the same
image ID: every layer it writes carries the time its files were written, and
the image's config the time of every step. So warp lets it build (its layer
cache keeps rebuilds fast), then assembles the image that gets the name:

* the base image's layers, untouched, as the base has them;
* one layer holding everything the final stage of Dockerfile.template added,
  merged from its layers (a later layer's file or whiteout replacing an
  earlier one), in sorted order, every time set to the source date epoch,
  user and group names dropped (the numeric owners stay), hard links made
  plain files, extended attributes kept;
* a config with the built image's settings (user, entrypoint, environment,
  labels, health check, plus its start interval where the engine has one),
  the source date for every time, the base's
  history and one history entry for that layer, and nothing that names an
  intermediate image.

It is loaded through the engine's image load API (``docker load``), which
tags it. The image ID is the SHA-256 of that config, which names the
layers by their SHA-256: same files, same settings, same ID.
"""

from dataclasses import dataclass
from datetime import datetime, timezone
import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile
from typing import IO, Any, Dict, List, Optional, Tuple

from warp.core.errors import WarpError

_CHUNK = 1 << 20
# Config keys that name the builder's intermediate images or containers.
_DROPPED_TOP = ("container", "container_config", "docker_version", "parent", "id", "comment")
_DROPPED_CONFIG = ("Image", "Hostname")


@dataclass(frozen=True)
class Assembled:
    id: str  # sha256:<hex> of the config
    layer: str  # sha256:<hex> of the new layer (its diff ID)
    layer_size: int


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class _HashingWriter(io.RawIOBase):
    """A write-only file that hashes what passes through it."""

    def __init__(self, target):
        self.target = target
        self.digest = hashlib.sha256()
        self.size = 0

    def writable(self):
        return True

    def write(self, data):
        self.digest.update(data)
        self.size += len(data)
        return self.target.write(data)


class _IterReader(io.RawIOBase):
    """A file over an iterator of byte chunks (the engine's image export stream)."""

    def __init__(self, chunks):
        self.chunks = iter(chunks)
        self.pending = b""

    def readable(self):
        return True

    def readinto(self, buffer):
        while not self.pending:
            try:
                self.pending = next(self.chunks)
            except StopIteration:
                return 0
        size = min(len(buffer), len(self.pending))
        buffer[:size] = self.pending[:size]
        self.pending = self.pending[size:]
        return size


def _export(client: Any, image_id: str, wanted: set, folder: str) -> Tuple[bytes, Dict[str, str]]:
    """The raw config of ``image_id`` and {diff ID: file} for the ``wanted`` layers.

    Reads the engine's export (``docker save``) as a stream: both the legacy
    layout (``<id>/layer.tar``, ``<id>.json``) and the OCI one (``blobs/sha256/``)
    name their files differently, but a layer's SHA-256 is its diff ID and the
    config's is the image ID in both, so files are recognised by their hash.
    """
    config, layers = None, {}
    stream = io.BufferedReader(_IterReader(client.api.get_image(image_id)), _CHUNK)
    with tarfile.open(fileobj=stream, mode="r|") as export:
        for member in export:
            if not member.isfile():
                continue
            source = _member_file(export, member)
            digest = hashlib.sha256()
            if member.size < 4 * _CHUNK:
                data = source.read()
                digest.update(data)
                name = "sha256:" + digest.hexdigest()
                if name == image_id:
                    config = data
                elif name in wanted and name not in layers:
                    path = os.path.join(folder, name[7:] + ".tar")
                    with open(path, "wb") as out:
                        out.write(data)
                    layers[name] = path
                continue
            path = os.path.join(folder, f"spool-{len(layers)}.tar")
            with open(path, "wb") as out:
                while True:
                    block = source.read(_CHUNK)
                    if not block:
                        break
                    digest.update(block)
                    out.write(block)
            name = "sha256:" + digest.hexdigest()
            if name in wanted and name not in layers:
                final = os.path.join(folder, name[7:] + ".tar")
                os.replace(path, final)
                layers[name] = final
            else:
                os.unlink(path)
    if config is None:
        raise WarpError(f"the engine's export of {image_id[:19]} holds no config", "retry; check the engine with docker info")
    missing = wanted - set(layers)
    if missing:
        raise WarpError(f"the engine's export of {image_id[:19]} lacks layer {sorted(missing)[0][:19]}",
                        "retry; check the engine with docker info")
    return config, layers


def _member_file(tar: tarfile.TarFile, member: tarfile.TarInfo) -> IO[bytes]:
    handle = tar.extractfile(member)
    if handle is None:
        raise WarpError(f"layer entry {member.name} has no content", "rebuild with --no-cache")
    return handle


def _clean(name: str) -> str:
    while name.startswith("./"):
        name = name[2:]
    return name.rstrip("/")


def _under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder + "/")


def merge_layers(paths: List[str], out: Any, epoch: int) -> None:
    """Write to ``out`` one layer tar equal to applying the layer tars ``paths`` in order."""
    tars = [tarfile.open(path, mode="r:") for path in paths]
    try:
        merged: Dict[str, Tuple[int, tarfile.TarInfo]] = {}
        whiteouts: Dict[str, bool] = {}  # hides a path of the base
        opaque: Dict[str, bool] = {}  # a folder whose base content is hidden
        by_name = []
        for index, tar in enumerate(tars):
            names = {}
            for member in tar.getmembers():
                name = _clean(member.name)
                if not name:
                    continue
                names[name] = member
                folder, _, base = name.rpartition("/")
                if base == ".wh..wh..opq":
                    for path in [p for p in merged if folder and p.startswith(folder + "/")]:
                        del merged[path]
                    opaque[folder] = True
                    continue
                if base.startswith(".wh."):
                    target = (folder + "/" if folder else "") + base[4:]
                    for path in [p for p in merged if _under(p, target)]:
                        del merged[path]
                    whiteouts[target] = True
                    continue
                if whiteouts.pop(name, False) and member.isdir():
                    opaque[name] = True  # made again as a folder: the base's content stays hidden
                previous = merged.get(name)
                if previous is not None and member.isdir() and not previous[1].isdir():
                    pass
                elif previous is not None and not member.isdir() and previous[1].isdir():
                    for path in [p for p in merged if p.startswith(name + "/")]:
                        del merged[path]
                merged[name] = (index, member)
            by_name.append(names)

        entries: List[Tuple[str, str, Any, Any]] = []
        for name, (index, member) in merged.items():
            entries.append((name, "entry", index, member))
        for name in whiteouts:
            folder, _, base = name.rpartition("/")
            entries.append(((folder + "/" if folder else "") + ".wh." + base, "whiteout", None, None))
        for name in opaque:
            entries.append((name + "/.wh..wh..opq", "whiteout", None, None))
        entries.sort(key=lambda entry: entry[0])

        with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as layer:
            for name, kind, index, member in entries:
                if kind == "whiteout":
                    info = tarfile.TarInfo(name)
                    info.mtime = epoch
                    info.mode = 0o644
                    layer.addfile(info, io.BytesIO(b""))
                    continue
                source = member
                if member.islnk():  # a hard link: its target is in the same layer
                    linked = by_name[index].get(_clean(member.linkname))
                    if linked is None or not linked.isfile():
                        raise WarpError(f"layer entry {name} links to {member.linkname}, which is not in its layer",
                                        "rebuild with --no-cache; report it if it persists")
                    source = linked
                info = tarfile.TarInfo(name + ("/" if member.isdir() else ""))
                info.type = tarfile.REGTYPE if member.islnk() else member.type
                info.mode = member.mode
                info.uid, info.gid = member.uid, member.gid
                info.uname = info.gname = ""
                info.mtime = epoch
                info.linkname = "" if member.islnk() else member.linkname
                info.devmajor, info.devminor = member.devmajor, member.devminor
                info.pax_headers = {key: value for key, value in sorted(member.pax_headers.items())
                                    if key.startswith("SCHILY.xattr.")}
                if info.type == tarfile.REGTYPE or source.isfile():
                    info.size = source.size
                    layer.addfile(info, _member_file(tars[index], source))
                else:
                    info.size = 0
                    layer.addfile(info)
    finally:
        for tar in tars:
            tar.close()


def image_config(raw: dict, base_history: int, base_layers: List[str], layer: str, epoch: int, labels: dict,
                 created_by: str, drop_labels: Tuple[str, ...] = (), start_interval: Optional[int] = None) -> dict:
    """The assembled image's config from the built one's; ``start_interval``
    (seconds) goes into its health check."""
    config = {key: value for key, value in raw.items() if key not in _DROPPED_TOP}
    settings = {key: value for key, value in (raw.get("config") or {}).items() if key not in _DROPPED_CONFIG}
    if start_interval and isinstance(settings.get("Healthcheck"), dict):
        settings["Healthcheck"] = dict(settings["Healthcheck"], StartInterval=int(start_interval) * 10**9)
    merged = {**(settings.get("Labels") or {}), **labels}
    settings["Labels"] = {key: merged[key] for key in sorted(merged) if key not in drop_labels}
    config["config"] = settings
    config["created"] = _iso(epoch)
    config["history"] = list((raw.get("history") or [])[:base_history]) + [
        {"created": _iso(epoch), "created_by": created_by, "comment": "warp image: the final stage, one normalised layer"},
    ]
    config["rootfs"] = {"type": "layers", "diff_ids": list(base_layers) + [layer]}
    return config


def assemble(client: Any, built_id: str, base_image: str, reference: str, epoch: int, labels: dict,
             created_by: str = "warp image", drop_labels: Tuple[str, ...] = (),
             start_interval: Optional[int] = None, workdir: Optional[str] = None) -> Assembled:
    """Load ``reference``: the base's layers, plus one normalised layer holding
    what ``built_id`` adds to them, under a normalised config."""
    base = client.images.get(base_image)
    base_layers = list(base.attrs["RootFS"].get("Layers") or [])
    base_history = len(client.api.history(base.id))
    built = client.images.get(built_id)
    layers = list(built.attrs["RootFS"].get("Layers") or [])
    if layers[:len(base_layers)] != base_layers:
        raise WarpError(f"the built image does not start with the layers of {base_image}",
                        "the base image changed during the build; build again")
    ours = layers[len(base_layers):]
    folder = tempfile.mkdtemp(prefix="warp-image-", dir=workdir)
    try:
        raw, files = _export(client, built.id, set(ours), folder)
        layer_path = os.path.join(folder, "layer.tar")
        with open(layer_path, "wb") as target:
            writer = _HashingWriter(target)
            merge_layers([files[diff_id] for diff_id in ours], writer, epoch)
        layer = "sha256:" + writer.digest.hexdigest()
        config = image_config(json.loads(raw), base_history, base_layers, layer, epoch, labels, created_by, drop_labels,
                              start_interval)
        config_bytes = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
        image_id = "sha256:" + hashlib.sha256(config_bytes).hexdigest()
        _load(client, folder, config_bytes, image_id, base_layers, layer, layer_path, reference)
        return Assembled(id=image_id, layer=layer, layer_size=writer.size)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _load(client, folder, config_bytes, image_id, base_layers, layer, layer_path, reference):
    """``docker load`` of an archive holding the config and the new layer only:
    the engine skips loading a layer it already has, and it has the base's."""
    manifest = [{
        "Config": image_id[7:] + ".json",
        "RepoTags": [reference],
        "Layers": [diff_id[7:] + "/layer.tar" for diff_id in base_layers + [layer]],
    }]
    archive = os.path.join(folder, "load.tar")
    with tarfile.open(archive, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in ((image_id[7:] + ".json", config_bytes), ("manifest.json", json.dumps(manifest).encode())):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        tar.add(layer_path, arcname=layer[7:] + "/layer.tar")
    with open(archive, "rb") as data:
        answer = client.api.load_image(data)
    for event in answer if not isinstance(answer, (dict, bytes)) else [answer]:
        if isinstance(event, dict) and event.get("errorDetail"):
            raise WarpError(f"the engine refused the assembled image: {event['errorDetail'].get('message')}",
                            "check the engine with docker info")
