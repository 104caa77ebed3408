"""Serving HTTP/1.1 connections: the I/O around the sans-I/O parser.

Two drivers share one `Connection` state machine:

* `serve_connection(sock, ...)` serves one accepted connection until it closes
  (blocking; for a worker that runs one connection per thread);
* `ConnectionLoop` multiplexes every connection of a worker with `selectors`: it waits
  for whole requests (head and body) without involving the app, then calls the app
  synchronously.  Idle keep-alive connections and slow clients cost a file descriptor
  and a buffer, never a worker, which is what lets two workers keep answering while
  hundreds of idle or slowloris connections are open.

Responses are written with a bounded wait (`write_timeout`) per stalled send.
"""

from __future__ import annotations

import errno
import logging
import os
import select
import selectors
import socket
import sys
import time

from . import wsgi
from .body import ChunkedReceiver, FixedReceiver
from .http import HeadReader, HTTPError, Limits, RequestTimeout

log = logging.getLogger("warp.server")

RECV_SIZE = 65536
# After an error response, read and discard what the client still sends for this
# long before closing, so that closing with unread data (which makes the kernel send
# a reset) does not destroy the error response before the client has read it.
LINGER_SECONDS = 2.0
LINGER_BYTES = 1 << 20
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class NullTracker:
    """A tracker that records nothing (tests, simple embedding)."""

    def request_started(self, method: str, path: str) -> None:
        pass

    def request_finished(self, status: int, bytes_sent: int) -> None:
        pass

    def should_close(self) -> bool:
        return False


class Service:
    """What every connection of a worker shares: the app, settings, tracker, static map."""

    __slots__ = ("app", "config", "tracker", "limits", "static", "multithread")

    def __init__(self, app, config, tracker) -> None:
        self.app = app
        self.config = config
        self.tracker = tracker or NullTracker()
        self.limits = Limits(
            max_line=config.limit_request_line,
            max_fields=config.limit_request_fields,
            max_field_size=config.limit_request_field_size,
            max_body=config.limit_request_body,
        )
        self.multithread = getattr(config, "threads", 1) > 1
        self.static = None
        if config.static:
            from .static import StaticFiles
            self.static = StaticFiles.from_config(config.static)


_service_cache: dict = {}


def _service(app, config, tracker) -> Service:
    key = (id(app), id(config), id(tracker))
    service = _service_cache.get(key)
    if service is None or service.app is not app or service.config is not config \
            or service.tracker is not tracker:
        _service_cache.clear()
        service = _service_cache[key] = Service(app, config, tracker)
    return service


# Connection states
IDLE = 0       # waiting for the first byte of a request (keep-alive)
HEAD = 1       # part of a request head received
BODY = 2       # head complete, receiving the body
CLOSED = 3


class Connection:
    """One client connection: its receive buffer, parser state and response writing."""

    __slots__ = ("sock", "fd", "peer", "service", "buf", "reader", "request", "receiver",
                 "state", "deadline", "environ", "keep_alive", "requests")

    def __init__(self, sock: socket.socket, peer, service: Service) -> None:
        sock.setblocking(False)
        self.sock = sock
        self.fd = sock.fileno()
        self.peer = peer
        self.service = service
        self.buf = b""
        self.reader = HeadReader(service.limits)
        self.request = None
        self.receiver = None
        self.state = IDLE
        self.deadline = 0.0
        self.environ = None
        self.keep_alive = True
        self.requests = 0

    # -- input --

    def received(self, data: bytes) -> None:
        self.buf = self.buf + data if self.buf else data

    def next_request(self):
        """The next complete request as ``(request, body_or_None)``, or None when more
        bytes are needed.  Raises HTTPError for an invalid request."""
        if self.request is None:
            if not self.buf:
                return None
            parsed = self.reader.parse(self.buf)
            if parsed is None:
                self.state = HEAD
                return None
            req, used = parsed
            self.buf = self.buf[used:]
            if not req.has_body:
                return req, None
            self.request = req
            self.receiver = ChunkedReceiver(self.service.limits) if req.chunked \
                else FixedReceiver(req.content_length)
            self.state = BODY
            if req.expect_continue:
                # The head is acceptable: tell the client to send the body.
                self.send(CONTINUE)
        used = self.receiver.feed(self.buf)
        if used:
            self.buf = self.buf[used:]
        if not self.receiver.done:
            return None
        req, body = self.request, self.receiver.body
        self.request = self.receiver = None
        return req, body

    def timeout_for_state(self) -> float:
        config = self.service.config
        if self.state == IDLE:
            return config.keepalive_timeout if self.requests else config.header_timeout
        return config.header_timeout

    # -- output --

    def send(self, data) -> None:
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
        return self.service.tracker.should_close()

    # -- requests --

    def handle(self, req, body) -> bool:
        """Answer one request; True when the connection may stay open."""
        service = self.service
        tracker = service.tracker
        self.requests += 1
        tracker.request_started(req.method, req.path)
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
                status, sent = 404, self.send_error(404, "Not Found", "outside of the mount prefix",
                                                    keep_alive=req.keep_alive)
                keep_alive = req.keep_alive
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
        tracker = self.service.tracker
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


def serve_connection(sock, client_addr, app, config, tracker) -> None:
    """Serve every request on one accepted connection (keep-alive, pipelining) until it
    should close, then close `sock`.  Never raises for client errors (answers
    400/413/414/431 and closes)."""
    conn = Connection(sock, client_addr, _service(app, config, tracker))
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
