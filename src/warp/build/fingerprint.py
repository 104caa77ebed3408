"""A fingerprint of an app's whole source tree, fast enough for every ``warp build``.

The app steps of a build (the ``pre-build`` and ``build`` hooks, collectstatic,
whatever a framework buildpack does with the sources) depend on every source
file, not on a list of files warp guessed. So the tree is walked whole, by the
one rule of what is source (``warp.app.sourcetree``, which the reloader and
the image context share): less ``.warp/``, version-control folders,
virtualenvs, caches, and what ``.gitignore`` and ``.dockerignore`` leave out.

Like git's index, a cache in ``.warp/tree.json`` keeps each file's size,
mtime_ns, inode and mode with its content hash; a file is read again only
when that metadata changed, or when it was modified so close to the moment
the cache was written that a change within the same clock tick could hide
(git's "racy" entries). The digest covers paths, content and the executable
bit, so touching a file without changing it changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple
import hashlib
import json
import os
import stat
import time

from warp.app.sourcetree import source_files

CACHE = "tree.json"
CACHE_VERSION = 1
# Files modified this close to the cache's writing are hashed again next time (clock granularity).
RACY_NS = 2_000_000_000

Entry = List  # [size, mtime_ns, inode, mode, sha256]


@dataclass(frozen=True)
class Tree:
    digest: str
    files: int
    hashed: int  # files whose content was read this time (the rest came from the cache)


def _hash_file(path: str, st: os.stat_result) -> str:
    if stat.S_ISLNK(st.st_mode):
        return "link:" + os.readlink(path)
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def source_tree(root: "str | os.PathLike[str]", state_dir: "str | os.PathLike[str]",
                skip: Tuple[str, ...] = (), save: bool = True) -> Tree:
    """The fingerprint of the source tree under ``root``; the metadata cache lives in ``state_dir``.

    ``skip``: more relative paths to leave out (the app's virtualenv when it
    sits inside the app under another name).
    """
    root = Path(root)
    cache_path = Path(state_dir) / CACHE
    cached: Dict[str, Entry] = {}
    trusted_before = 0
    try:
        data = json.loads(cache_path.read_text())
        if data.get("version") == CACHE_VERSION:
            cached = data.get("entries", {})
            trusted_before = int(data.get("written_ns", 0)) - RACY_NS
    except (OSError, ValueError, TypeError):
        pass
    entries: Dict[str, Entry] = {}
    digest = hashlib.sha256()
    hashed = 0
    found = sorted(source_files(root, [f"/{path}/" for path in skip]), key=lambda item: item[0])
    for relative, st in found:
        old = cached.get(relative)
        if (old is not None and old[:4] == [st.st_size, st.st_mtime_ns, st.st_ino, st.st_mode]
                and st.st_mtime_ns < trusted_before):
            sha = old[4]
        else:
            try:
                sha = _hash_file(os.path.join(root, relative), st)
            except OSError:
                continue  # vanished or unreadable between the walk and the read: not part of the tree
            hashed += 1
        entries[relative] = [st.st_size, st.st_mtime_ns, st.st_ino, st.st_mode, sha]
        executable = "x" if st.st_mode & 0o111 else "-"
        digest.update(f"{relative}\0{executable}\0{sha}\n".encode("utf-8", "surrogateescape"))
    if save and (hashed or set(entries) != set(cached)):
        _save(cache_path, entries)
    return Tree(digest=digest.hexdigest(), files=len(entries), hashed=hashed)


def _save(path: Path, entries: Dict[str, Entry]) -> None:
    """Write the cache atomically; a cache that cannot be written only costs hashing next time."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"version": CACHE_VERSION, "written_ns": time.time_ns(), "entries": entries},
                                  separators=(",", ":")))
        os.replace(tmp, path)
    except OSError:
        pass


def skip_for(root: Path, venv: Optional[Path]) -> Tuple[str, ...]:
    """Relative paths of ``venv`` when it lies inside ``root`` (it is never source)."""
    if venv is None:
        return ()
    try:
        return (Path(venv).resolve().relative_to(Path(root).resolve()).as_posix(),)
    except ValueError:
        return ()

