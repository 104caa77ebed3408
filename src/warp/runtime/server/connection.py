"""Serving HTTP/1.1 connections: the I/O around the sans-I/O parser.

* `serve_connection(sock, ...)` serves one accepted connection until it closes, on the
  calling thread (blocking; for embedding and tests of the protocol alone);
* `ConnectionLoop` (module `loop`) is what workers run: one I/O thread multiplexes
  every connection, request threads run the app.

`Service` (what every connection of a worker shares) and the protocol constants are
used by both.
"""

from __future__ import annotations

import logging
import os
import select
import socket
import time

from typing import Optional, Protocol

from warp.runtime.server import wsgi
from warp.runtime.server.body import BodyBuffer, RequestReader
from warp.runtime.server.config import ServerConfig
from warp.runtime.server.http import HTTPError, Limits, Request, RequestTimeout

log = logging.getLogger("warp.runtime.server")

RECV_SIZE = 65536
# After an error response, read and discard what the client still sends for this
# long before closing, so that closing with unread data (which makes the kernel send
# a reset) does not destroy the error response before the client has read it.
LINGER_SECONDS = 2.0
LINGER_BYTES = 1 << 20
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class Tracker(Protocol):
    """Who is told about each request: the worker's scoreboard, or nobody."""

    def request_started(self, method: str, path: str, query: str = "", protocol: str = "",
                        deferred: bool = False) -> None: ...

    def show(self) -> None: ...

    def request_finished(self, status: int, bytes_sent: int) -> None: ...

    def should_close(self) -> bool: ...


class NullTracker:
    """A tracker that records nothing (tests, simple embedding)."""

    def request_started(self, method: str, path: str, query: str = "", protocol: str = "",
                        deferred: bool = False) -> None:
        pass

    def show(self) -> None:
        pass

    def request_finished(self, status: int, bytes_sent: int) -> None:
        pass

    def should_close(self) -> bool:
        return False


class Service:
    """What every connection of a worker shares: the app, settings and static map."""

    __slots__ = ("app", "config", "limits", "static", "multithread")

    def __init__(self, app: wsgi.WSGIApp, config: ServerConfig) -> None:
        self.app = app
        self.config = config
        self.limits = Limits(
            max_line=config.limit_request_line,
            max_fields=config.limit_request_fields,
            max_field_size=config.limit_request_field_size,
            max_body=config.limit_request_body,
        )
        self.multithread = config.threads > 1
        self.static = None
        if config.static:
            from warp.runtime.server.static import StaticFiles
            self.static = StaticFiles.from_config(config.static)


_service_cache: dict = {}


def _service(app, config) -> Service:
    """The Service for (app, config), built once: serve_connection runs per connection."""
    key = (id(app), id(config))
    service = _service_cache.get(key)
    if service is None or service.app is not app or service.config is not config:
        _service_cache.clear()
        service = _service_cache[key] = Service(app, config)
    return service


# Connection states
IDLE = 0       # waiting for the first byte of a request (keep-alive)
HEAD = 1       # part of a request head received
BODY = 2       # head complete, receiving the body
LINGER = 3     # error answered, write side shut, discarding input until EOF
CLOSED = 4


