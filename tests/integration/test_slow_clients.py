"""Slow and idle clients: timeouts answer them, and they never stop the service.

The end-to-end case runs the real server (`python -m warp.runtime.server`, 2 workers) with
hundreds of idle and slowloris connections open; the timeout rules are checked on both
connection drivers in-process."""

from __future__ import annotations

import socket
import time

import pytest

from support.harness import SERVERS, Reader, connect, request
from support import copy_apps
from support.server import Server
from support.net import read_until_close


def hello(environ, start_response):
    body = environ["wsgi.input"].read()
    start_response("200 OK", [("Content-Length", str(len(body) + 2))])
    return [b"ok" + body]


@pytest.fixture(scope="module", params=sorted(SERVERS))
def timed_server(request):
    with SERVERS[request.param](hello, header_timeout=0.5, keepalive_timeout=0.5) as server:
        yield server




def test_partial_head_gets_408_and_close(timed_server):
    with connect(timed_server.port) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: h\r\nX-Slow: ")
        data = read_until_close(sock)
    assert data.startswith(b"HTTP/1.1 408 ")
    assert b"Connection: close" in data


def test_slowloris_dribble_cannot_extend_the_head_deadline(timed_server):
    """One byte at a time keeps the connection busy but the head deadline is counted
    from its first byte, not from the last one received."""
    head = b"GET / HTTP/1.1\r\nHost: h\r\n" + b"X-Pad: " + b"a" * 200 + b"\r\n\r\n"
    with connect(timed_server.port) as sock:
        sent = 0
        answer = b""
        try:
            while sent < len(head):
                sock.sendall(head[sent:sent + 1])
                sent += 1
                time.sleep(0.02)  # pacing the attacker, not waiting for the server
                sock.setblocking(False)
                try:
                    answer += sock.recv(65536)
                except BlockingIOError:
                    pass
                finally:
                    sock.setblocking(True)
                if answer:
                    break
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer += read_until_close(sock)
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert sent < len(head)


def test_stalled_body_gets_408(timed_server):
    with connect(timed_server.port) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc")
        assert read_until_close(sock).startswith(b"HTTP/1.1 408 ")


def test_idle_keep_alive_connection_is_closed_after_the_timeout(timed_server):
    with connect(timed_server.port) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
        reader = Reader(sock)
        assert reader.response().body == b"ok"
        sock.settimeout(15)
        assert reader.at_eof()  # the server closed it, silently (no 408 for idle)


def test_connection_that_never_sends_is_closed(timed_server):
    with connect(timed_server.port) as sock:
        assert read_until_close(sock) == b""


def test_body_sent_slowly_within_the_timeout_is_accepted(timed_server):
    with connect(timed_server.port) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 6\r\n\r\n")
        for piece in (b"ab", b"cd", b"ef"):
            time.sleep(0.1)  # each pause is shorter than the 0.5 s body timeout
            sock.sendall(piece)
        assert Reader(sock).response().body == b"okabcdef"


# --- end to end: the real server under 200+ idle and slow connections --------------------

def test_200_idle_and_slow_connections_do_not_stop_two_workers(tmp_path):
    app_dir = copy_apps(tmp_path / "app")
    with Server(app_dir, "hello:application", "--workers", "2", "--header-timeout", "60",
                "--keepalive-timeout", "60") as server:
        server.wait_serving(workers=2)
        hogs = []
        try:
            for i in range(250):
                sock = socket.create_connection((server.host, server.port), timeout=10)
                if i % 3 == 0:
                    pass  # connected, never sends a byte
                elif i % 3 == 1:
                    sock.sendall(b"GET / HTTP/1.1\r\nHost: h\r\nX-Slow: ")  # slowloris
                else:  # keep-alive connection left idle after one answered request
                    sock.sendall(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
                    assert Reader(sock).response().status == 200
                hogs.append(sock)
            # every hog is still open (the server did not shed them to cope)...
            # ...and fresh clients are answered, on new and on reused connections
            for _ in range(20):
                assert request(server.port, b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").status == 200
            with connect(server.port) as sock:
                reader = Reader(sock)
                for _ in range(20):
                    sock.sendall(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
                    assert reader.response().status == 200
            for sock in hogs:
                sock.setblocking(False)
                try:
                    assert sock.recv(1) != b""  # b"" would mean the server closed it
                except BlockingIOError:
                    pass
        finally:
            for sock in hogs:
                sock.close()
