"""A worker process: run the connection loop, report state, stop when told.

Runs in the child after fork and never returns (``run`` ends in ``os._exit``). The
main thread runs the I/O loop (loop.py: every connection of this worker, accept,
parsing, deadlines, writing) and handles signals; it runs quick requests itself and
``threads`` request threads run the others (a watcher thread takes over the I/O while
a request on the main thread is slow). Between loop turns (at most a second apart) the worker beats its
heartbeat, notices a stop request or notices that its master died.

Signals: TERM graceful stop (serve what is already queued on the listening socket,
finish in-flight requests, then exit 0), INT/QUIT exit now, USR1 reopen log files,
ABRT dump every thread's Python stack (faulthandler) and die: the master sends it
when a request runs past the timeout and the loop could not answer it itself.
"""

from __future__ import annotations

import faulthandler
import itertools
import os
import random
import signal
import sys
import time
from typing import TYPE_CHECKING, Any, Iterable, Optional

from warp.runtime import proctitle
from warp.runtime.accesslog import AccessRecord
from warp.runtime.server.app import AppLoadError, load_app
from warp.runtime.server.config import ServerConfig
from warp.runtime.server.log import ServerLog
from warp.runtime.server.metrics import EXIT_MAX_MEMORY, EXIT_MAX_REQUESTS, MetricsTable, recorder
from warp.runtime.server.scoreboard import Scoreboard
from warp.runtime.server.sockets import Listener

if TYPE_CHECKING:  # the protocol side is imported when serving starts, not in the master
    from warp.runtime.server.loop import Handoff
    from warp.runtime.server.wsgi import WSGIApp

# Worker exit statuses the master understands (see Arbiter.reap_workers).
EXIT_OK = 0
EXIT_BOOT_ERROR = 3
EXIT_APP_LOAD_ERROR = 4

