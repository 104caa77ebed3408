#!/usr/bin/env python3
"""The ceiling for a Python HTTP server on this machine: a bare standard-library epoll loop.

    python benchmarks/epoll_ceiling.py PORT [WORKERS]

Forks WORKERS processes (default 2) sharing one listening socket on 127.0.0.1:PORT; each
runs one level-triggered epoll loop that answers every request it finds in a read with a canned
"Hello, World!" response.  It does no parsing beyond finding the end of the head and the
`Connection: close` header, calls no application and logs nothing, so no Python server that
does real work can beat it; benchmarks/server_speed.py prints warp as a fraction of it.
Stops on TERM or INT.
"""

from __future__ import annotations

import os
import select
import signal
import socket
import sys

BODY = b"Hello, World!"
KEEP = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % len(BODY)) + BODY
CLOSE = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
         % len(BODY)) + BODY


def serve(listener: socket.socket) -> None:
    ep = select.epoll()
    ep.register(listener.fileno(), select.EPOLLIN)
    conns: dict = {}
    pending: dict = {}
    lfd = listener.fileno()
    while True:
        for fd, _ in ep.poll():
            if fd == lfd:
                try:
                    while True:
                        conn, _ = listener.accept()
                        conn.setblocking(False)
                        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                        conns[conn.fileno()] = conn
                        pending[conn.fileno()] = b""
                        ep.register(conn.fileno(), select.EPOLLIN)
                except BlockingIOError:
                    continue
            conn = conns[fd]
            try:
                data = conn.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b""
            if not data:
                ep.unregister(fd)
                del conns[fd], pending[fd]
                conn.close()
                continue
            buf = pending[fd] + data
            out = []
            close = False
            while True:
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    break
                head, buf = buf[:end], buf[end + 4:]
                if b"onnection: close" in head or b"onnection: Close" in head:
                    out.append(CLOSE)
                    close = True
                    break
                out.append(KEEP)
            pending[fd] = buf
            if out:
                try:
                    conn.sendall(b"".join(out))  # a canned answer fits the socket buffer
                except OSError:
                    close = True
            if close:
                ep.unregister(fd)
                del conns[fd], pending[fd]
                conn.close()


def main(argv: list) -> int:
    port = int(argv[0])
    workers = int(argv[1]) if len(argv) > 1 else 2
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(1024)
    listener.setblocking(False)
    pids = []
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            serve(listener)
            os._exit(0)
        pids.append(pid)

    def stop(*_: object) -> None:
        for pid in pids:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for pid in pids:
            os.waitpid(pid, 0)
        sys.exit(0)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while True:
        signal.pause()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
