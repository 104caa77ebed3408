"""The build context: which files of the application enter an image build,
and the tar archive sent to the engine.

The archive is made in memory with every owner field reset, modes reduced to
0644/0755 and entries in sorted order, so the same files give the same bytes.
Application files keep their modification time, and only those: the engine's
layer cache ignores mtimes (checked: a COPY of the same bytes with another
mtime is a cache hit), while a server deriving Last-Modified or an ETag from
a static file's mtime would serve stale files if every mtime were zero, as a
same-size edit would keep the same validator. warp's own files get mtime 0. The application goes under ``app/``
and warp's own files under ``warp/``, so a ``COPY app/`` can never pick up
the build stage's pip settings.

What is left out: ``.dockerignore`` in the app, read with Docker's own rules
(last matching pattern wins, ``!`` re-includes), after warp's defaults: VCS
folders, virtualenvs (the app's ``.warp/venv`` included), Python caches and
warp's local state. A ``!.git`` line in ``.dockerignore`` brings one back.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Collection, Dict, List, Mapping, Optional, Sequence, Tuple, Union
import io
import os
import re
import stat
import tarfile

from warp.app.requirements import read_requirements
from warp.app.sourcetree import NOT_SOURCE

PathLike = Union[str, "os.PathLike[str]"]

# What is never the app's source, declared once with the source tree's other rules.
DEFAULT_EXCLUDES = NOT_SOURCE
DOCKERIGNORE = ".dockerignore"


def ignore_patterns(app_dir: PathLike, venv: Optional[PathLike] = None) -> List[str]:
    """warp's default exclusions, the app's own venv, then .dockerignore's lines."""
    app_dir = Path(app_dir)
    patterns = list(DEFAULT_EXCLUDES)
    if venv is not None:
        try:
            patterns.append(Path(venv).resolve().relative_to(app_dir.resolve()).as_posix())
        except ValueError:
            pass  # a venv outside the app never enters the context anyway
    path = app_dir / DOCKERIGNORE
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                patterns.append(line)
    return patterns


def app_paths(app_dir: PathLike, patterns: Sequence[str]) -> List[str]:
    """Relative POSIX paths of the files, links and folders that enter the build, sorted."""
    # The docker SDK's matcher is a port of the engine's own, so `docker build`
    # and warp agree on what .dockerignore means.
    from docker.utils.build import PatternMatcher

    root = os.path.abspath(app_dir)
    return sorted(p.replace(os.sep, "/") for p in PatternMatcher(patterns).walk(root))


def _info(name, mode, size=0, kind=tarfile.REGTYPE, linkname="", mtime=0):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.size = size
    info.linkname = linkname
    info.mtime = max(0, int(mtime))
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _mode(st_mode, is_dir=False):
    # Only the executable bit carries meaning; umask noise would bust the cache.
    return 0o755 if is_dir or st_mode & 0o111 else 0o644


@dataclass(frozen=True)
class Context:
    data: bytes
    app_files: int  # files and links from the app


def make_context(app_dir: PathLike, dockerfile: str, warp_files: Mapping[str, Union[bytes, Tuple[bytes, int]]],
                 patterns: Sequence[str]) -> Context:
    """The tar archive: ``Dockerfile``, ``app/...`` and ``warp/<name>`` for ``warp_files``.

    ``warp_files`` maps a name under ``warp/`` to bytes, or to (bytes, mode).
    """
    root = Path(app_dir)
    entries: Dict[str, Tuple[tarfile.TarInfo, Optional[bytes]]] = {}  # None: a link or a folder
    dirs = {"app", "warp"}
    for rel in app_paths(root, patterns):
        path = root / rel
        st = path.lstat()
        name = f"app/{rel}"
        if stat.S_ISLNK(st.st_mode):
            entries[name] = (_info(name, 0o777, kind=tarfile.SYMTYPE, linkname=os.readlink(path)), None)
        elif stat.S_ISDIR(st.st_mode):
            dirs.add(name)
        elif stat.S_ISREG(st.st_mode):
            data = path.read_bytes()
            entries[name] = (_info(name, _mode(st.st_mode), len(data), mtime=st.st_mtime), data)
        # sockets, fifos and devices cannot be copied into an image: skipped
    app_files = len(entries)
    for rel, content in warp_files.items():
        data, mode = content if isinstance(content, tuple) else (content, 0o644)
        name = f"warp/{rel}"
        entries[name] = (_info(name, mode, len(data)), data)
        parent = name.rsplit("/", 1)[0]
        while parent not in dirs:
            dirs.add(parent)
            parent = parent.rsplit("/", 1)[0]
    text = dockerfile.encode("utf-8")
    entries["Dockerfile"] = (_info("Dockerfile", 0o644, len(text)), text)
    for name in dirs:
        entries[name] = (_info(name, 0o755, kind=tarfile.DIRTYPE), None)

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(entries):
            info, body = entries[name]
            tar.addfile(info, io.BytesIO(body) if body is not None else None)
    return Context(data=buf.getvalue(), app_files=app_files)


# -- dependency files --------------------------------------------------------

REQUIREMENTS = "requirements.txt"
_LOCAL = re.compile(r"^(?:-e|--editable)\b|^[.~/]|^file:|\s@\s*file:|\.(?:whl|zip|tar\.gz|tgz)$")


@dataclass(frozen=True)
class DependencyFiles:
    files: tuple  # relative POSIX paths, sorted
    prefetch: tuple  # requirements files whose wheels can be made from them alone
    reason: str = ""  # why nothing can be fetched early


def dependency_files(app_dir: PathLike, package_manager: str = "auto",
                     included: Optional[Collection[str]] = None) -> DependencyFiles:
    """The requirements files (with their -r/-c includes) that decide the app's
    dependencies, if they name no local paths: then wheels for them can be made
    in a layer of their own, before the application's code is copied.
    ``included`` is the set of paths that enter the build (see app_paths).
    """
    root = Path(app_dir).resolve()
    if package_manager not in ("auto", "requirements"):
        return DependencyFiles((), (), f"package manager {package_manager}")
    top = root / REQUIREMENTS
    if not top.is_file():
        return DependencyFiles((), (), f"no {REQUIREMENTS}")
    seen = set()
    for entry in read_requirements(top):
        try:
            rel = Path(os.path.realpath(entry.path)).relative_to(root).as_posix()
        except ValueError:
            return DependencyFiles((), (), f"{entry.path} is outside the application")
        if not entry.exists:
            return DependencyFiles((), (), f"{rel} is missing")
        seen.add(rel)
        for line in entry.lines:
            if _LOCAL.search(line):
                return DependencyFiles((), (), f"{rel} names a local path ({line})")
    if included is not None:
        for rel in sorted(seen):
            if rel not in included:
                return DependencyFiles((), (), f"{rel} is left out by .dockerignore")
    return DependencyFiles(tuple(sorted(seen)), (REQUIREMENTS,))