# How long a stopping worker keeps answering on idle keep-alive connections.
IDLE_GRACE = 1.0
# Heartbeats are written at most this often (the loop may turn much faster).
BEAT_INTERVAL = 0.2

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def current_rss() -> int:
    """Resident set size of this process in bytes (0 if unknown)."""
    try:
        with open("/proc/self/statm", "rb") as fh:
            return int(fh.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        try:
            import resource  # peak, not current: the best portable fallback
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        except Exception:
            return 0


class RequestTracker:
    """The ``tracker`` handed to ``serve_connection`` for one connection (see
    SERVER_CONTRACT): marks the worker busy/idle, writes the access log, counts
    requests towards max-requests and the memory ceiling."""

    __slots__ = ("worker", "thread", "client", "client_bytes", "method", "path", "query", "protocol",
                 "started", "started_at", "queued", "shown", "deferred")

    def rejected(self, status: int, bytes_sent: int) -> None:
        """A request refused before the app saw it (400, 408, 413...): access log and counts."""
        self.worker.metrics.rejected(status, bytes_sent)
        self.worker.log.access(AccessRecord(
            started=time.time(), duration=0.0, remote=self.client, method="-", path="-", query="", protocol="",
            status=status, bytes=bytes_sent, pid=self.worker.pid))

    def __init__(self, worker: "Worker", thread: int, client: str) -> None:
        self.worker = worker
        self.thread = thread
        self.client = client
        self.client_bytes = client.encode("utf-8", "replace")  # the scoreboard's, once
        self.method = ""
        self.path = ""
        self.query = ""
        self.protocol = ""
        self.started: Optional[float] = None
        self.started_at = 0.0
        self.queued = 0.0  # seconds the request waited for a thread (set by the loop)
        self.shown = False  # in the scoreboard and the busy metrics
        self.deferred = False  # marked only as "in a request since" (Scoreboard.inline_started)

    def request_started(self, method: str, path: str, query: str = "", protocol: str = "",
                        deferred: bool = False) -> None:
        """``deferred``: show the request only if the loop calls ``show`` (it does once
        the request has run long): a quick request run on the I/O thread ends before
        anyone could look, and writing it into the scoreboard entry and the busy metrics
        at its start and end cost about a tenth of the keep-alive throughput."""
        self.method, self.path, self.query, self.protocol = method, path, query, protocol
        self.started = time.monotonic()
        if self.worker.log.access_on:
            self.started_at = time.time()
        self.shown = False
        self.deferred = deferred
        if deferred:
            worker = self.worker
            worker.scoreboard.inline_started(worker.slot, self.started)
        else:
            self.show()

    def show(self) -> None:
        """The request in flight becomes visible: busy in the scoreboard (warp status, the
        master's request timeout) and in the metrics, since it started."""
        if self.started is None or self.shown:
            return
        self.shown = True
        worker = self.worker
        worker.metrics.request_started(self.thread, self.started, self.queued)
        worker.scoreboard.request_started(worker.slot, self.thread, self.method, self.path, self.client_bytes,
                                          self.started)

    def request_finished(self, status: int, bytes_sent: int) -> None:
        if self.started is None:
            return
        now = time.monotonic()
        duration = now - self.started
        self.started = None
        worker = self.worker
        if self.shown:
            worker.metrics.request_finished(self.thread, self.method, status, bytes_sent, duration)
        else:
            worker.metrics.request_done(self.method, status, bytes_sent, duration, self.queued)
        if worker.slow_request and duration > worker.slow_request:
            worker.log.warning(f"slow request: {self.method} {self.path} {status} took {duration:.3f}s "
                               f"(worker {worker.slot} pid {worker.pid}, queued {self.queued:.3f}s, "
                               f"from {self.client})")
        if self.deferred:
            worker.scoreboard.inline_finished(worker.slot)
        worker.after_request(self.thread, self.shown)
        if worker.log.access_on:
            worker.log.access(AccessRecord(
                started=self.started_at, duration=duration, remote=self.client, method=self.method,
                path=self.path, query=self.query, protocol=self.protocol, status=status, bytes=bytes_sent,
                pid=worker.pid))

    def should_close(self) -> bool:
        return self.worker.draining and not self.worker.handing_over

    def abandon(self) -> None:
        """The connection ended mid-request (client gone, protocol error after start)."""
        if self.started is not None:
            self.started = None
            if self.deferred:
                self.worker.scoreboard.inline_finished(self.worker.slot)
            self.worker.after_request(self.thread, self.shown)


def _client_text(addr) -> str:
    if isinstance(addr, tuple) and addr:
        return str(addr[0])
    return "unix" if addr in ("", None) else str(addr)


class Worker:
    def __init__(self, slot: int, generation: int, listeners: list[Listener], app: Optional[WSGIApp],
                 config: ServerConfig, log: ServerLog, scoreboard: Scoreboard, master_pid: int,
                 sigmask: Optional[Iterable[int]] = None, notify_fd: Optional[int] = None,
                 handoff: Optional[Handoff] = None, metrics: Optional[MetricsTable] = None) -> None:
        self.slot = slot
        self.generation = generation
        self.listeners = listeners
        self.app = app
        self.config = config
        self.log = log
        self.scoreboard = scoreboard
        # Counts into this worker's slot of the shared metrics table (metrics.py).
        self.metrics = recorder(metrics, slot)
        self.slow_request = getattr(config, "slow_request", 0) or 0
        self.max_memory = config.max_memory
        self.master_pid = master_pid
        self.sigmask = sigmask  # the mask to restore once our handlers are installed
        self.notify_fd = notify_fd  # the master's wake-up pipe: poke it when ready
        self.alive = True
        self.pid = os.getpid()   # set again in the child (_run)
        # Set once new connections are no longer taken: every response from then on
        # says Connection: close (see _drain).
        self.draining = False
        self.sockets: list = []
        self.max_requests = 0
        self.handoff = handoff
        self.loop: Any = None
        self.handing_over = False
        self._last_beat = 0.0
        self._served = itertools.count(1)
        self.served = 0       # requests finished so far (after_request)
        self._title = ""
        self._last_rss_at = 0.0
        self._stop_logged = False

    # --- lifecycle --------------------------------------------------------------------

    def run(self) -> None:
        """Boot and serve until told to stop; never returns."""
        status = EXIT_BOOT_ERROR
        try:
            status = self._run()
        except SystemExit as exc:
            status = exc.code if isinstance(exc.code, int) else EXIT_BOOT_ERROR
        except BaseException:
            self.log.exception(f"worker {os.getpid()} crashed")
            status = EXIT_BOOT_ERROR
        finally:
            self._exit(status)

    def _flush(self) -> None:
        """What the requests of the last loop turn left to write: access lines, counts."""
        self.log.flush_access()
        self.metrics.flush()

    def _exit(self, status: int) -> None:
        try:
            # The count of the requests since the last beat: the master adds it up
            # when it reaps this worker.
            if self.served:
                self.scoreboard.beat(self.slot, requests=self.served)
            self._flush()
            sys.stdout.flush()
            sys.stderr.flush()
        except Exception:
            pass
        os._exit(status)

    def _run(self) -> int:
        self.pid = os.getpid()
        self.scoreboard.set_pid(self.slot, self.pid)
        self._init_signals()
        if self.app is None:
            from warp.runtime.server.app import prepare_path
            prepare_path(os.getcwd())
            try:
                self.app = load_app(self.config.entrypoint)
            except AppLoadError as exc:
                self.log.error(f"worker {os.getpid()}: {exc.summary}", exc.details)
                return EXIT_APP_LOAD_ERROR
        from warp.runtime.server.connection import serve_connection  # the protocol side: workers only
        self._serve_connection = serve_connection
        for listener in self.listeners:
            sock = listener.worker_socket()
            sock.setblocking(False)
            self.sockets.append(sock)
        if self.config.max_requests:
            self.max_requests = self.config.max_requests + random.randint(0, self.config.max_requests_jitter)
            self.scoreboard.set_max_requests(self.slot, self.max_requests)
        self.scoreboard.beat(self.slot, current_rss())
        from warp.runtime.server.scoreboard import READY
        self.scoreboard.set_state(self.slot, READY)
        self.log.debug(f"worker {os.getpid()} ready (generation {self.generation})")
        if self.notify_fd is not None:
            # Wake the master now rather than at its next tick, so that a reload
            # retires the old workers as soon as the new ones can serve.
            try:
                os.write(self.notify_fd, b"r")
                os.close(self.notify_fd)
            except OSError:
                pass
            self.notify_fd = None
        self._serve()
        self._close_listeners()
        return EXIT_OK

    def _close_listeners(self) -> None:
        """Drop this worker's copy of the listening sockets as soon as it stops taking
        connections. On a reload the master and the new workers still hold them; on a
        stop the master has closed its copy, so once every worker has closed its own the
        kernel refuses new connections instead of queueing them for nobody."""
        for sock in self.sockets:
            try:
                sock.close()
            except OSError:
                pass

    def _init_signals(self) -> None:
        # The master's handlers and wakeup fd were inherited; workers have their own.
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGHUP, signal.SIGTTIN, signal.SIGTTOU, signal.SIGWINCH):
            signal.signal(sig, signal.SIG_IGN)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, self._handle_term)
        signal.signal(signal.SIGINT, self._handle_quit)
        signal.signal(signal.SIGQUIT, self._handle_quit)
        signal.signal(signal.SIGUSR1, self._handle_usr1)
        signal.signal(signal.SIGUSR2, self._handle_usr2)
        signal.signal(signal.SIGABRT, signal.SIG_DFL)
        # SIGABRT (from the master on timeout) and crashes print every thread's stack.
        # No core file: a killed worker must not litter the app folder.
        try:
            import resource
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        except Exception:
            pass
        if self.log.error_fd is not None:
            faulthandler.enable(file=self.log.error_fd, all_threads=True)
        if self.sigmask is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, self.sigmask)

    def _handle_term(self, signum, frame) -> None:
        self.stop("stopping gracefully")

    def _handle_usr2(self, signum, frame) -> None:
        # From the master: siblings keep serving (reload, fewer workers, replacement).
        self.handing_over = True
        self.stop("stopping, handing its connections to the other workers")

    def _handle_quit(self, signum, frame) -> None:
        os._exit(EXIT_OK)

    def _handle_usr1(self, signum, frame) -> None:
        self.log.reopen()

    def stop(self, why: str) -> None:
        if self.alive:
            self.alive = False
            self.draining = True  # every response from now on says Connection: close
            if not self._stop_logged:
                self._stop_logged = True
                self.log.debug(f"worker {os.getpid()} {why}")
            if self.loop is not None:
                self.loop._poke()  # out of select() now, not at its next timeout

    # --- serving ----------------------------------------------------------------------

    def _beat(self) -> None:
        now = time.monotonic()
        if now - self._last_beat < BEAT_INTERVAL:
            return
        self._last_beat = now
        if self.loop is not None:
            self.metrics.census(*self.loop.census())
        if now - self._last_rss_at >= 1.0:
            self._last_rss_at = now
            self.scoreboard.beat(self.slot, current_rss(), self.served)
            self._show_title(now)
        else:
            self.scoreboard.beat(self.slot, requests=self.served)

    def _show_title(self, now: float) -> None:
        """``ps`` shows what this worker is doing, refreshed once a second (never per
        request: the title is for a person looking, not worth a cost on the hot path)."""
        view = self.scoreboard.read(self.slot)
        oldest = view.oldest_request()
        if oldest is None:
            doing = "idle"
        else:
            more = f" +{len(view.busy) - 1}" if len(view.busy) > 1 else ""
            doing = f"busy {oldest.method} {oldest.path} {now - oldest.started:.1f}s{more}"
        title = f"warp worker {self.slot} {doing}"
        if title != self._title:
            self._title = title
            proctitle.set_title(title, f"warp worker {self.slot}")

    def _check_master(self) -> None:
        if os.getppid() != self.master_pid:
            self.log.warning(f"worker {os.getpid()}: master {self.master_pid} is gone, stopping")
            self.stop("master gone")

    def _serve(self) -> None:
        """The I/O loop on this (the main) thread, the app on ``threads`` request
        threads (see loop.py)."""
        from warp.runtime.server.loop import ConnectionLoop
        loop = ConnectionLoop(self.sockets, self.app, self.config,
                              tracker_for=lambda addr: RequestTracker(self, 0, _client_text(addr)),
                              handoff=self.handoff, scoreboard=self.scoreboard, slot=self.slot,
                              on_retire=self._retiring, metrics=self.metrics,
                              on_turn=self._relief_turn)
        self.loop = loop
        self.log.hold_access()
        while self.alive:
            self._beat()
            self._check_master()
            loop.run_once(1.0)
            self._flush()
        self.draining = True
        self._drain(loop)

    def _relief_turn(self) -> None:
        """Between the turns the loop's watcher takes while a slow request runs on this
        (the main) thread: what _serve does between its own turns."""
        self._flush()
        self._beat()
        self._check_master()
        if not self.alive:
            # Told to stop: the drain (and the exit) cannot wait for the slow request
            # to give the main thread back; from here, as a request thread would let it.
            self.draining = True
            self._drain(self.loop)
            self._close_listeners()
            self._exit(EXIT_OK)

    def _retiring(self, why: str) -> None:
        """The loop gave up on a request (timeout): ask the master for a replacement;
        it sends TERM once that one is ready."""
        from warp.runtime.server.scoreboard import RETIRING
        self.scoreboard.set_state(self.slot, RETIRING)

    def _drain(self, loop) -> None:
        """Graceful stop: serve the connections already waiting in the listen backlog,
        finish what clients already sent, then close, within graceful_timeout.

        Idle keep-alive connections are not closed at once: a client may have a request
        on its way, and closing under it loses that request (the client sees a reset,
        not a response). For IDLE_GRACE they are still read, and what arrives is
        answered with Connection: close; only then are the quiet ones closed."""
        now = time.monotonic()
        deadline = now + self.config.graceful_timeout
        idle_deadline = now + min(IDLE_GRACE, self.config.keepalive_timeout or IDLE_GRACE)
        if self.handing_over and self.handoff is not None:
            loop.start_hand_over()
            self._close_listeners()
            self.sockets = []
        else:
            loop.set_draining()
        listening = bool(self.sockets)
        cap = self.config.worker_connections
        while time.monotonic() < deadline:
            if listening and len(loop.conns) < cap and not loop.retiring:
                loop.accept_backlog()
                if len(loop.conns) < cap:
                    # The backlog is empty: from now on the kernel refuses (once every
                    # process has closed its copy of the listening socket).
                    loop.stop_accepting()
                    self._close_listeners()
                    listening = False
            elif listening and loop.retiring:
                loop.stop_accepting()
                self._close_listeners()
                listening = False
            self._beat()
            loop.run_once(0.05)
            self._flush()
            if time.monotonic() >= idle_deadline:
                loop.close_idle()
                if not listening and not loop.conns:
                    break
        if loop.conns:
            states = sorted((c.state, c.req.path if c.req else "-") for c in loop.conns.values())
            self.log.warning(f"worker {os.getpid()}: graceful timeout: closing "
                             f"{len(states)} connections still open (states {states})")
        self._close_listeners()
        loop.close()

    # --- after each request -------------------------------------------------------------

    def after_request(self, thread: int, shown: bool) -> None:
        """``shown``: the request is in the scoreboard, whose entry is now cleared;
        otherwise the count reaches the scoreboard with the next beat."""
        # next() on a count is atomic under the GIL: request threads and the I/O thread
        # finish requests concurrently. `served` is what the beats write (the highest).
        total = next(self._served)
        if total > self.served:
            self.served = total
        rss = current_rss() if self.max_memory else None
        if shown or rss is not None:
            self.scoreboard.request_finished(self.slot, thread, self.served, rss)
        if self.max_requests and total >= self.max_requests:
            self.log.info(f"worker {os.getpid()} served {total} requests (max-requests "
                          f"{self.max_requests}): recycling")
            self.metrics.exit_cause(EXIT_MAX_REQUESTS)
            self.handing_over = True
            self.stop("recycling after max-requests")
        elif rss is not None and rss > self.config.max_memory * 1024 * 1024:
            self.log.warning(f"worker {os.getpid()} uses {rss // (1024 * 1024)} MiB, above "
                             f"max-memory {self.config.max_memory} MiB: recycling")
            self.metrics.exit_cause(EXIT_MAX_MEMORY)
            self.handing_over = True
            self.stop("recycling after max-memory")
