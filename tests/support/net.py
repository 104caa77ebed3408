"""Ports, polling and plain HTTP on 127.0.0.1."""

from __future__ import annotations

import http.client
import socket
import time
from typing import Callable, TypeVar

T = TypeVar("T")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listened on a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate: Callable[[], T], timeout: float = 15.0, interval: float = 0.05,
             what: str = "condition") -> T:
    """Poll ``predicate`` until it returns something truthy and return that; fail
    after ``timeout`` seconds (a bound on the wait, never a figure the test checks)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


def fetch(port: int, path: str, timeout: float = 10, host: str = "127.0.0.1") -> tuple[int, bytes]:
    """(status, body) of one GET on a fresh connection."""
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def connect_refused(host: str, port: int) -> bool:
    """True when nothing listens on (host, port) any more."""
    try:
        socket.create_connection((host, port), timeout=2).close()
        return False
    except ConnectionRefusedError:
        return True


def read_until_close(sock: socket.socket, limit: float = 15.0) -> bytes:
    """Everything the peer sends until it closes or resets the connection (each recv
    bounded by ``limit`` seconds)."""
    sock.settimeout(limit)
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk
