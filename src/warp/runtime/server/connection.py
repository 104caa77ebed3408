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
import time

from warp.runtime.server import wsgi
from warp.runtime.server.body import RequestReader
from warp.runtime.server.http import HTTPError, Limits, RequestTimeout

log = logging.getLogger("warp.runtime.server")

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
    """What every connection of a worker shares: the app, settings and static map."""

    __slots__ = ("app", "config", "limits", "static", "multithread")

    def __init__(self, app, config) -> None:
        self.app = app
        self.config = config
        self.limits = Limits(
            max_line=config.limit_request_line,
            max_fields=config.limit_request_fields,
            max_field_size=config.limit_request_field_size,
            max_body=config.limit_request_body,
        )
        self.multithread = getattr(config, "threads", 1) > 1
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

    def __init__(self, sock: socket.socket, peer, service: Service, tracker) -> None:
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

    def next_request(self):
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
        return self.tracker.should_close()

    # -- requests --

    def handle(self, req, body) -> bool:
        """Answer one request; True when the connection may stay open."""
        service = self.service
        tracker = self.tracker
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


def serve_connection(sock, client_addr, app, config, tracker) -> None:
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

ACCEPT_BATCH = 1           # one accept per wake-up: siblings (also woken) take the rest, so a
                           # worker busy in the app never sits on connections others could serve
PIPELINE_BATCH = 16        # requests served from one connection before looking at others
SWEEP_INTERVAL = 0.5       # how often deadlines are checked (seconds)
_ACCEPT_RESOURCE_ERRORS = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)


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