class Connection:
    """One client connection: its receive buffer, parser state and response writing."""

    __slots__ = ("sock", "fd", "peer", "service", "tracker", "reader",
                 "state", "deadline", "environ", "keep_alive", "requests", "registered")

    def __init__(self, sock: socket.socket, peer: wsgi.SockAddr, service: Service, tracker: Tracker) -> None:
        sock.setblocking(False)
        self.sock = sock
        self.fd = sock.fileno()
        self.peer = peer
        self.service = service
        self.tracker = tracker
        self.reader = RequestReader(service.limits)
        self.state = IDLE
        self.deadline = 0.0
        self.environ: wsgi.EnvironBuilder | None = None
        self.keep_alive = True
        self.requests = 0
        self.registered = False

    # -- input --

    def received(self, data: bytes) -> None:
        self.reader.feed(data)

    @property
    def buf(self) -> bytes:
        return self.reader.buf

    def next_request(self) -> Optional[tuple[Request, Optional[BodyBuffer]]]:
        """The next complete request as ``(request, body_or_None)``, or None when more
        bytes are needed (state becomes HEAD or BODY).  Raises HTTPError."""
        reader = self.reader
        ready = reader.next()
        if ready is None:
            if reader.in_body:
                self.state = BODY
                if reader.continue_due:
                    # The head is acceptable: tell the client to send the body.
                    reader.continue_due = False
                    self.send(CONTINUE)
            elif reader.buf:
                self.state = HEAD
        return ready

    def timeout_for_state(self) -> float:
        config = self.service.config
        if self.state == IDLE:
            return config.keepalive_timeout if self.requests else config.header_timeout
        return config.header_timeout

    # -- output --

    def send(self, data: bytes) -> None:
        """Send all of `data`, waiting at most write_timeout whenever the client's
        receive window is full.  Raises OSError when the client is gone or stalled."""
        sock = self.sock
        try:
            sent = sock.send(data)
        except BlockingIOError:
            sent = 0
        if sent == len(data):
            return
        view = memoryview(data)[sent:]
        while view:
            self._wait_writable()
            try:
                sent = sock.send(view)
            except BlockingIOError:
                continue
            view = view[sent:]

    def sendfile(self, fd: int, offset: int, count: int) -> int:
        """Send `count` bytes of file `fd` from `offset` with os.sendfile."""
        total = 0
        out = self.fd
        while total < count:
            try:
                sent = os.sendfile(out, fd, offset + total, min(count - total, 1 << 30))
            except BlockingIOError:
                self._wait_writable()
                continue
            if sent == 0:
                break  # the file shrank under us
            total += sent
        return total

    def _wait_writable(self) -> None:
        poller = select.poll()
        poller.register(self.fd, select.POLLOUT)
        timeout = self.service.config.write_timeout
        if not poller.poll(timeout * 1000 if timeout else None):
            raise TimeoutError("client stopped reading the response")

    def should_close(self) -> bool:
        return self.tracker.should_close()

    # -- requests --

    def handle(self, req: Request, body: Optional[BodyBuffer]) -> bool:
        """Answer one request; True when the connection may stay open."""
        service = self.service
        tracker = self.tracker
        self.requests += 1
        tracker.request_started(req.method, req.path, req.query, req.version)
        status, sent, keep_alive = 500, 0, False
        try:
            static = service.static
            if static is not None and req.path.startswith(static.prefixes):
                status, sent, keep_alive = static.serve(self, req)
                if status:
                    return keep_alive
            if self.environ is None:
                self.environ = wsgi.EnvironBuilder(
                    service.config, self.sock.getsockname(), self.peer, service.multithread)
            environ = self.environ.build(req, body)
            if environ is None:
                keep_alive = req.keep_alive and not self.should_close()
                status, sent = 404, self.send_error(404, "Not Found", "outside of the mount prefix",
                                                    keep_alive=keep_alive)
                return keep_alive
            response = wsgi.Response(self, req)
            try:
                response.run(service.app, environ)
            except OSError:
                raise
            except Exception as exc:
                status, sent = response.code, response.bytes_sent
                if response.head_sent:
                    log.error("error while sending the response to %s %s", req.method, req.path,
                              exc_info=not isinstance(exc, wsgi.AppError))
                    return False
                if isinstance(exc, wsgi.AppError):
                    log.error("%s (%s %s)", exc, req.method, req.path)
                else:
                    log.exception("error in the application for %s %s", req.method, req.path)
                status = 500
                sent = self.send_error(500, "Internal Server Error", "", keep_alive=False)
                return False
            status, sent, keep_alive = response.code, response.bytes_sent, response.keep_alive
            return keep_alive
        finally:
            tracker.request_finished(status, sent)

    def send_error(self, status: int, reason: str, detail: str, keep_alive: bool = False) -> int:
        body = f"{status} {reason}\n".encode() if not detail else \
            f"{status} {reason}: {detail}\n".encode()
        head = (f"HTTP/1.1 {status} {reason}\r\n{wsgi.date_header()}"
                f"Content-Type: text/plain; charset=utf-8\r\nContent-Length: {len(body)}\r\n"
                + ("" if keep_alive else "Connection: close\r\n") + "\r\n")
        try:
            self.send(head.encode("latin-1") + body)
        except OSError:
            return 0
        return len(body)

    def reject(self, error: HTTPError) -> None:
        """Answer an invalid request; the caller closes the connection afterwards."""
        tracker = self.tracker
        tracker.request_started("-", "-")
        sent = self.send_error(error.status, error.reason, error.detail)
        tracker.request_finished(error.status, sent)

    def close(self) -> None:
        self.state = CLOSED
        try:
            self.sock.close()
        except OSError:
            pass


