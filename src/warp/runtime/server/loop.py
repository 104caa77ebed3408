"""A worker's engine: one I/O thread owns every connection, request threads run the app.

The I/O thread (the worker's main thread) accepts, reads, parses, enforces every
deadline and writes responses, for all of the worker's connections at once, with
``selectors``.  The application runs on ``threads`` request threads that never touch
connection I/O themselves except for one non-blocking send of a response that fits
in the socket buffer.  Between them are two bounded buffers per connection:

* ``wsgi.input`` (`InputStream`): decoded body bytes the app has not read yet, at most
  INPUT_BUFFER before the I/O thread stops reading that socket (TCP pushes back on the
  client).  The app is called once the head and either the whole body or STREAM_START
  bytes of it are in, so a client dripping its body never holds a request thread, and
  a large upload streams (``Expect: 100-continue`` calls the app at once and sends the
  interim response on its first read).  ``wsgi.input`` is not seekable: nothing is
  spooled to disk for the app.
* the response queue: what the app produced and the client has not taken yet, in
  memory up to ``response_buffer`` per connection and ``response_buffer_total`` per
  worker, then in a temporary file (sent with ``sendfile``) up to ``response_spool``
  and ``response_spool_total``; only past those does the app's ``write`` wait, and the
  write deadlines bound that wait.  ``wsgi.file_wrapper`` files and static files are
  queued as a duplicated descriptor and sent with ``sendfile`` by the I/O thread.

Inline first: a request whose body is all in, ready while no request waits for a
thread and a thread of this worker is free, is run on the I/O thread itself once that
turn's reading is done (`_run_inline`), in the free thread's place.  Most requests are
quick, and passing one to another thread and back costs more than the request (two
thread switches, each waiting for the GIL).  A *watcher* thread looks every WATCH
seconds; once an inline request has run INLINE_LIMIT it takes over the I/O thread's
work (`_relieve`: accepting, reading, deadlines, the heartbeat through `on_turn`) until
that request returns, and requests that arrive meanwhile go to the request threads as
usual.  So a slow request costs the other connections of its worker at most
INLINE_LIMIT (plus one WATCH), as with threads it costs them HANDOFF_AFTER.

Head-of-line: a request that is ready while every request thread of this worker is
busy and a sibling worker has a free one is handed over, connection and all (its file
descriptor with SCM_RIGHTS, and the request's bytes), through a datagram socket pair
every worker shares (`Handoff`); a worker with a free thread takes it.  Requests
queued here are handed over the same way as soon as a sibling frees up.

Deadlines (checked every SWEEP seconds): head (header_timeout from the first byte);
body (header_timeout plus one second per body_min_rate bytes received, at most
body_max_time, and no pause longer than header_timeout); response write (while the
client does not keep up: write_timeout plus one second per write_min_rate bytes, at
most write_max_time, and no stall longer than write_timeout); the request itself
(``timeout``: its client gets 504, the stack of the stuck thread is logged and the
worker retires, handing its other connections to its siblings); the queue
(``queue_timeout``: 503 without calling the app).
"""

from __future__ import annotations

import array
import collections
import errno
import logging
import os
import select
import selectors
import socket
import struct
import sys
import tempfile
import threading
import time
import traceback
from typing import Any, Optional

from warp.runtime.server import wsgi
from warp.runtime.server.body import ChunkedReceiver, CountingSink, FixedReceiver
from warp.runtime.server.connection import (CONTINUE, LINGER_BYTES, LINGER_SECONDS, RECV_SIZE,
                                            NullTracker, Service, _defer_accept)
from warp.runtime.server.http import (HeadReader, HTTPError, RequestTimeout)
from warp.runtime.server.metrics import NullRecorder

log = logging.getLogger("warp.runtime.server")

try:
    import fcntl
    import termios
    _TIOCOUTQ: Optional[int] = termios.TIOCOUTQ
except (ImportError, AttributeError):  # not Linux: count what the kernel took
    _TIOCOUTQ = None

# The app is called once this many body bytes are in (or the whole body, if smaller).
STREAM_START = 64 * 1024
# Body bytes read ahead of the app, per connection, before reading that socket pauses.
INPUT_BUFFER = 256 * 1024
# Bytes of pipelined requests read while one is being answered.
PIPELINE_MAX = 64 * 1024
# Response bytes are queued in pieces of at most this size (memory or spill file each).
PIECE = 1 << 20
SWEEP = 0.25
# How often requests queued here are offered to an idle sibling again.
REOFFER = 0.005
# A request goes to a sibling only once every thread here has been busy this long
# with its current request: moving a connection costs more than waiting for a request
# that is about to finish, and under full load most are.
HANDOFF_AFTER = 0.01
# An inline request running this long gets the watcher to take over the I/O thread's
# work; the watcher looks every WATCH seconds while requests run inline.
INLINE_LIMIT = HANDOFF_AFTER
WATCH = 0.005
# The watcher sleeps (no wake-ups at all) once nothing ran inline for this long.
WATCH_IDLE = 1.0
ACCEPT_BATCH = 8
_ACCEPT_RESOURCE_ERRORS = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
CAP_LOG_INTERVAL = 10.0

# Connection states
IDLE, HEAD, BODY, APP, LINGER, CLOSED = range(6)

# Defaults of the settings this engine adds (the registry declares them; these keep
# the engine usable with a bare config object, e.g. in tests of one piece).
DEFAULTS = {
    "body_min_rate": 500, "body_max_time": 3600.0,
    "write_min_rate": 500, "write_max_time": 3600.0,
    "response_buffer": 1 << 20, "response_buffer_total": 64 << 20,
    "response_spool": 1 << 30, "response_spool_total": 4 << 30,
    "queue_timeout": 0.0,
}


def setting(config: Any, name: str) -> Any:
    return getattr(config, name, DEFAULTS.get(name))


class Aborted(ConnectionAbortedError):
    """The connection was answered or closed by the server (deadline, client gone)."""


# --- wsgi.input ---------------------------------------------------------------------------

class InputStream:
    """``wsgi.input``: the request body as it arrives; reads block until the bytes asked
    for are in, the body ended, or the connection failed (then OSError)."""

    def __init__(self, loop: "ConnectionLoop", conn: "Conn") -> None:
        self._loop = loop
        self._conn = conn
        self._cond = loop.cond
        self._chunks: collections.deque = collections.deque()
        self.buffered = 0
        self.size = 0          # decoded bytes received so far
        self.done = False
        self.error: Optional[BaseException] = None
        self.want = 0          # bytes a blocked read waits for
        self.continue_due = False

    # -- I/O thread (takes the lock) --

    def write(self, data: Any) -> None:
        if not data:
            return
        with self._cond:
            self._chunks.append(bytes(data))
            self.buffered += len(data)
            self.size += len(data)
            self._cond.notify_all()

    def finish(self) -> None:
        with self._cond:
            self.done = True
            self._cond.notify_all()

    def fail(self, error: Exception) -> None:
        with self._cond:
            if not self.done:
                self.error = error
            self._cond.notify_all()

    @property
    def full(self) -> bool:
        return self.buffered >= max(INPUT_BUFFER, self.want)

    # -- app thread --

    def _wait(self, ready) -> None:
        """Caller holds the lock; wait until ready() or the body ended or failed."""
        if self.continue_due:
            self.continue_due = False
            self._loop.queue_locked(self._conn, CONTINUE)
            self._loop.events.append(("write", self._conn))
            self._loop._poke()
        while not ready() and not self.done and self.error is None:
            if self._loop.paused_for_input(self._conn):
                self._loop.wake(self._conn, "resume")
            self._cond.wait(1.0)
        if self.error is not None and not ready():
            raise self.error

    def _take(self, size: int) -> bytes:
        chunks = self._chunks
        if size < 0 or size >= self.buffered:
            data = b"".join(chunks) if len(chunks) != 1 else chunks[0]
            chunks.clear()
        else:
            parts, left = [], size
            while left:
                chunk = chunks[0]
                if len(chunk) <= left:
                    parts.append(chunks.popleft())
                    left -= len(chunk)
                else:
                    parts.append(chunk[:left])
                    chunks[0] = chunk[left:]
                    left = 0
            data = b"".join(parts)
        self.buffered -= len(data)
        if self.buffered < INPUT_BUFFER // 2 and self._loop.paused_for_input(self._conn):
            self._loop.wake(self._conn, "resume")
        return data

    def read(self, size: Optional[int] = -1) -> bytes:
        if size is None:
            size = -1
        if size == 0:
            return b""
        with self._cond:
            self.want = size if size > 0 else 1 << 62
            try:
                if size < 0:
                    self._wait(lambda: False)
                else:
                    self._wait(lambda: self.buffered >= size)
            finally:
                self.want = 0
            return self._take(size)

    def readline(self, size: Optional[int] = -1) -> bytes:
        if size is None:
            size = -1
        with self._cond:
            def ready():
                if 0 <= size <= self.buffered:
                    return True
                return any(b"\n" in chunk for chunk in self._chunks)
            self._wait(ready)
            data = b"".join(self._chunks)
            end = data.find(b"\n") + 1 or len(data)
            if size >= 0:
                end = min(end, size)
            self._chunks.clear()
            if end < len(data):
                self._chunks.append(data[end:])
            self.buffered = len(data) - end
            if self.buffered < INPUT_BUFFER // 2 and self._loop.paused_for_input(self._conn):
                self._loop.wake(self._conn, "resume")
            return data[:end]

    def readlines(self, hint: int = -1) -> list:
        lines: list = []
        total = 0
        while True:
            line = self.readline()
            if not line:
                return lines
            lines.append(line)
            total += len(line)
            if 0 < hint <= total:
                return lines

    def __iter__(self):
        while True:
            line = self.readline()
            if not line:
                return
            yield line

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def close(self) -> None:
        pass