class ConnectionLoop:
    """Serves all connections of one worker from one thread.

    The worker owns the listening sockets and its own loop::

        loop = ConnectionLoop(listeners, app, config, tracker)  # or tracker_for=make_tracker
        while running:
            loop.run_once(1.0)      # heartbeat, signals, etc. between rounds
        loop.drain(graceful_timeout)

    Complete requests are answered synchronously (the app runs in this thread, so the
    tracker's request_started/request_finished bracket it exactly as with
    `serve_connection`).  Incomplete heads and bodies are buffered while other
    connections are served; `header_timeout` and `keepalive_timeout` are enforced.
    `tracker_for(client_addr)`, when given, makes one tracker per connection (e.g. to put
    the client address in the access log); otherwise every connection shares `tracker`.
    When `tracker.should_close()` turns true the loop stops accepting and closes idle
    connections by itself; requests in progress are finished with `Connection: close`.
    """

    def __init__(self, listeners, app, config, tracker=None, tracker_for=None) -> None:
        if tracker is None:
            # one tracker is still consulted for should_close() between rounds
            tracker = tracker_for("") if tracker_for is not None else NullTracker()
        self.service = Service(app, config)
        self.tracker = tracker
        self.tracker_for = tracker_for
        self.config = config
        self.selector = selectors.DefaultSelector()
        self.listeners = list(listeners)
        self.conns: dict = {}
        self.accepting = False
        self.paused = False
        self._pending: list = []
        self._next_sweep = 0.0
        for listener in self.listeners:
            listener.setblocking(False)
            _defer_accept(listener, config.header_timeout)
        self._listen(True)

    # -- public --

    @property
    def busy(self) -> int:
        """Connections in the middle of a request (head or body partly received)."""
        return sum(1 for c in self.conns.values() if c.state in (HEAD, BODY))

    def run_once(self, timeout: float) -> None:
        """Wait up to `timeout` seconds for activity and handle all of it."""
        if self._pending:
            timeout = 0
        for key, _ in self.selector.select(timeout):
            conn = key.data
            if conn is None:
                self._accept(key.fileobj)
            elif conn.state == LINGER:
                self._discard(conn)
            else:
                self._read(conn)
        if self._pending:
            pending, self._pending = self._pending, []
            for conn in pending:
                if conn.state != CLOSED:
                    self._serve(conn)
        now = time.monotonic()
        if now >= self._next_sweep:
            self._next_sweep = now + SWEEP_INTERVAL
            self._sweep(now)
        if self.accepting and self.tracker.should_close():
            self.stop_accepting()
            self.close_idle()

    def stop_accepting(self) -> None:
        """Stop taking new connections (the listening sockets stay open)."""
        self._listen(False)
        self.accepting = False

    def close_idle(self) -> None:
        """Close keep-alive connections waiting for a next request.  Connections that
        have not sent their first request yet are left to it (or to header_timeout):
        their client has no reason to expect a close and would not retry."""
        for conn in list(self.conns.values()):
            if conn.state == IDLE and conn.requests and not conn.buf:
                self._close(conn)

    def drain(self, timeout: float) -> None:
        """Graceful stop: no new connections, finish requests in progress for at most
        `timeout` seconds, then close everything."""
        self.stop_accepting()
        self.close_idle()
        deadline = time.monotonic() + timeout
        while any(c.state != IDLE or not c.requests for c in self.conns.values()):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self.run_once(min(left, SWEEP_INTERVAL))
            self.close_idle()
        self.close()

    def close(self) -> None:
        """Close every connection and the selector (not the listening sockets)."""
        for conn in list(self.conns.values()):
            self._close(conn)
        self.selector.close()

    # -- internals --

    def _listen(self, on: bool) -> None:
        for listener in self.listeners:
            try:
                if on:
                    self.selector.register(listener, selectors.EVENT_READ, None)
                else:
                    self.selector.unregister(listener)
            except (KeyError, ValueError):
                pass
        self.accepting = on
        self.paused = False

    def _accept(self, listener) -> None:
        limit = self.config.worker_connections
        service = self.service
        for _ in range(ACCEPT_BATCH):
            if len(self.conns) >= limit:
                # Full: let sibling workers take new connections until one closes here.
                self._listen(False)
                self.accepting = True
                self.paused = True
                return
            try:
                sock, addr = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:
                continue
            except OSError as exc:
                if exc.errno in _ACCEPT_RESOURCE_ERRORS:
                    log.error("cannot accept connections: %s", exc)
                    return
                raise
            if sock.family != socket.AF_UNIX:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = Connection(sock, addr, service,
                              self.tracker_for(addr) if self.tracker_for is not None else self.tracker)
            conn.deadline = time.monotonic() + self.config.header_timeout
            self.conns[conn.fd] = conn
            # The request has often arrived with the connection: read it now, and only
            # register with the selector if the connection outlives this first read.
            self._read(conn)

    def _register(self, conn: Connection) -> None:
        if not conn.registered and conn.state != CLOSED:
            self.selector.register(conn.sock, selectors.EVENT_READ, conn)
            conn.registered = True

    def _read(self, conn: Connection) -> None:
        try:
            data = conn.sock.recv(RECV_SIZE)
        except (BlockingIOError, InterruptedError):
            self._register(conn)
            return
        except OSError:
            self._close(conn)
            return
        if not data:
            self._close(conn)
            return
        conn.received(data)
        self._serve(conn)

    def _serve(self, conn: Connection) -> None:
        before = conn.state
        served = 0
        keepalive = self.config.keepalive_timeout
        try:
            while True:
                try:
                    ready = conn.next_request()
                except HTTPError as error:
                    conn.reject(error)
                    self._linger(conn)
                    return
                if ready is None:
                    break
                if not conn.handle(*ready) or not keepalive:
                    self._close(conn)
                    return
                conn.state = IDLE
                served += 1
                if served >= PIPELINE_BATCH and conn.buf:
                    self._pending.append(conn)
                    break
        except OSError:
            self._close(conn)
            return
        except Exception:
            # A bug in the server itself must cost one connection, not the worker.
            log.exception("internal error while serving a connection")
            self._close(conn)
            return
        state = conn.state
        if state == IDLE:
            conn.deadline = time.monotonic() + conn.timeout_for_state()
        elif state == BODY or before != HEAD or served:
            # a head gets header_timeout from its first byte; a body from its last one
            conn.deadline = time.monotonic() + self.config.header_timeout
        self._register(conn)

    def _sweep(self, now: float) -> None:
        for conn in list(self.conns.values()):
            if conn.deadline > now:
                continue
            if conn.state in (HEAD, BODY):
                try:
                    conn.reject(RequestTimeout("request not received in time"))
                except OSError:
                    pass
                self._linger(conn)
            else:
                self._close(conn)

    def _linger(self, conn: Connection) -> None:
        try:
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError:
            self._close(conn)
            return
        conn.state = LINGER
        conn.reader.buf = b""
        conn.requests = 0  # reused as a count of discarded bytes
        conn.deadline = time.monotonic() + LINGER_SECONDS
        self._register(conn)

    def _discard(self, conn: Connection) -> None:
        try:
            data = conn.sock.recv(RECV_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        conn.requests += len(data)
        if not data or conn.requests > LINGER_BYTES:
            self._close(conn)

    def _close(self, conn: Connection) -> None:
        if conn.state == CLOSED:
            return
        if conn.registered:
            try:
                self.selector.unregister(conn.sock)
            except (KeyError, ValueError):
                pass
            conn.registered = False
        self.conns.pop(conn.fd, None)
        conn.close()
        if self.paused and len(self.conns) < self.config.worker_connections:
            self._listen(True)