def _linger_blocking(sock: socket.socket) -> None:
    """Half-close, then read and drop what the client still sends (bounded)."""
    try:
        sock.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + LINGER_SECONDS
        received = 0
        poller = select.poll()
        poller.register(sock.fileno(), select.POLLIN)
        while received < LINGER_BYTES:
            left = deadline - time.monotonic()
            if left <= 0 or not poller.poll(left * 1000):
                break
            data = sock.recv(RECV_SIZE)
            if not data:
                break
            received += len(data)
    except OSError:
        pass


def serve_connection(sock: socket.socket, client_addr: wsgi.SockAddr, app: wsgi.WSGIApp, config: ServerConfig,
                     tracker: Optional[Tracker]) -> None:
    """Serve every request on one accepted connection (keep-alive, pipelining) until it
    should close, then close `sock`.  Never raises for client errors (answers
    400/413/414/431 and closes)."""
    conn = Connection(sock, client_addr, _service(app, config), tracker or NullTracker())
    poller = select.poll()
    poller.register(conn.fd, select.POLLIN)
    try:
        started = time.monotonic()
        while True:
            try:
                ready = conn.next_request()
            except HTTPError as error:
                conn.reject(error)
                _linger_blocking(sock)
                return
            if ready is not None:
                if not conn.handle(*ready) or not config.keepalive_timeout:
                    return
                conn.state = IDLE
                started = time.monotonic()
                continue
            if conn.state == IDLE and conn.buf:
                conn.state = HEAD
            timeout = conn.timeout_for_state()
            if conn.state == HEAD:
                timeout = started + timeout - time.monotonic()
            if timeout <= 0 or not poller.poll(timeout * 1000):
                if conn.state != IDLE:
                    conn.reject(RequestTimeout("request not received in time"))
                return
            try:
                data = sock.recv(RECV_SIZE)
            except BlockingIOError:
                continue
            if not data:
                return
            if conn.state == IDLE:
                started = time.monotonic()
            conn.received(data)
    except OSError:
        return  # client went away or stopped reading
    finally:
        conn.close()


# --- the multiplexing driver -----------------------------------------------------------


def _defer_accept(listener, seconds: float) -> None:
    """Linux: let accept() return a TCP connection only once its first bytes arrived.

    A worker then accepts a connection only when it can serve it at once, so it never
    sits on a fresh connection while it is busy in the app and a sibling is idle (what
    a blocking worker gets for free), and clients that connect without sending cost no
    worker anything until `seconds` have passed."""
    option = getattr(socket, "TCP_DEFER_ACCEPT", None)
    if option is None or listener.family not in (socket.AF_INET, socket.AF_INET6):
        return
    try:
        listener.setsockopt(socket.IPPROTO_TCP, option, max(1, int(seconds)))
    except OSError:
        pass


