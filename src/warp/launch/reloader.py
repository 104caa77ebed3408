"""`warp start --reload`: watch the app's source and reload the server when it changes.

Runs on warp's side, beside the server (warp stays the server's parent under its
supervisor instead of exec'ing it), so it works the same for every server: the
supervisor sends HUP to servers that reload gracefully and restarts the others.

What is watched: the Python files of the app's source tree (``warp.app.sourcetree``:
no state, virtualenvs, caches or ignored files), plus the ``reload_include`` globs
(templates, configuration). Not every file: an app writing its log or its SQLite
database into its own folder would otherwise reload itself forever, which is why
Django's, Werkzeug's and uvicorn's reloaders watch Python files too.

Watching: on Linux, inotify (through ctypes, standard library) on every source
folder serves only as a wake-up; what changed is then decided by comparing the
source tree's metadata (``warp.app.sourcetree``), so editors that write in place,
through a temporary file and a rename, or by deleting and re-creating, all count,
and new folders are watched as they appear. An idle watcher costs nothing but a
blocked read. Without inotify (another OS, or no watches left), the tree is
polled every second.

A changed Python file that does not compile is reported once, with its error,
and the running code keeps serving; the next save that compiles reloads.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import select
import threading
import time
from pathlib import Path
from typing import Callable, List, Optional, Sequence

from warp.app import sourcetree

POLL_INTERVAL = 1.0
# Editors write a file in several steps: wait this long after the first event
# for the rest, then compare once.
SETTLE = 0.1
# Even with inotify, compare the whole tree now and then: a watch can be lost
# (a folder replaced wholesale), and this bounds how long such a change hides.
FULL_CHECK_INTERVAL = 30.0

_IN_WATCHED = (0x00000002 | 0x00000004 | 0x00000008 | 0x00000040 | 0x00000080 | 0x00000100 | 0x00000200
               | 0x00000400 | 0x00000800)  # modify, attrib, close-write, moves, create, delete, self


class Inotify:
    """The few inotify calls the watcher needs; raises OSError where there is no inotify."""

    def __init__(self) -> None:
        name = ctypes.util.find_library("c")
        self.libc = ctypes.CDLL(name, use_errno=True)
        if not hasattr(self.libc, "inotify_init1"):
            raise OSError(errno.ENOSYS, "no inotify")
        self.fd = self.libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1 failed")
        self.watched: set = set()

    def watch(self, folder: str) -> None:
        if folder in self.watched:
            return
        if self.libc.inotify_add_watch(self.fd, os.fsencode(folder), _IN_WATCHED) < 0:
            code = ctypes.get_errno()
            if code in (errno.ENOENT, errno.ENOTDIR):
                return  # gone already: the comparison will say so
            raise OSError(code, f"cannot watch {folder}")
        self.watched.add(folder)

    def wait(self, timeout: float) -> bool:
        """True when events arrived within ``timeout`` seconds (they are drained)."""
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return False
        self.drain()
        return True

    def drain(self) -> None:
        try:
            while os.read(self.fd, 65536):
                pass
        except BlockingIOError:
            pass

    def close(self) -> None:
        os.close(self.fd)


def syntax_error(root: Path, path: str) -> Optional[str]:
    """The compile error of a changed Python file, as one short text; None when it compiles."""
    if not path.endswith(".py"):
        return None
    try:
        source = (root / path).read_bytes()
    except OSError:
        return None  # removed: that is a change to reload for, not an error
    try:
        compile(source, path, "exec", dont_inherit=True)
    except SyntaxError as exc:
        where = f"{exc.filename}:{exc.lineno}" if exc.lineno else str(exc.filename)
        return f"{where}: {exc.msg}"
    except ValueError as exc:  # a NUL byte in the source
        return f"{path}: {exc}"
    return None


class Watcher:
    """Calls ``on_change(paths)`` from its own thread when the app's source changes;
    ``report(line)`` tells people what it does (a syntax error, a reload)."""

    def __init__(self, root: Path, on_change: Callable[[List[str]], None], report: Callable[[str], None],
                 include: Sequence[str] = (), use_inotify: bool = True) -> None:
        self.root = Path(root)
        self.include = tuple(include)
        self.on_change = on_change
        self.report = report
        self.stopped = threading.Event()
        self.known = self._snapshot()
        self.last_error: Optional[str] = None
        self.inotify: Optional[Inotify] = None
        if use_inotify:
            try:
                self.inotify = Inotify()
                self._watch_folders()
            except OSError as exc:
                self.report(f"reload: no inotify here ({exc.strerror or exc}); polling every {POLL_INTERVAL:g} s")
                self.inotify = None
        self.thread = threading.Thread(target=self._run, name="warp-reload", daemon=True)

    @property
    def mechanism(self) -> str:
        return "inotify" if self.inotify else "polling"

    def _snapshot(self) -> sourcetree.Snapshot:
        tree = {path: meta for path, meta in sourcetree.snapshot(self.root).items() if path.endswith(".py")}
        if self.include:
            tree.update(sourcetree.matching(self.root, self.include))
        return tree

    def _watch_folders(self) -> None:
        assert self.inotify is not None
        for folder in sourcetree.source_folders(self.root):
            self.inotify.watch(str(self.root / folder) if folder else str(self.root))
        for glob in self.include:
            for path in self.root.glob(glob):
                self.inotify.watch(str(path.parent))

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopped.set()

    def _run(self) -> None:
        last_full = time.monotonic()
        while not self.stopped.is_set():
            if self.inotify is not None:
                woke = self.inotify.wait(1.0)
                if not woke and time.monotonic() - last_full < FULL_CHECK_INTERVAL:
                    continue
                if woke:
                    time.sleep(SETTLE)
                    self.inotify.drain()
            else:
                self.stopped.wait(POLL_INTERVAL)
            last_full = time.monotonic()
            self.check()

    def check(self) -> None:
        """Compare the tree with what it was; reload, or report the first syntax error."""
        current = self._snapshot()
        changed = sourcetree.changes(self.known, current)
        if not changed:
            return
        if self.inotify is not None:
            try:
                self._watch_folders()  # new folders get watches of their own
            except OSError as exc:
                self.report(f"reload: cannot watch more folders ({exc.strerror}); polling from now on")
                self.inotify.close()
                self.inotify = None
        errors = [error for error in (syntax_error(self.root, path) for path in changed) if error]
        if errors:
            # Keep the old tree as the reference: the fix will show up as a change.
            if errors[0] != self.last_error:
                self.last_error = errors[0]
                self.report(f"reload: not reloading, {errors[0]}; the running code keeps serving")
            return
        self.known, self.last_error = current, None
        shown = ", ".join(changed[:3]) + (f" and {len(changed) - 3} more" if len(changed) > 3 else "")
        self.report(f"reload: {shown} changed; reloading")
        self.on_change(changed)