class EmptyInput(InputStream):
    def __init__(self) -> None:  # noqa: D107 - no body: nothing to wait for
        self.done = True
        self.buffered = 0

    def read(self, size: Optional[int] = -1) -> bytes:
        return b""

    def readline(self, size: Optional[int] = -1) -> bytes:
        return b""

    def write(self, data: Any) -> None:
        pass

    def finish(self) -> None:
        pass

    def fail(self, error: Exception) -> None:
        pass


EMPTY_INPUT = EmptyInput()   # stateless: one serves every request without a body


# --- one connection ---------------------------------------------------------------------

class Conn:
    """One client connection.  The I/O thread owns its state; request threads use
    `send`, `sendfile`, `should_close` and `send_error` (the interface `wsgi.Response`
    and `static` write through) while they run its request."""

    __slots__ = ("loop", "sock", "fd", "peer", "tracker", "state", "buf", "heads", "req",
                 "head_len", "scan", "scanned", "t_first", "t_body", "t_last", "body_raw",
                 "receiver", "stream", "requests", "events", "out", "out_mem", "spill",
                 "spill_end", "spill_used", "w_since", "w_sent", "w_last", "w_outq0", "w_delivered",
                 "finishing",
                 "keep", "eof", "aborted", "task", "environ", "arrival", "head_sent",
                 "paused_input", "idle_since", "handoff_ok", "lingered", "t_ready", "__weakref__")

    def __init__(self, loop: "ConnectionLoop", sock: socket.socket, peer: Any, tracker: Any) -> None:
        sock.setblocking(False)
        self.loop = loop
        self.sock = sock
        self.fd = sock.fileno()
        self.peer = peer
        self.tracker = tracker
        self.state = IDLE
        self.buf = b""
        self.heads = HeadReader(loop.service.limits)
        self.req: Any = None
        self.head_len = 0
        self.scan: Any = None
        self.scanned = 0
        self.t_first = self.t_body = self.t_last = 0.0
        self.body_raw = 0
        self.receiver: Any = None
        self.stream: Any = None
        self.requests = 0
        self.events = 0
        self.out: collections.deque = collections.deque()
        self.out_mem = 0
        self.spill: Any = None
        self.spill_end = 0
        self.spill_used = 0
        self.w_since = 0.0     # since when the client has not kept up (0: it has)
        self.w_sent = 0        # bytes sent since then
        self.w_last = 0.0      # last progress while not keeping up
        self.w_outq0 = 0       # bytes in the kernel's send queue at w_since
        self.w_delivered = 0   # bytes the client really took since w_since
        self.finishing = False
        self.keep = False
        self.eof = False
        self.aborted = False
        self.task: Any = None
        self.environ: Any = None
        self.arrival = 0.0
        self.head_sent = False
        self.paused_input = False
        self.idle_since = time.monotonic()
        self.handoff_ok = True
        self.lingered = 0
        self.t_ready = 0.0     # a request handed over by a sibling: when it was ready there

    # -- the request thread's side (wsgi.Response / static) --

    def send(self, data: Any) -> None:
        loop = self.loop
        with loop.lock:
            if self.aborted:
                raise Aborted("connection closed by the server")
            self.head_sent = True
            if not self.out:
                try:
                    sent = self.sock.send(data)
                except (BlockingIOError, InterruptedError):
                    sent = 0
                except OSError as exc:
                    loop.abort_locked(self)
                    raise Aborted(str(exc)) from None
                if sent == len(data):
                    return
                data = memoryview(data)[sent:]
            loop.queue_locked(self, data)
        loop.wake(self, "write")

    def sendfile(self, fd: int, offset: int, count: int) -> int:
        loop = self.loop
        with loop.cond:
            if self.aborted:
                raise Aborted("connection closed by the server")
            self.head_sent = True
            self.out.append([os.dup(fd), offset, count, True])
        loop.wake(self, "write")
        return count

    def should_close(self) -> bool:
        stream = self.stream
        return ((self.tracker.should_close() and not self.loop.hand_over)
                or (stream is not None and not stream.done))

    def send_error(self, status: int, reason: str, detail: str, keep_alive: bool = False) -> int:
        body = (f"{status} {reason}: {detail}\n" if detail else f"{status} {reason}\n").encode()
        head = (f"HTTP/1.1 {status} {reason}\r\n{wsgi.date_header()}"
                f"Content-Type: text/plain; charset=utf-8\r\nContent-Length: {len(body)}\r\n"
                + ("" if keep_alive else "Connection: close\r\n") + "\r\n")
        try:
            self.send(head.encode("latin-1") + body)
        except OSError:
            return 0
        return len(body)


class Task:
    __slots__ = ("conn", "req", "stream", "length", "arrival", "raw", "started", "thread",
                 "abandoned", "ident", "ready", "inline", "finished")

    def __init__(self, conn: Conn, req: Any, stream: Any, length: Optional[int], arrival: float,
                 raw: Optional[bytes]) -> None:
        self.conn = conn
        self.req = req
        self.stream = stream
        self.length = length
        self.arrival = arrival
        self.raw = raw          # the request's bytes while it can still be handed over
        self.started = 0.0
        self.thread = -1
        self.abandoned = False
        self.ident = 0
        self.ready = arrival    # when the app could have been called (queue time from here)
        self.inline = False     # run on the I/O thread (_run_inline)
        # The app returned (set under the lock): the watcher no longer shows it (_relieve).
        self.finished = False


# --- handing ready connections to a sibling worker -----------------------------------------

_HANDOFF_HEAD = struct.Struct("=dI")   # arrival (wall clock), requests served so far
HANDOFF_MAX = 256 * 1024


class Handoff:
    """A datagram socket pair shared by every worker of a server: one datagram is one
    connection (its descriptor, SCM_RIGHTS) with the bytes of its request so far."""

    def __init__(self) -> None:
        self.send_sock, self.recv_sock = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        for sock in (self.send_sock, self.recv_sock):
            sock.setblocking(False)
            for opt in (socket.SO_SNDBUF, socket.SO_RCVBUF):
                try:
                    sock.setsockopt(socket.SOL_SOCKET, opt, 4 << 20)
                except OSError:
                    pass

    def give(self, sock: socket.socket, raw: bytes, arrival: float, requests: int) -> bool:
        if len(raw) > HANDOFF_MAX:
            return False
        head = _HANDOFF_HEAD.pack(time.time() - (time.monotonic() - arrival) if arrival else 0.0,
                                  requests)
        try:
            self.send_sock.sendmsg([head, raw], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                                  array.array("i", [sock.fileno()]))])
        except OSError:
            return False
        return True

    def take(self) -> Optional[tuple]:
        """(socket, raw bytes, arrival (monotonic), requests) or None."""
        fds = array.array("i")
        try:
            msg, anc, flags, _ = self.recv_sock.recvmsg(HANDOFF_MAX + 64,
                                                       socket.CMSG_SPACE(fds.itemsize))
        except (BlockingIOError, InterruptedError):
            return None
        for level, kind, data in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(data[:len(data) - len(data) % fds.itemsize])
        if not fds:
            return None
        sock = socket.socket(fileno=fds[0])
        for extra in fds[1:]:
            os.close(extra)
        wall, requests = _HANDOFF_HEAD.unpack_from(msg)
        arrival = time.monotonic() - max(0.0, time.time() - wall) if wall else time.monotonic()
        return sock, msg[_HANDOFF_HEAD.size:], arrival, requests

    def fileno(self) -> int:
        return self.recv_sock.fileno()

    def close(self) -> None:
        self.send_sock.close()
        self.recv_sock.close()


