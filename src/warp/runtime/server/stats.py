"""The stats socket: connect, read one JSON document describing the master and every
worker, done. Served by the master from its main loop; read by ``warp status``.

Where it lives (both sides compute it the same way from the app folder):

1. ``<app folder>/.warp/run/stats.sock`` - the default, found by ``warp status`` run
   in the app folder;
2. when that folder cannot be written (read-only container root) or the path is too
   long for a UNIX socket address: ``$TMPDIR/warp-<uid>/<hash of the app folder>.sock``
   in a private (0700) directory.

``--stats`` overrides it with a path, ``unix:/PATH``, ``HOST:PORT`` (TCP, loopback
advised: the document names the requests in flight) or ``off``.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import socket
import tempfile
from typing import Any, Callable, List, Optional, Tuple, Union

# (socket family, address): a path for AF_UNIX, (host, port) for AF_INET/AF_INET6.
StatsAddress = Tuple[int, Union[str, Tuple[str, int]]]

RUN_DIR = os.path.join(".warp", "run")
SOCKET_NAME = "stats.sock"
# sun_path is 108 bytes on Linux, 104 on the BSDs.
_MAX_UNIX_PATH = 100


class StatsError(OSError):
    """No server answers at the stats address, or it answered nonsense."""


def primary_path(app_dir: str) -> str:
    return os.path.join(os.path.abspath(app_dir), RUN_DIR, SOCKET_NAME)


def fallback_path(app_dir: str) -> str:
    digest = hashlib.sha256(os.path.realpath(app_dir).encode("utf-8", "surrogateescape")).hexdigest()[:16]
    base = os.path.join(tempfile.gettempdir(), f"warp-{os.getuid()}")
    return os.path.join(base, f"{digest}.sock")


def candidates(app_dir: str) -> List[str]:
    """Where a server started in ``app_dir`` may have put its stats socket, in order."""
    paths = []
    primary = primary_path(app_dir)
    if len(primary.encode()) <= _MAX_UNIX_PATH:
        paths.append(primary)
    paths.append(fallback_path(app_dir))
    return paths


def parse_stats_address(text: str) -> StatsAddress:
    """(family, address) for an explicit --stats value."""
    raw = text.strip()
    if raw.startswith("unix:"):
        return socket.AF_UNIX, raw[len("unix:"):]
    if "/" in raw or raw.endswith(".sock"):
        return socket.AF_UNIX, raw
    host, sep, port = raw.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"stats address {text!r}: expected a socket path, unix:/PATH or HOST:PORT")
    host = host.strip("[]") or "127.0.0.1"
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return family, (host, int(port))


def _is_live(path: str) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1.0)
    try:
        probe.connect(path)
        return True
    except OSError:
        return False
    finally:
        probe.close()


def _make_private_dir(path: str) -> None:
    os.makedirs(path, mode=0o700, exist_ok=True)
    st = os.lstat(path)
    if st.st_uid != os.getuid() or (st.st_mode & 0o077):
        raise PermissionError(errno.EPERM, f"{path} is not a private directory of this user")


def listen_nonblocking(family: int, address: Any) -> socket.socket:
    """A small non-blocking listening socket for the master's own servers (stats,
    metrics), which it polls from its loop; closed again if it cannot be made."""
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        if family != socket.AF_UNIX:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(16)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


class StatsServer:
    """A non-blocking listening socket the master polls; each client gets ``snapshot()``
    as JSON and the connection is closed."""

    def __init__(self, sock: socket.socket, where: str, unix_path: Optional[str]) -> None:
        self.sock = sock
        self.where = where
        self._unix_path = unix_path
        self._inode = None
        if unix_path:
            st = os.stat(unix_path)
            self._inode = (st.st_dev, st.st_ino)

    @classmethod
    def open(cls, setting: str, app_dir: str) -> Tuple[Optional["StatsServer"], Optional[str]]:
        """Open the stats socket for ``setting`` ('' = default places). Returns
        (server or None, warning or None): a stats socket that cannot be opened is
        reported, never fatal."""
        if setting.strip().lower() in ("off", "none", "no", "false", "0"):
            return None, None
        if setting.strip():
            try:
                family, address = parse_stats_address(setting)
            except ValueError as exc:
                return None, str(exc)
            try:
                return cls._bind(family, address), None
            except OSError as exc:
                return None, f"stats socket {setting}: {exc.strerror or exc}; stats disabled"
        errors = []
        for path in candidates(app_dir):
            try:
                if path == fallback_path(app_dir):
                    _make_private_dir(os.path.dirname(path))
                else:
                    os.makedirs(os.path.dirname(path), exist_ok=True)
                return cls._bind(socket.AF_UNIX, path), None
            except OSError as exc:
                errors.append(f"{path}: {exc.strerror or exc}")
        return None, "cannot open a stats socket (" + "; ".join(errors) + "); stats disabled"

    @classmethod
    def _bind(cls, family: int, address) -> "StatsServer":
        if family == socket.AF_UNIX:
            if os.path.exists(address):
                if _is_live(address):
                    raise OSError(errno.EADDRINUSE, "another server in this folder already uses it")
                os.unlink(address)
        sock = listen_nonblocking(family, address)
        if family == socket.AF_UNIX:
            return cls(sock, f"unix:{address}", address)
        host, port = sock.getsockname()[:2]
        return cls(sock, f"{host}:{port}", None)

    def fileno(self) -> int:
        return self.sock.fileno()

    def handle(self, snapshot: Callable[[], dict]) -> None:
        """Answer every waiting client (called when the socket is readable)."""
        while True:
            try:
                conn, _ = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            try:
                conn.settimeout(2.0)
                conn.sendall(json.dumps(snapshot()).encode() + b"\n")
            except Exception:
                pass  # a stats client must never take the master down
            finally:
                conn.close()

    def close(self) -> None:
        self.sock.close()
        if self._unix_path and self._inode:
            try:
                st = os.stat(self._unix_path)
                if (st.st_dev, st.st_ino) == self._inode:
                    os.unlink(self._unix_path)
            except OSError:
                pass


def read_stats(address: StatsAddress, timeout: float = 5.0) -> dict:
    """Connect to a stats socket and return its JSON document."""
    family, sockaddr = address
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(sockaddr)
        chunks = []
        while True:
            data = sock.recv(65536)
            if not data:
                break
            chunks.append(data)
    except OSError as exc:
        raise StatsError(exc.errno or 0, f"{sockaddr}: {exc.strerror or exc}") from None
    finally:
        sock.close()
    try:
        return json.loads(b"".join(chunks))
    except ValueError:
        raise StatsError(0, f"{sockaddr}: answered something that is not warp server stats") from None


def find_and_read(app_dir: str = ".", setting: str = "", timeout: float = 5.0) -> dict:
    """The stats of the server started in ``app_dir`` (or at ``setting``)."""
    if setting.strip():
        return read_stats(parse_stats_address(setting), timeout)
    tried = []
    for path in candidates(app_dir):
        if not os.path.exists(path):
            tried.append(f"{path} (absent)")
            continue
        try:
            return read_stats((socket.AF_UNIX, path), timeout)
        except StatsError as exc:
            tried.append(f"{path} ({exc.strerror})")
    raise StatsError(errno.ENOENT, "no running warp server found: " + "; ".join(tried))
