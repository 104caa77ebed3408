"""Process titles, so a person running `ps` sees which warp process is which.

Standard library only. Two places hold a Linux process's name:

- ``/proc/self/comm`` (15 bytes, what ``ps -o comm`` and ``top`` show) — written
  directly, no ctypes needed;
- the original argv strings (what ``ps -o args`` shows, read by the kernel from
  the memory between ``arg_start`` and ``arg_end`` of ``/proc/self/stat``). CPython
  copied argv at start-up, so that memory is free to overwrite in place, within
  its original length, as setproctitle does in C; here ctypes writes it.

Anything that fails (no /proc, no ctypes, a kernel that hides the fields) leaves
the title as it was: a title is a convenience and must never stop a server.
"""

from __future__ import annotations

import os
import sys
from typing import Optional

COMM_MAX = 15


class _ArgvArea:
    """The process's original argv memory: (address, size), found once."""

    def __init__(self) -> None:
        self.address: Optional[int] = None
        self.size = 0
        self.pid = -1

    def find(self) -> bool:
        if self.pid == os.getpid():
            return self.address is not None
        self.pid, self.address, self.size = os.getpid(), None, 0
        try:
            with open("/proc/self/stat", "rb") as f:
                stat = f.read()
            # Fields after the command name (which may hold spaces) are counted from its ")".
            fields = stat[stat.rindex(b")") + 2:].split()
            # proc(5): arg_start and arg_end are fields 48 and 49; fields[0] is field 3.
            start, end = int(fields[48 - 3]), int(fields[49 - 3])
        except (OSError, ValueError, IndexError):
            return False
        if start and end > start:
            self.address, self.size = start, end - start
        return self.address is not None


_AREA = _ArgvArea()


def set_comm(name: str) -> None:
    """The short name ``ps -o comm`` shows (truncated to 15 bytes)."""
    try:
        with open("/proc/self/comm", "wb") as f:
            f.write(name.encode("utf-8", "replace")[:COMM_MAX])
    except OSError:
        pass


def set_args(title: str) -> bool:
    """Rewrite what ``ps -o args`` shows; False where this platform does not allow it."""
    if not sys.platform.startswith("linux") or not _AREA.find():
        return False
    try:
        import ctypes
    except ImportError:  # an interpreter built without libffi
        return False
    assert _AREA.address is not None
    data = title.encode("utf-8", "replace")[: _AREA.size - 1]
    # NUL-fill the rest, so nothing of the old command line shows after the title.
    buffer = data + b"\0" * (_AREA.size - len(data))
    try:
        ctypes.memmove(_AREA.address, buffer, len(buffer))
    except (OSError, ValueError):
        return False
    return True


def set_title(title: str, comm: Optional[str] = None) -> None:
    """Both names: the full title for ``ps -o args``, ``comm`` (default: the title) for ``ps -o comm``."""
    set_args(title)
    set_comm(comm if comm is not None else title)