# --- the loop -------------------------------------------------------------------------------

class ConnectionLoop:
    """Serves all connections of one worker: I/O on the calling thread, the app on
    ``config.threads`` request threads.

    ::

        loop = ConnectionLoop(listeners, app, config, tracker_for=make_tracker)
        while running:
            loop.run_once(1.0)      # heartbeat, signals, etc. between rounds
        loop.drain(graceful_timeout)

    `tracker_for(client_addr)` makes one tracker per connection (request_started /
    request_finished / should_close, and a ``thread`` attribute set to the request
    thread's index); without it every connection shares `tracker`.
    """

    def __init__(self, listeners: Any, app: Any, config: Any, tracker: Any = None,
                 tracker_for: Any = None, handoff: Optional[Handoff] = None,
                 scoreboard: Any = None, slot: int = 0, on_retire: Any = None,
                 threads: Optional[int] = None, metrics: Any = None,
                 on_turn: Any = None) -> None:
        if tracker is None:
            tracker = tracker_for("") if tracker_for is not None else NullTracker()
        self.service = Service(app, config)
        self.config = config
        self.metrics = metrics if metrics is not None else NullRecorder()
        self.tracker = tracker
        self.tracker_for = tracker_for
        self.handoff = handoff
        self.scoreboard = scoreboard
        self.slot = slot
        self.on_retire = on_retire
        # Called before every turn the watcher makes in the I/O thread's place (the
        # worker's heartbeat); the I/O thread's own caller does that between its turns.
        self.on_turn = on_turn
        self.selector = selectors.DefaultSelector()
        self.listeners = list(listeners)
        self.conns: dict = {}
        self.accepting = False
        self.paused = False
        self.exclusive = False      # listeners registered with EPOLLEXCLUSIVE
        self.retiring = False
        self.draining = False
        self.closed = False
        # Stopping while siblings keep serving (reload, recycling, a timeout): idle and
        # ready connections go to them instead of being closed under their clients.
        self.hand_over = False
        self._first = False   # the request being dispatched goes ahead of the queue
        # One lock, two conditions: `cond` for a request thread waiting on its
        # connection (buffer space, body bytes), `work` for idle request threads
        # waiting for a task; a connection closing must not wake every idle thread.
        # The hot paths take `lock` itself: the same lock, without Condition's Python-level
        # __enter__/__exit__ around it.
        self.lock = lock = threading.Lock()
        self.cond = threading.Condition(lock)
        self.work = threading.Condition(lock)
        self.events: collections.deque = collections.deque()
        self.tasks: collections.deque = collections.deque()
        self.nthreads = max(1, threads if threads is not None else getattr(config, "threads", 1))
        self.free = self.nthreads
        self.running: list = [None] * self.nthreads
        self.mem_total = 0
        self.disk_total = 0
        self.cap_logged = 0.0
        self.shed = 0
        self._next_sweep = 0.0
        self._handoff_on = False
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._woken = False
        self.selector.register(self._wake_r, selectors.EVENT_READ, "wake")
        cfg = {name: setting(config, name) for name in DEFAULTS}
        self.body_min_rate = cfg["body_min_rate"]
        self.body_max_time = cfg["body_max_time"]
        self.write_min_rate = cfg["write_min_rate"]
        self.write_max_time = cfg["write_max_time"]
        self.buffer_conn = cfg["response_buffer"]
        self.buffer_total = cfg["response_buffer_total"]
        self.spool_conn = cfg["response_spool"]
        self.spool_total = cfg["response_spool_total"]
        self.queue_timeout = cfg["queue_timeout"]
        # Read on every request: plain attributes, not the config's lookup.
        self.keepalive_timeout = config.keepalive_timeout
        self.worker_connections = config.worker_connections
        for listener in self.listeners:
            listener.setblocking(False)
            _defer_accept(listener, config.header_timeout)
        self._listen(True)
        self._publish_free()
        self.inline: Optional[Task] = None      # the request running on the I/O thread
        self._io_ident = threading.get_ident()
        self._inline_ready: collections.deque = collections.deque()
        self.relieving = False                  # the watcher does the I/O thread's work
        self.reliefs = 0
        self._watching = False
        self._watch_wanted = threading.Event()
        self._threads = [threading.Thread(target=self._thread_main, args=(i,),
                                          name=f"warp-request-{i}", daemon=True)
                         for i in range(self.nthreads)]
        self._threads.append(threading.Thread(target=self._watch_main, name="warp-watcher",
                                              daemon=True))
        for thread in self._threads:
            thread.start()

    # ----------------------------------------------------------------- public

    @property
    def busy(self) -> int:
        """Connections with a request in progress."""
        return sum(1 for c in self.conns.values() if c.state in (HEAD, BODY, APP))

    def run_once(self, timeout: float) -> None:
        if self.tasks and self.handoff is not None and not self.draining:
            timeout = min(timeout, REOFFER)
        for key, mask in self.selector.select(timeout):
            data = key.data
            if data is None:
                self._accept(key.fileobj)
            elif data == "wake":
                self._drain_wake()
            elif data == "handoff":
                self._take_handoffs()
            else:
                conn = data
                if mask & selectors.EVENT_WRITE and conn.state != CLOSED:
                    self._write(conn)
                if mask & selectors.EVENT_READ and conn.state != CLOSED:
                    if conn.state == LINGER:
                        self._discard(conn)
                    else:
                        self._read(conn)
        self._process_events()
        while self._inline_ready:
            self._run_inline(self._inline_ready.popleft())
        if self.tasks and self.handoff is not None:
            self._reoffer()
        self._update_handoff_interest()
        now = time.monotonic()
        if now >= self._next_sweep:
            self._next_sweep = now + SWEEP
            self._sweep(now)
        if self.accepting and not self.draining and self.tracker.should_close():
            self.stop_accepting()
            self.close_idle()

    def stop_accepting(self) -> None:
        self._listen(False)
        self.accepting = False

    def accept_backlog(self) -> None:
        """Graceful stop: accept what is already queued on the listening sockets."""
        for listener in self.listeners:
            for _ in range(100000):
                if len(self.conns) >= self.worker_connections:
                    return
                if not self._accept_one(listener):
                    break

    def close_idle(self) -> None:
        for conn in list(self.conns.values()):
            if conn.state == IDLE and conn.requests and not conn.buf and not conn.out:
                self._close(conn)

    def drain(self, timeout: float) -> None:
        self.set_draining()
        self.stop_accepting()
        self.close_idle()
        deadline = time.monotonic() + timeout
        while any(c.state != IDLE or not c.requests for c in self.conns.values()):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self.run_once(min(left, SWEEP))
            self.close_idle()
        self.close()

    def close(self) -> None:
        for conn in list(self.conns.values()):
            self._close(conn)
        with self.cond:
            self.draining = self.closed = True
            self.cond.notify_all()
            self.work.notify_all()
        self._watch_wanted.set()
        try:
            self.selector.close()
        except Exception:
            pass
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass

    def retire(self, why: str) -> None:
        """Stop taking work; hand every connection that can go to a sibling."""
        if self.retiring:
            return
        self.retiring = True
        self.stop_accepting()
        if self.on_retire is not None:
            self.on_retire(why)
        self.give_away_idle()
        self.give_away_waiting()

    def start_hand_over(self) -> None:
        """Stop, leaving every connection that can move to the siblings."""
        self.hand_over = True
        self.set_draining()
        self.stop_accepting()
        self.give_away_idle()
        # Requests queued behind this worker's busy threads go too: on a reload the new
        # workers are free, and kept here they would wait for the old code's thread.
        self.give_away_waiting()

    def give_away_waiting(self) -> None:
        """Hand every request still waiting for a thread here to a sibling."""
        with self.cond:
            waiting = list(self.tasks)
        for task in waiting:
            if task.raw is not None:
                self._give_task(task)

    def give_away_idle(self) -> None:
        for conn in list(self.conns.values()):
            if conn.state == IDLE and not conn.out and not conn.buf:
                self._give_away(conn, b"")

    def set_draining(self) -> None:
        """Stopping: no more hand-overs to siblings, none taken from them."""
        self.draining = True
        self._publish_free()

    def idle_threads(self) -> int:
        return self.free

    def census(self) -> tuple:
        """(open connections by metrics.STATES, requests waiting for a thread, connections
        shed at the cap so far), for the metrics; I/O thread only."""
        counts = [0, 0, 0, 0, 0, 0]
        for conn in self.conns.values():
            state = conn.state
            if state == APP:
                counts[4 if conn.out else 3] += 1
            elif state == LINGER:
                counts[5] += 1
            elif state <= BODY:
                counts[state] += 1   # IDLE, HEAD, BODY are 0, 1, 2 in both
        return counts, len(self.tasks), self.shed

    # ----------------------------------------------------------------- cross-thread

    def wake(self, conn: Conn, what: str) -> None:
        self.events.append((what, conn))
        if not self._woken:
            self._woken = True
            try:
                os.write(self._wake_w, b"!")
            except OSError:
                pass

    def paused_for_input(self, conn: Conn) -> bool:
        return conn.paused_input

    def abort_locked(self, conn: Conn) -> None:
        conn.aborted = True
        self.cond.notify_all()
        self.events.append(("abort", conn))

    def queue_locked(self, conn: Conn, data: Any) -> None:
        """Queue response bytes (lock held): memory, then the spill file, then wait."""
        size = len(data)
        if size > PIECE:
            # Split a big piece so it can go partly to memory, partly to disk.
            view = memoryview(data)
            for start in range(0, size, PIECE):
                self._queue_piece_locked(conn, view[start:start + PIECE])
        elif size:
            self._queue_piece_locked(conn, data)

    def _queue_piece_locked(self, conn: Conn, data: Any) -> None:
        size = len(data)
        while True:
            if conn.aborted:
                raise Aborted("connection closed by the server")
            if conn.out_mem + size <= self.buffer_conn and self.mem_total + size <= self.buffer_total:
                conn.out.append(data if type(data) is not memoryview else data.toreadonly())
                conn.out_mem += size
                self.mem_total += size
                return
            if conn.spill_used + size <= self.spool_conn and self.disk_total + size <= self.spool_total:
                if conn.spill is None:
                    conn.spill = _spill_file()
                    conn.spill_end = 0
                os.pwrite(conn.spill, data, conn.spill_end)
                last = conn.out[-1] if conn.out else None
                if type(last) is list and not last[3] and last[1] + last[2] == conn.spill_end:
                    last[2] += size
                else:
                    conn.out.append([conn.spill, conn.spill_end, size, False])
                conn.spill_end += size
                conn.spill_used += size
                self.disk_total += size
                return
            # Every buffer is full: wait for the client (the write deadlines bound this).
            self.events.append(("write", conn))
            self._poke()
            self.cond.wait(1.0)

    def _poke(self) -> None:
        if not self._woken:
            self._woken = True
            try:
                os.write(self._wake_w, b"!")
            except OSError:
                pass

    # ----------------------------------------------------------------- request threads

    def _publish_free(self) -> None:
        if self.scoreboard is not None:
            # Under the lock: a count computed by one thread must not land after a
            # newer one written by another.
            with self.cond:
                self.scoreboard.set_free(self.slot, 0 if self.retiring or self.draining
                                         else max(0, self.free - len(self.tasks)))

    def _thread_main(self, index: int) -> None:
        cond = self.cond
        while True:
            with cond:
                while not self.tasks or self.running[index] is not None:
                    if self.closed:
                        return
                    self.work.wait(1.0)
                task = self.tasks.popleft()
                self.free -= 1
                task.thread = index
                task.started = time.monotonic()
                task.ident = threading.get_ident()
                self.running[index] = task
            self._publish_free()
            try:
                keep = self._run(task, index)
            except BaseException:
                log.exception("internal error while serving a request")
                keep = False
            with cond:
                self.running[index] = None
                if task.abandoned:
                    # The request timed out and was answered; this thread is late.
                    return
                self.free += 1
                task.conn.keep = keep
            self._publish_free()
            self.wake(task.conn, "done")

    def _run_inline(self, task: Task) -> None:
        """Run a complete request's app on this (the I/O) thread, in the place of a free
        request thread (its index, its share of ``threads``): a quick request then
        costs no switch between threads.  The watcher relieves this thread of its I/O
        work if the request turns out slow."""
        conn = task.conn
        if conn.state != APP or conn.task is not task:
            return
        with self.lock:
            queue = bool(self.tasks or not self.free or self.relieving)
            if queue:
                # Work queued meanwhile: keep the order, go through the threads.
                self.tasks.append(task)
                self.work.notify_all()
            else:
                # A free slot; its thread waits while the slot is lent (_thread_main).
                index = self.running.index(None)
                self.running[index] = task
                self.free -= 1
                task.thread = index
                task.started = time.monotonic()
                task.ident = self._io_ident
                task.inline = True
                self.inline = task
        if queue:
            self._set_events(conn)
            return
        if not self._watching:
            self._watching = True
            self._watch_wanted.set()
        try:
            keep = self._run(task, index)
        except BaseException:
            log.exception("internal error while serving a request")
            keep = False
        with self.lock:
            self.running[index] = None
            self.inline = None
            # Timed out and answered: as with a thread, its slot is not reused.
            done = not task.abandoned
            if done:
                self.free += 1
                conn.keep = keep
            relieved = self.relieving
            if relieved:
                # The watcher ends its turn (it may also finish this request, if it is
                # stopping the worker), then the I/O work is this thread's again.
                if done:
                    self.events.append(("done", conn))
                self._poke()
                while self.relieving:
                    self.cond.wait(1.0)
        if self.reliefs:
            self._publish_free()
        if relieved:
            self._process_events()
        elif done:
            self._app_done(conn)

    def _watch_main(self) -> None:
        """The watcher: relieve the I/O thread of its work while an inline request runs
        longer than INLINE_LIMIT.  Sleeps without wake-ups while nothing runs inline."""
        last_inline = time.monotonic()
        while not self.closed:
            self._watch_wanted.wait()
            time.sleep(WATCH)
            task = self.inline
            now = time.monotonic()
            if task is not None:
                last_inline = now
                if now - task.started >= INLINE_LIMIT:
                    self._relieve(task)
            elif now - last_inline > WATCH_IDLE:
                self._watching = False
                self._watch_wanted.clear()
                # An inline request may have begun between the two lines above and seen
                # the watcher still awake: look once more before sleeping.
                if self.inline is not None:
                    self._watching = True
                    self._watch_wanted.set()

    def _relieve(self, task: Task) -> None:
        """Do the I/O thread's work (on the watcher thread) until `task`, running inline
        on the I/O thread, returns."""
        with self.cond:
            if self.inline is not task or task.finished or self.closed:
                return
            self.relieving = True
            self.reliefs += 1
            # Long enough to be seen: busy in warp status and the metrics, under the
            # master's request timeout. Under the lock: the request cannot finish
            # (its tracker told) meanwhile, see _run.
            task.conn.tracker.show()
            # Requests of this turn still waiting to run inline go to the threads (or,
            # through the usual hand-over, to a sibling) instead of waiting behind it.
            moved = []
            while self._inline_ready:
                waiting = self._inline_ready.popleft()
                if waiting.conn.state == APP and waiting.conn.task is waiting:
                    self.tasks.append(waiting)
                    moved.append(waiting.conn)
            self.work.notify_all()
        for conn in moved:
            self._set_events(conn)   # left untouched while they waited to run inline
        log.debug("request %s %s still running after %gs on the I/O thread: the watcher "
                  "takes over the I/O", task.req.method, task.req.path, INLINE_LIMIT)
        self._publish_free()
        try:
            while True:
                with self.cond:
                    if self.inline is not task or self.closed:
                        break
                if self.on_turn is not None:
                    self.on_turn()
                self.run_once(SWEEP)
        except BaseException:
            log.exception("internal error in the watcher's turn")
        finally:
            with self.cond:
                self.relieving = False
                self.cond.notify_all()

    def _run(self, task: Task, index: int) -> bool:
        conn, req = task.conn, task.req
        tracker = conn.tracker
        tracker.thread = index
        tracker.queued = task.started - task.ready
        if self.queue_timeout and self._queued_for(task) > self.queue_timeout:
            self.metrics.queue_timeout(index)
            waited = self._queued_for(task)
            log.warning("queue timeout: %s %s waited %.1fs > %gs before a request thread "
                        "could take it; answered 503", req.method, req.path, waited,
                        self.queue_timeout)
            tracker.request_started(req.method, req.path, req.query, req.version)
            sent = conn.send_error(503, "Service Unavailable", "queue timeout")
            tracker.request_finished(503, sent)
            return False
        service = self.service
        tracker.request_started(req.method, req.path, req.query, req.version, deferred=task.inline)
        status, sent, keep_alive = 500, 0, False
        try:
            static = service.static
            if static is not None and req.path.startswith(static.prefixes):
                status, sent, keep_alive = static.serve(conn, req)
                if status:
                    return keep_alive
            if conn.environ is None:
                conn.environ = wsgi.EnvironBuilder(service.config, conn.sock.getsockname(),
                                                   conn.peer, service.multithread)
            environ = conn.environ.build(req, None, task.stream, task.length)
            if environ is None:
                keep_alive = req.keep_alive and not conn.should_close()
                status, sent = 404, conn.send_error(404, "Not Found", "outside of the mount prefix",
                                                    keep_alive=keep_alive)
                return keep_alive
            response = wsgi.Response(conn, req)
            try:
                response.run(service.app, environ)
            except Aborted:
                status, sent = response.code or 408, response.bytes_sent
                return False
            except OSError as exc:
                if conn.aborted:
                    return False
                if response.head_sent:
                    log.error("error while sending the response to %s %s: %s", req.method, req.path, exc)
                    return False
                log.exception("error in the application for %s %s", req.method, req.path)
                status, sent = 500, conn.send_error(500, "Internal Server Error", "")
                return False
            except Exception as exc:
                status, sent = response.code, response.bytes_sent
                if conn.aborted or task.abandoned:
                    return False
                if response.head_sent:
                    log.error("error while sending the response to %s %s", req.method, req.path,
                              exc_info=not isinstance(exc, wsgi.AppError))
                    return False
                if isinstance(exc, wsgi.AppError):
                    log.error("%s (%s %s)", exc, req.method, req.path)
                else:
                    log.exception("error in the application for %s %s", req.method, req.path)
                status = 500
                sent = conn.send_error(500, "Internal Server Error", "", keep_alive=False)
                return False
            status, sent, keep_alive = response.code, response.bytes_sent, response.keep_alive
            return keep_alive
        finally:
            if task.inline:
                # From here the watcher no longer shows this request (_relieve): its
                # tracker is told of the end once, shown or not, while its slot is
                # still held (no other thread writes that slot's entry meanwhile).
                with self.lock:
                    task.finished = True
            if not task.abandoned:
                tracker.request_finished(status, sent)

    def _queued_for(self, task: Task) -> float:
        """Seconds since the request arrived (or since a trusted proxy saw it)."""
        now = time.monotonic()
        waited = now - task.arrival
        for name, value in task.req.headers:
            if name.lower() == "x-request-start":
                environ = task.conn.environ or wsgi.EnvironBuilder(
                    self.config, task.conn.sock.getsockname(), task.conn.peer, False)
                task.conn.environ = environ
                if environ.trust_proxy:
                    started = _parse_request_start(value)
                    if started is not None:
                        waited = max(waited, time.time() - started)
                break
        return waited

    # ----------------------------------------------------------------- accepting

    def _listen(self, on: bool) -> None:
        for listener in self.listeners:
            try:
                if on:
                    self.selector.register(listener, selectors.EVENT_READ, None)
                    self.exclusive = _exclusive(self.selector, listener)
                else:
                    self.selector.unregister(listener)
            except (KeyError, ValueError, OSError):
                pass
        self.accepting = on
        self.paused = False

    def _accept(self, listener) -> None:
        if len(self.conns) >= self.worker_connections and not self._shed():
            # Every slot holds a connection with a request in the app: let siblings
            # take new connections until one closes here.
            self._listen(False)
            self.accepting = True
            self.paused = True
            return
        # A few at a time: one wake-up serves a burst of new connections, and a worker
        # busy in a batch leaves the rest of the backlog to its siblings.
        accepted = False
        for _ in range(ACCEPT_BATCH):
            if not self._accept_one(listener):
                break
            accepted = True
            if len(self.conns) >= self.worker_connections:
                break
        if accepted and self.exclusive:
            # The kernel wakes the first idle worker in the listener's wait queue, so
            # without this the same worker took every connection of a quiet server
            # (and kept them, keep-alive): registering again puts this worker last,
            # and new connections go round the idle workers in turn.
            _exclusive(self.selector, listener)

    def _accept_one(self, listener) -> bool:
        try:
            sock, addr = listener.accept()
        except (BlockingIOError, InterruptedError):
            return False
        except ConnectionAbortedError:
            return True
        except OSError as exc:
            if exc.errno in _ACCEPT_RESOURCE_ERRORS:
                log.error("cannot accept connections: %s", exc)
                return False
            if exc.errno == errno.EINVAL:
                return False
            raise
        if sock.family != socket.AF_UNIX:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = Conn(self, sock, addr, self.tracker_for(addr) if self.tracker_for else self.tracker)
        self.conns[conn.fd] = conn
        self._read(conn)
        return True

    def _shed(self) -> bool:
        """At the connection cap: close the connection that costs most and gives least
        (idle keep-alive ones first, oldest first; then those still sending a request,
        slowest first).  False when every connection has a request in the app."""
        victim: Optional[Conn] = None
        best: Optional[tuple] = None
        now = time.monotonic()
        key: tuple
        for conn in self.conns.values():
            if conn.state == IDLE and not conn.out:
                key = (0, conn.idle_since)
            elif conn.state in (HEAD, BODY):
                elapsed = max(1e-3, now - conn.t_first)
                key = (1, (len(conn.buf) / elapsed), conn.t_first)
            elif conn.state == LINGER:
                key = (-1, 0.0)
            else:
                continue
            if best is None or key < best:
                victim, best = conn, key
        if victim is None:
            return False
        self.shed += 1
        if now - self.cap_logged >= CAP_LOG_INTERVAL:
            self.cap_logged = now
            log.warning("connection cap reached (%d per worker, --worker-connections): "
                        "closing idle and slowest connections first (%d so far)",
                        self.worker_connections, self.shed)
        if victim.state in (HEAD, BODY):
            self._reject(victim, _ServiceUnavailable("too many connections"), linger=False)
        else:
            self._close(victim)
        return True

    # ----------------------------------------------------------------- reading

    def _set_events(self, conn: Conn) -> None:
        if conn.state == CLOSED:
            return
        want = 0
        if conn.state == LINGER:
            want = selectors.EVENT_READ
        else:
            if not conn.eof and not conn.paused_input:
                want |= selectors.EVENT_READ
            if conn.out and not conn.aborted:
                want |= selectors.EVENT_WRITE
        if want == conn.events:
            return
        try:
            if conn.events == 0:
                self.selector.register(conn.sock, want, conn)
            elif want == 0:
                self.selector.unregister(conn.sock)
            else:
                self.selector.modify(conn.sock, want, conn)
        except (KeyError, ValueError, OSError):
            self._close(conn)
            return
        conn.events = want

    def _read(self, conn: Conn) -> None:
        try:
            data = conn.sock.recv(RECV_SIZE)
        except (BlockingIOError, InterruptedError):
            self._set_events(conn)
            return
        except OSError:
            data = b""
        if not data:
            self._eof(conn)
            return
        self.received(conn, data)

    def received(self, conn: Conn, data: bytes) -> None:
        now = time.monotonic()
        state = conn.state
        if state == APP:
            receiver = conn.receiver
            if receiver is not None and not receiver.done:
                conn.t_last = now
                conn.body_raw += len(data)
                buf = conn.buf + data if conn.buf else data
                try:
                    used = receiver.feed(buf)
                except HTTPError as error:
                    self._fail(conn, error)
                    return
                conn.buf = buf[used:]
                if receiver.done:
                    conn.stream.finish()
                    conn.receiver = None
                elif conn.stream.full:
                    conn.paused_input = True
            else:
                conn.buf = conn.buf + data if conn.buf else data
                if len(conn.buf) > PIPELINE_MAX:
                    conn.paused_input = True
            self._set_events(conn)
            return
        conn.buf = conn.buf + data if conn.buf else data
        if state == IDLE:
            conn.state = HEAD
            conn.t_first = now
        if conn.state == BODY:
            conn.t_last = now
        self._advance(conn)

    def _advance(self, conn: Conn) -> None:
        """Parse what the buffer holds; dispatch a request when it is ready."""
        if conn.state == HEAD:
            try:
                parsed = conn.heads.parse(conn.buf)
            except HTTPError as error:
                self._reject(conn, error)
                return
            if parsed is None:
                self._set_events(conn)
                return
            req, used = parsed
            conn.req = req
            conn.head_len = used
            if not req.has_body or req.expect_continue:
                self._ready(conn)
                return
            conn.state = BODY
            conn.t_body = conn.t_last = time.monotonic()
            conn.scan = ChunkedReceiver(self.service.limits, CountingSink()) if req.chunked else None
            conn.scanned = used
        if conn.state == BODY:
            req = conn.req
            if conn.scan is None:
                have = len(conn.buf) - conn.head_len
                if have >= req.content_length or have >= STREAM_START:
                    self._ready(conn)
                    return
            else:
                try:
                    conn.scanned += conn.scan.feed(conn.buf[conn.scanned:])
                except HTTPError as error:
                    self._reject(conn, error)
                    return
                if conn.scan.done or conn.scan.body.size >= STREAM_START:
                    self._ready(conn)
                    return
            self._set_events(conn)

    def _eof(self, conn: Conn) -> None:
        if conn.state == APP:
            conn.eof = True
            if conn.stream is not None and not conn.stream.done:
                conn.stream.fail(Aborted("client closed the connection before the end of the body"))
            self._set_events(conn)
            return
        self._close(conn)

    # ----------------------------------------------------------------- dispatching

    def _ready(self, conn: Conn) -> None:
        """A request can be given to the app: here, or to a sibling with a free thread."""
        moving = self.retiring or self.hand_over
        if (self.handoff is not None and (moving or (not self.draining and conn.handoff_ok))
                and (moving or (self.free <= len(self.tasks) and self._stalled()
                                       and self.scoreboard is not None
                                       and self.scoreboard.others_free(self.slot)))):
            if self._give_away(conn, conn.buf):
                return
        if self.free <= len(self.tasks):
            log.debug("request %s %s waits for a thread here (%d queued)", conn.req.method,
                      conn.req.path, len(self.tasks))
        if self.retiring and self.free <= len(self.tasks):
            # Nowhere to go and no thread here: answer rather than leave it waiting.
            self._reject(conn, _ServiceUnavailable("worker is being replaced"))
            return
        self._dispatch(conn)

    def _dispatch(self, conn: Conn) -> None:
        req = conn.req
        raw = conn.buf
        stream: Any = None
        length: Optional[int] = None
        if not req.has_body:
            stream, length = EMPTY_INPUT, None
            conn.buf = raw[conn.head_len:]
        else:
            stream = InputStream(self, conn)
            receiver = ChunkedReceiver(self.service.limits, stream) if req.chunked \
                else FixedReceiver(req.content_length, stream)
            try:
                used = receiver.feed(raw[conn.head_len:])
            except HTTPError as error:
                self._reject(conn, error)
                return
            conn.buf = raw[conn.head_len + used:]
            conn.body_raw = used
            if receiver.done:
                stream.finish()
                conn.receiver = None
                # A chunked body has no CONTENT_LENGTH even when it arrived whole: the
                # environ does not depend on how fast the client sent it.
                length = None if req.chunked else stream.size
            else:
                conn.receiver = receiver
                length = None if req.chunked else req.content_length
                stream.continue_due = req.expect_continue
            if not conn.t_body:
                conn.t_body = conn.t_last = time.monotonic()
        conn.stream = stream
        conn.state = APP
        conn.head_sent = False
        conn.finishing = False
        conn.keep = False
        complete = stream.done and not conn.buf
        task = Task(conn, req, stream, length, conn.t_first,
                    raw if complete and len(raw) <= HANDOFF_MAX else None)
        task.ready = conn.t_ready or time.monotonic()
        conn.t_ready = 0.0
        conn.task = task
        if complete and not self.tasks and self.free and self.inline is None and not self.relieving:
            # Run on this thread once this turn's reading is done (see _run_inline).
            # Its socket's events are left as they are until it is answered: a new
            # connection answered and closed at once then never enters the selector.
            self._inline_ready.append(task)
            return
        with self.cond:
            if self._first:
                self.tasks.appendleft(task)
            else:
                self.tasks.append(task)
            if self.inline is None:
                self.work.notify()
            else:
                self.work.notify_all()   # one waiting thread may have its slot lent
        self._publish_free()
        self._set_events(conn)

    def _give_away(self, conn: Conn, raw: bytes) -> bool:
        if self.handoff is None or conn.out:
            return False
        if not self.handoff.give(conn.sock, raw, conn.t_first if raw else 0.0, conn.requests):
            return False
        self._forget(conn)
        return True

    def _give_task(self, task: Task) -> bool:
        """Hand a request still waiting for a thread here to a sibling."""
        conn = task.conn
        with self.cond:
            if task not in self.tasks or self.handoff is None or task.raw is None:
                return False
            if not self.handoff.give(conn.sock, task.raw, task.arrival, conn.requests):
                return False
            self.tasks.remove(task)
            conn.aborted = True
        self._forget(conn)
        self._publish_free()
        return True

    def _stalled(self) -> bool:
        """Every thread here has been running its request for HANDOFF_AFTER or more."""
        latest = 0.0
        for task in self.running:
            if task is None:
                return False
            latest = max(latest, task.started)
        return time.monotonic() - latest >= HANDOFF_AFTER

    def _reoffer(self) -> None:
        # A worker handing over (reload, recycling) keeps offering what queues up here;
        # one that is only draining (the whole server stopping) has nobody to offer to.
        if self.draining and not self.hand_over:
            return
        if not (self.retiring or self.hand_over or self.scoreboard is None
                or (self._stalled() and self.scoreboard.others_free(self.slot))):
            return
        with self.cond:
            # Not those that came from a sibling: requests must not bounce around.
            waiting = [t for t in self.tasks if t.raw is not None and t.conn.handoff_ok]
        for task in waiting[:4]:
            if self._give_task(task):
                log.debug("request %s %s handed to a sibling that became free",
                          task.req.method, task.req.path)

    def _forget(self, conn: Conn) -> None:
        """This worker no longer owns `conn` (it went to a sibling)."""
        if conn.events:
            try:
                self.selector.unregister(conn.sock)
            except (KeyError, ValueError, OSError):
                pass
            conn.events = 0
        self.conns.pop(conn.fd, None)
        conn.state = CLOSED
        try:
            conn.sock.close()
        except OSError:
            pass
        self._resume_accepting()

    def _take_handoffs(self, first: bool = False) -> None:
        """Adopt connections siblings handed over: as many as there are free threads,
        or (`first`) one that goes ahead of this worker's own queue."""
        if self.handoff is None or self.retiring or self.hand_over:
            return
        for _ in range(1 if first else max(1, self.free - len(self.tasks))):
            if not first and self.free <= len(self.tasks):
                return
            taken = self.handoff.take()
            if taken is None:
                return
            self._first = first
            sock, raw, arrival, requests = taken
            try:
                peer = sock.getpeername()
            except OSError:
                sock.close()
                continue
            conn = Conn(self, sock, peer, self.tracker_for(peer) if self.tracker_for else self.tracker)
            conn.requests = requests
            conn.handoff_ok = False  # once is enough: never bounce between workers
            self.conns[conn.fd] = conn
            if raw:
                conn.state = HEAD
                conn.t_first = conn.t_ready = arrival
                conn.buf = bytes(raw)
                self._advance(conn)
            else:
                conn.idle_since = time.monotonic()
                self._set_events(conn)
            self._first = False

    def _update_handoff_interest(self) -> None:
        if self.handoff is None:
            return
        want = self.free > len(self.tasks) and not self.retiring and not self.hand_over
        if want != self._handoff_on:
            try:
                if want:
                    self.selector.register(self.handoff.fileno(), selectors.EVENT_READ, "handoff")
                else:
                    self.selector.unregister(self.handoff.fileno())
            except (KeyError, ValueError, OSError):
                pass
            self._handoff_on = want

    # ----------------------------------------------------------------- events from threads

    def _drain_wake(self) -> None:
        # Empty the pipe first, then allow new wake-ups: the other order lets a byte
        # written in between be swallowed with the flag left set, and every later
        # wake-up would then be skipped. Events queued meanwhile are processed next.
        try:
            while os.read(self._wake_r, 4096):
                pass
        except (BlockingIOError, InterruptedError, OSError):
            pass
        self._woken = False

    def _process_events(self) -> None:
        events = self.events
        while events:
            what, conn = events.popleft()
            if conn.state == CLOSED:
                continue
            if what == "write":
                self._write(conn)
            elif what == "done":
                self._app_done(conn)
            elif what == "resume":
                if conn.paused_input and conn.stream is not None and not conn.stream.full:
                    conn.paused_input = False
                    # Time the app kept the client waiting does not count against it.
                    conn.t_last = time.monotonic()
                    self._set_events(conn)
            elif what == "abort":
                if conn.task is None:
                    self._close(conn)
                else:
                    self._close_socket_only(conn)

    def _app_done(self, conn: Conn) -> None:
        """The app finished the connection's request (a thread or inline)."""
        if self.tasks and self.handoff is not None:
            # A thread is free and work is queued here: first one request a sibling
            # handed over, if any waits. Without this, handed-over requests could wait
            # as long as every worker had work queued.
            self._take_handoffs(first=True)
        if conn.state != APP:
            return  # already answered by the server (deadline) and closing
        conn.task = None
        conn.finishing = True
        if not conn.out:
            self._complete(conn)
        else:
            self._write(conn)

    # ----------------------------------------------------------------- writing

    def _write(self, conn: Conn) -> None:
        now = time.monotonic()
        with self.cond:
            out = conn.out
            sock = conn.sock
            progressed = 0
            try:
                while out:
                    item = out[0]
                    if type(item) is list:
                        fd, offset, count, owned = item
                        try:
                            sent = os.sendfile(conn.fd, fd, offset, min(count, 1 << 30))
                        except (BlockingIOError, InterruptedError):
                            break
                        if sent == 0:
                            count = sent  # the file shrank: drop the rest of the segment
                        item[1] += sent
                        item[2] -= sent
                        progressed += sent
                        if item[2] <= 0 or sent == 0:
                            out.popleft()
                            if owned:
                                os.close(fd)
                        else:
                            break
                    else:
                        try:
                            sent = sock.send(item)
                        except (BlockingIOError, InterruptedError):
                            break
                        progressed += sent
                        conn.out_mem -= sent
                        self.mem_total -= sent
                        if sent == len(item):
                            out.popleft()
                        else:
                            out[0] = memoryview(item)[sent:]
                            break
            except OSError:
                self.abort_locked(conn)
                self._release_out(conn)
                self.cond.notify_all()
                finished = None
            else:
                finished = not out
                if finished:
                    if conn.spill is not None:
                        self.disk_total -= conn.spill_used
                        conn.spill_used = conn.spill_end = 0
                        try:
                            os.ftruncate(conn.spill, 0)
                        except OSError:
                            pass
                    conn.w_since = 0.0
                else:
                    if not conn.w_since:
                        conn.w_since = conn.w_last = now
                        conn.w_sent = conn.w_delivered = 0
                        conn.w_outq0 = _unsent(conn.fd)
                    if progressed:
                        conn.w_last = now
                        conn.w_sent += progressed
                if progressed:
                    self.cond.notify_all()
        if finished is None:
            if conn.task is None:
                self._close(conn)
            else:
                self._close_socket_only(conn)
            return
        if finished and conn.finishing:
            self._complete(conn)
            return
        self._set_events(conn)

    def _release_out(self, conn: Conn) -> None:
        """Drop what was queued for a connection that is gone (lock held)."""
        for item in conn.out:
            if type(item) is list:
                if item[3]:
                    try:
                        os.close(item[0])
                    except OSError:
                        pass
            else:
                self.mem_total -= len(item)
        conn.out.clear()
        conn.out_mem = 0
        if conn.spill is not None:
            self.disk_total -= conn.spill_used
            conn.spill_used = 0
            try:
                os.close(conn.spill)
            except OSError:
                pass
            conn.spill = None

    def _complete(self, conn: Conn) -> None:
        """The response went out entirely: next request, or close."""
        conn.finishing = False
        conn.requests += 1
        stream = conn.stream
        conn.stream = None
        conn.req = None
        body_done = stream is None or stream.done
        if conn.aborted:
            self._close(conn)
            return
        if (not conn.keep or conn.eof or not body_done or self.retiring
                or not self.keepalive_timeout or self.draining):
            if ((self.retiring or self.hand_over) and conn.keep and not conn.eof and body_done
                    and self.keepalive_timeout):
                conn.t_first = time.monotonic()
                conn.state = IDLE
                if self._give_away(conn, conn.buf):
                    return
            if not body_done:
                self._linger(conn)
            else:
                self._close(conn)
            return
        conn.state = IDLE
        conn.receiver = None
        conn.paused_input = False
        conn.t_body = 0.0
        conn.idle_since = time.monotonic()
        conn.handoff_ok = True
        if conn.buf:
            conn.state = HEAD
            conn.t_first = time.monotonic()
            conn.heads = HeadReader(self.service.limits)
            self._advance(conn)
        else:
            self._set_events(conn)

    # ----------------------------------------------------------------- failing

    def _reject(self, conn: Conn, error: HTTPError, linger: bool = True) -> None:
        """Answer a request that never reached the app, then close."""
        log.info("%d %s from %s: %s", error.status, error.reason, _client(conn.peer), error.detail)
        body = f"{error.status} {error.reason}: {error.detail}\n".encode()
        head = (f"HTTP/1.1 {error.status} {error.reason}\r\n{wsgi.date_header()}"
                f"Content-Type: text/plain; charset=utf-8\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n").encode("latin-1")
        try:
            conn.sock.send(head + body)
        except OSError:
            pass
        rejected = getattr(conn.tracker, "rejected", None)
        if rejected is not None:
            rejected(error.status, len(body))
        if linger:
            self._linger(conn)
        else:
            self._close(conn)

    def _fail(self, conn: Conn, error: HTTPError) -> None:
        """A request in the app's hands can no longer complete (deadline, bad body):
        answer `error` if no response has begun, else close; the app's output is
        discarded and its reads of wsgi.input raise."""
        log.warning("%d %s for %s %s from %s: %s", error.status, error.reason,
                    conn.req.method if conn.req else "-", conn.req.path if conn.req else "-",
                    _client(conn.peer), error.detail)
        with self.cond:
            answered = not conn.head_sent and not conn.out
            conn.aborted = True
            self._release_out(conn)
            self.cond.notify_all()
        if conn.stream is not None:
            conn.stream.fail(Aborted(error.detail))
        if answered:
            body = f"{error.status} {error.reason}: {error.detail}\n".encode()
            head = (f"HTTP/1.1 {error.status} {error.reason}\r\n{wsgi.date_header()}"
                    f"Content-Type: text/plain; charset=utf-8\r\nContent-Length: {len(body)}\r\n"
                    "Connection: close\r\n\r\n").encode("latin-1")
            try:
                conn.sock.send(head + body)
            except OSError:
                pass
        if conn.task is None:
            self._linger(conn) if answered else self._close(conn)
        else:
            # Its thread still runs; the connection goes now, the thread's output nowhere.
            if answered:
                self._linger_detached(conn)
            else:
                self._close_socket_only(conn)

    def _linger(self, conn: Conn) -> None:
        try:
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError:
            self._close(conn)
            return
        conn.state = LINGER
        conn.buf = b""
        conn.lingered = 0
        conn.t_first = time.monotonic()
        conn.eof = False
        self._set_events(conn)

    def _linger_detached(self, conn: Conn) -> None:
        conn.task = None
        self._linger(conn)

    def _discard(self, conn: Conn) -> None:
        try:
            data = conn.sock.recv(RECV_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        conn.lingered += len(data)
        if not data or conn.lingered > LINGER_BYTES:
            self._close(conn)

    def _close_socket_only(self, conn: Conn) -> None:
        """Close the client's connection while a thread still runs its request."""
        conn.task = None
        self._close(conn)

    def _close(self, conn: Conn) -> None:
        if conn.state == CLOSED:
            return
        if conn.events:
            try:
                self.selector.unregister(conn.sock)
            except (KeyError, ValueError, OSError):
                pass
            conn.events = 0
        self.conns.pop(conn.fd, None)
        with self.cond:
            conn.aborted = True
            self._release_out(conn)
            self.cond.notify_all()
        if conn.stream is not None and not conn.stream.done:
            conn.stream.fail(Aborted("connection closed"))
        conn.state = CLOSED
        try:
            conn.sock.close()
        except OSError:
            pass
        self._resume_accepting()

    def _resume_accepting(self) -> None:
        if self.paused and len(self.conns) < self.worker_connections:
            self._listen(True)

    # ----------------------------------------------------------------- deadlines

    def _sweep(self, now: float) -> None:
        config = self.config
        header_timeout = config.header_timeout
        for conn in list(self.conns.values()):
            state = conn.state
            if state == IDLE:
                limit = config.keepalive_timeout if conn.requests else header_timeout
                if now - conn.idle_since > limit and not conn.out:
                    self._close(conn)
            elif state == HEAD:
                if now - conn.t_first > header_timeout:
                    self.metrics.timeout("head")
                    self._reject(conn, RequestTimeout(f"request head not received within {header_timeout:g}s"))
            elif state == LINGER:
                if now - conn.t_first > LINGER_SECONDS:
                    self._close(conn)
            else:
                if (state == BODY or (conn.receiver is not None and not conn.paused_input)):
                    why = self._body_late(conn, now)
                    if why:
                        self.metrics.timeout("body")
                        if state == BODY:
                            self._reject(conn, RequestTimeout(why))
                        else:
                            self._fail(conn, RequestTimeout(why))
                        continue
                if conn.out and conn.w_since:
                    why = self._write_late(conn, now)
                    if why:
                        self.metrics.timeout("write")
                        log.warning("write deadline for %s %s to %s: %s; connection reset",
                                    conn.req.method if conn.req else "-",
                                    conn.req.path if conn.req else "-", _client(conn.peer), why)
                        # Reset, not close: a close would leave the kernel's socket
                        # buffer (megabytes) still trickling out to the slow client.
                        try:
                            conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                                 struct.pack("ii", 1, 0))
                        except OSError:
                            pass
                        if conn.task is None:
                            self._close(conn)
                        else:
                            self._close_socket_only(conn)
        if config.timeout:
            self._request_timeouts(now)

    def _body_late(self, conn: Conn, now: float) -> str:
        start = conn.t_body or conn.t_first
        received = conn.body_raw if conn.state == APP else len(conn.buf) - conn.head_len
        pause = self.config.header_timeout
        if pause and now - conn.t_last > pause:
            return f"no request body bytes for {pause:g}s"
        if self.body_min_rate and now - start > pause + received / self.body_min_rate:
            return (f"request body slower than {self.body_min_rate} bytes/s "
                    f"({received} bytes in {now - start:.0f}s)")
        if self.body_max_time and now - start > self.body_max_time:
            return f"request body not received within {self.body_max_time:g}s"
        return ""

    def _write_late(self, conn: Conn, now: float) -> str:
        # What the client took, not what the kernel took: the kernel's send buffer
        # (megabytes on a fast link) would hide a slow reader for a long time.
        unsent = _unsent(conn.fd)
        delivered = conn.w_sent + conn.w_outq0 - unsent if unsent >= 0 else conn.w_sent
        if delivered > conn.w_delivered:
            conn.w_delivered = delivered
            conn.w_last = now
        timeout = self.config.write_timeout
        if timeout and now - conn.w_last > timeout:
            return f"client read nothing for {timeout:g}s"
        elapsed = now - conn.w_since
        if self.write_min_rate and elapsed > timeout + conn.w_delivered / self.write_min_rate:
            return (f"client reads slower than {self.write_min_rate} bytes/s "
                    f"({conn.w_delivered} bytes in {elapsed:.0f}s)")
        if self.write_max_time and elapsed > self.write_max_time:
            return f"response not taken within {self.write_max_time:g}s"
        return ""

    def _request_timeouts(self, now: float) -> None:
        timeout = self.config.timeout
        for task in self.running:
            if task is None or task.abandoned or now - task.started <= timeout:
                continue
            task.abandoned = True
            self.metrics.timeout("request")
            req, conn = task.req, task.conn
            frame = sys._current_frames().get(task.ident)
            entries = traceback.extract_stack(frame) if frame is not None else []
            stack = "".join(traceback.format_list(
                [e for e in entries if not e.filename.endswith("threading.py")]))
            log.error("timeout: %s %s from %s running %.1fs > %gs: answered 504; this worker "
                      "is replaced; the stack of the request follows\n%s", req.method, req.path,
                      _client(conn.peer), now - task.started, timeout, stack.rstrip("\n"))
            conn.tracker.request_finished(504, 0)
            if conn.state == APP and conn.task is task:
                self._fail(conn, _GatewayTimeout(f"request ran longer than {timeout:g}s"))
            self.retire("request timeout")


