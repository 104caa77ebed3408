"""Listening sockets: parse bind addresses, bind them in the master before any fork.

Address forms: ``HOST:PORT`` (IPv4 literal or host name), ``[IPV6]:PORT``, ``:PORT`` or
``PORT`` (all IPv4 interfaces), ``unix:/path`` (UNIX socket).

In the default mode one listening socket is shared by every worker (they compete on
``accept()``) and stays open in the master, so connections queue in the kernel while
workers are being replaced or reloaded. In ``reuse_port`` mode the master binds with
SO_REUSEPORT without listening (that reserves the address and reports errors before
any fork, and a bound-but-not-listening socket takes no connections) and each worker
opens its own listening socket on the same address; the kernel spreads connections
evenly. The price: connections still queued on a worker's socket when it exits are
reset (unless the kernel's net.ipv4.tcp_migrate_req is on), so reloads in that mode
can drop a few connections under load. UNIX sockets are always shared.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
import stat
from dataclasses import dataclass
from typing import Iterable, Optional, Tuple, Union


class BindError(OSError):
    """An address cannot be parsed or bound; the message says which and why."""


@dataclass(frozen=True)
class Address:
    family: int
    # (host, port) for TCP, a path for UNIX sockets
    sockaddr: Union[str, Tuple[str, int]]
    text: str

    @property
    def is_unix(self) -> bool:
        return self.family == socket.AF_UNIX

    @property
    def path(self) -> str:
        """The socket file of a UNIX address."""
        if not isinstance(self.sockaddr, str):
            raise ValueError(f"{self.text} is not a UNIX socket address")
        return self.sockaddr


def parse_address(text: str) -> Address:
    raw = text.strip()
    if raw.startswith("unix:"):
        path = raw[len("unix:"):]
        if path.startswith("//"):
            path = path[1:]
        if not path:
            raise BindError(f"bind address {text!r}: unix: needs a path, e.g. unix:/run/app.sock")
        return Address(socket.AF_UNIX, path, f"unix:{path}")
    if raw.startswith("/") or raw.startswith("./"):
        return Address(socket.AF_UNIX, raw, f"unix:{raw}")
    if raw.startswith("["):
        host, sep, rest = raw[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise BindError(f"bind address {text!r}: expected [IPV6]:PORT, e.g. [::]:8080")
        port_text = rest[1:] if rest else ""
    elif raw.count(":") > 1:
        raise BindError(f"bind address {text!r}: put IPv6 addresses in brackets, e.g. [::1]:8080")
    elif ":" in raw:
        host, _, port_text = raw.partition(":")
    elif raw.isdigit():
        host, port_text = "", raw
    else:
        host, port_text = raw, ""
    host = host or "0.0.0.0"
    if not port_text:
        port_text = os.environ.get("PORT") or "8080"
    try:
        port = int(port_text)
        if not 0 <= port <= 65535:
            raise ValueError
    except ValueError:
        raise BindError(f"bind address {text!r}: port must be a number 0-65535") from None
    try:
        family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    except ValueError:
        # A host name: bind to what it resolves to first (e.g. localhost -> 127.0.0.1).
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        except socket.gaierror as exc:
            raise BindError(f"bind address {text!r}: cannot resolve {host!r}: {exc.strerror}") from None
        family, _, _, _, sockaddr = infos[0]
        host = str(sockaddr[0])
    shown = f"[{host}]:{port}" if family == socket.AF_INET6 else f"{host}:{port}"
    return Address(family, (host, port), shown)


def _remove_stale_unix_socket(path: str) -> None:
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise BindError(f"bind address unix:{path}: a file that is not a socket is in the way; remove it")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except OSError:
        os.unlink(path)  # nobody answers: left over from a server that died
        return
    finally:
        probe.close()
    raise BindError(f"bind address unix:{path}: another server is listening there; stop it or pick another path")


def _new_socket(address: Address, reuse_port: bool) -> socket.socket:
    sock = socket.socket(address.family, socket.SOCK_STREAM)
    if not address.is_unix:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if address.family == socket.AF_INET6 and address.sockaddr[0] in ("::", ""):
            # [::] means every address, IPv4 included, whatever the system default is.
            try:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            except OSError:
                pass
    return sock


class Listener:
    """One bound address. ``sock`` is what workers accept on (or, in reuse-port mode,
    what reserves the address in the master)."""

    def __init__(self, address: Address, backlog: int, reuse_port: bool = False,
                 sock: Optional[socket.socket] = None) -> None:
        self.address = address
        self.backlog = backlog
        self.reuse_port = reuse_port and not address.is_unix
        self._unix_inode: Optional[Tuple[int, int]] = None
        if sock is not None:
            self.sock = sock
            return
        if address.is_unix:
            _remove_stale_unix_socket(address.path)
        self.sock = _new_socket(address, self.reuse_port)
        try:
            self.sock.bind(address.sockaddr)
            if not self.reuse_port:
                self.sock.listen(backlog)
        except OSError as exc:
            self.sock.close()
            reason = exc.strerror or str(exc)
            hint = ""
            if exc.errno == errno.EADDRINUSE:
                hint = "; another process uses it: stop it or choose another --bind"
            elif exc.errno == errno.EACCES:
                hint = "; ports below 1024 need privileges: use a higher port"
            raise BindError(f"cannot bind {address.text}: {reason}{hint}") from None
        if address.is_unix:
            st = os.stat(address.path)
            self._unix_inode = (st.st_dev, st.st_ino)

    @property
    def bound_text(self) -> str:
        """The address actually bound (resolves port 0)."""
        if self.address.is_unix:
            return self.address.text
        host, port = self.sock.getsockname()[:2]
        return f"[{host}]:{port}" if self.address.family == socket.AF_INET6 else f"{host}:{port}"

    @property
    def url(self) -> str:
        return self.bound_text if self.address.is_unix else f"http://{self.bound_text}"

    def worker_socket(self) -> socket.socket:
        """The socket a worker accepts on; call in the worker after fork."""
        if not self.reuse_port:
            return self.sock
        own = _new_socket(self.address, reuse_port=True)
        own.bind(self.sock.getsockname()[:2])
        own.listen(self.backlog)
        self.sock.close()
        return own

    def shutdown(self) -> None:
        """Stop the shared listening socket for every process holding it (a full stop;
        never on reload). Workers see EINVAL from accept() and stop accepting."""
        if self.reuse_port:
            return  # the master's socket is not listening; each worker closes its own
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def close(self, unlink: bool = True) -> None:
        """Close; in the master also remove our UNIX socket file (only if it is still
        the one we created)."""
        try:
            self.sock.close()
        except OSError:
            pass
        if unlink and self._unix_inode is not None:
            try:
                st = os.stat(self.address.path)
                if (st.st_dev, st.st_ino) == self._unix_inode:
                    os.unlink(self.address.path)
            except OSError:
                pass


def bind_all(addresses: Iterable[str], backlog: int, reuse_port: bool = False) -> list[Listener]:
    """Bind every address or none: on a failure the ones already bound are closed."""
    listeners: list[Listener] = []
    try:
        for text in addresses:
            listeners.append(Listener(parse_address(text), backlog, reuse_port))
    except BaseException:
        for listener in listeners:
            listener.close()
        raise
    return listeners