def _exclusive(selector: selectors.BaseSelector, listener: socket.socket) -> bool:
    """Linux: wake only one of the workers waiting on a shared listening socket for a
    new connection (EPOLLEXCLUSIVE), not every one of them to race for one accept.
    The (re-)registration puts this worker at the back of the socket's wait queue.
    False where that is not available (the listener stays registered as it was)."""
    flag = getattr(select, "EPOLLEXCLUSIVE", 0)
    epoll = getattr(selector, "_selector", None)
    if not flag or not isinstance(epoll, select.epoll):
        return False
    fd = listener.fileno()
    try:
        epoll.unregister(fd)
    except OSError:
        return False
    try:
        epoll.register(fd, select.EPOLLIN | flag)
    except OSError:   # a kernel without it: as before
        epoll.register(fd, select.EPOLLIN)
        return False
    return True


def _unsent(fd: int) -> int:
    """Bytes in a socket's send queue the peer has not acknowledged (-1: unknown)."""
    if _TIOCOUTQ is None:
        return -1
    try:
        return struct.unpack("i", fcntl.ioctl(fd, _TIOCOUTQ, b"\0\0\0\0"))[0]
    except OSError:
        return -1


def _spill_file() -> int:
    """A temporary file for response bytes a slow client has not taken yet, already
    unlinked (nothing is left behind), its name still telling lsof what it was."""
    fd, path = tempfile.mkstemp(prefix="warp-response-")
    os.unlink(path)
    return fd


def _parse_request_start(value: str):
    """X-Request-Start from a proxy: ``t=<seconds|ms|µs since the epoch>``."""
    text = value.strip()
    if text.startswith("t="):
        text = text[2:]
    try:
        number = float(text)
    except ValueError:
        return None
    for scale in (1.0, 1e3, 1e6, 1e9):
        seconds = number / scale
        if seconds < 1e11:
            return seconds
    return None


def _client(peer) -> str:
    if isinstance(peer, tuple) and peer:
        return str(peer[0])
    return "unix"


class _ServiceUnavailable(HTTPError):
    status, reason = 503, "Service Unavailable"


class _GatewayTimeout(HTTPError):
    status, reason = 504, "Gateway Timeout"
