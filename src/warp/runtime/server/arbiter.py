"""The master process: bind, fork workers, then only watch, reap and replace.

Signal handlers only queue the signal and wake the loop. The loop waits (select on a
self-pipe and the stats socket, one-second timeout), then in order: ``reap_workers``,
``handle_<signal>`` for each queued signal, ``murder_workers`` (timeouts),
``manage_workers`` (spawn/retire to reach the target). ``spawn_worker`` forks and the
child never returns into this code.

Reload (HUP) starts a new generation of workers with freshly imported code while the
old ones keep serving; the old ones are told to stop gracefully only once the new
ones are ready, and the listening socket never closes, so no connection is refused or
lost. If the new code does not import, the reload is abandoned and the old workers
keep serving.

The worker table lives in shared memory (``scoreboard``), which gives the master
per-request timeouts ("harakiri": SIGABRT makes the worker print its stack, SIGKILL
follows), heartbeats, and the stats document.

As PID 1 in a container it also reaps orphans it did not fork, and it exits with a
status that says what happened (see the EXIT_* constants).
"""

from __future__ import annotations

import gc
import os
import select
import signal
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional

from warp.runtime import proctitle
from warp.runtime.server import metrics as mx
from warp.runtime.server import scoreboard as sb
from warp.runtime.server.app import AppLoadError, load_app, prepare_path
from warp.runtime.server.config import ServerConfig
from warp.runtime.server.log import ServerLog
from warp.runtime.server.services import Services
from warp.runtime.server.sockets import BindError, bind_all
from warp.runtime.server.stats import StatsServer
from warp.runtime.server.worker import EXIT_APP_LOAD_ERROR, EXIT_BOOT_ERROR, Worker

# Exit statuses of the server (the master process).
EXIT_OK = 0
EXIT_ERROR = 1             # unexpected failure of the master itself
EXIT_USAGE = 2             # bad setting or address (also argparse's status)
EXIT_WORKER_BOOT_ERROR = EXIT_BOOT_ERROR  # 3: workers crash before serving
# EXIT_APP_LOAD_ERROR (4, from .worker): the application does not import

# A worker that dies this soon after it was spawned counts towards a crash loop.
CRASH_WINDOW = 10.0
CRASH_BACKOFF_MAX = 10.0
# After SIGABRT a timed-out worker gets this long to print its stack before SIGKILL.
ABORT_GRACE = 2.0
FAST_STOP_GRACE = 2.0
# Seconds past --timeout before the master kills a worker that did not answer its
# stuck request itself.
TIMEOUT_BACKSTOP = 3.0

def signal_name(num: int) -> str:
    try:
        return signal.Signals(num).name
    except ValueError:
        return str(num)


@dataclass
class WorkerRecord:
    pid: int
    slot: int
    generation: int
    spawned: float                      # monotonic
    stopping_since: Optional[float] = None
    abort_sent: Optional[float] = None  # SIGABRT sent at (monotonic)
    kill_reason: str = ""               # why the master killed it, for the reap log
    in_request: bool = False            # it died while running a request
    cause: str = ""                     # why it is being replaced (metrics.CAUSES), if the master knows
    exit_cause: str = ""                # why it stopped by itself (max-requests, max-memory)


class Arbiter:
    SIGNALS = (signal.SIGHUP, signal.SIGQUIT, signal.SIGINT, signal.SIGTERM, signal.SIGTTIN,
               signal.SIGTTOU, signal.SIGUSR1, signal.SIGUSR2, signal.SIGWINCH, signal.SIGCHLD)

    def __init__(self, config: ServerConfig, log: Optional[ServerLog] = None) -> None:
        self.config = config
        self.log = log or ServerLog.from_config(config)
        self.pid = os.getpid()
        self.workers: Dict[int, WorkerRecord] = {}
        self.target = config.workers
        self.generation = 1
        self.generations_ready: set = set()
        self.sig_queue: List[int] = []
        self.listeners: list = []
        self.bound: List[str] = []
        self.cwd = ""
        self.stats: Optional[StatsServer] = None
        self.app: Optional[Callable[..., Any]] = None  # loaded here only with --preload
        self.started = time.time()
        self.started_monotonic = time.monotonic()
        self.stopping: Optional[str] = None   # None, "graceful" or "fast"
        self.stop_deadline = 0.0
        self.exit_status = EXIT_OK
        self.crashes = 0                       # consecutive quick deaths
        self.next_spawn_at = 0.0
        self.requests_at_reap = 0              # requests of workers already gone
        self._preload_modules: Optional[set] = None
        self._wake_r = self._wake_w = -1
        # Made in setup(), once the worker and thread counts are known.
        self.scoreboard: sb.Scoreboard
        self.handoff: Any = None
        self.metrics: mx.MetricsTable
        self.aggregator: mx.Aggregator
        self.metrics_server: Any = None
        self.restarts: Dict[str, int] = {cause: 0 for cause in mx.CAUSES}
        # Side services live beside the workers and stop after them (services.py).
        self.services = Services(config.services, self.log.info)
        self.services_deadline: Optional[float] = None

    # --- setup --------------------------------------------------------------------------

    def setup(self) -> None:
        cfg = self.config
        self.log.install()
        if cfg.chdir:
            os.chdir(cfg.chdir)
        self.cwd = os.getcwd()
        prepare_path(self.cwd)
        self.listeners = bind_all(cfg.bind, cfg.backlog, cfg.reuse_port)
        self.bound = [listener.bound_text for listener in self.listeners]
        if cfg.preload:
            self._preload_modules = set(sys.modules)
            self.app = load_app(cfg.entrypoint)
            # Move everything imported so far out of the collector's reach: the
            # collector then never touches (and so never copies) those pages in workers.
            if hasattr(gc, "freeze"):
                gc.collect()
                gc.freeze()
        # Room for a full reload (old and new generation side by side) plus TTIN headroom.
        self.scoreboard = sb.Scoreboard(max(64, 3 * cfg.workers), max(1, cfg.threads))
        self.metrics = mx.MetricsTable(self.scoreboard.capacity, max(1, cfg.threads))
        self.aggregator = mx.Aggregator(self.metrics)
        if cfg.metrics:
            from warp.runtime.server.exposition import MetricsServer
            try:
                self.metrics_server = MetricsServer(cfg.metrics)
            except ValueError as exc:
                raise BindError(f"--metrics: {exc}") from None
            except OSError as exc:
                raise BindError(f"--metrics {cfg.metrics}: cannot listen there: {exc.strerror or exc}") from None
        # The queue of ready connections every worker can hand to a sibling (loop.py).
        from warp.runtime.server.loop import Handoff
        self.handoff = Handoff()
        self.stats, warning = StatsServer.open(cfg.stats, self.cwd)
        if warning:
            self.log.warning(warning)
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        for sig in self.SIGNALS:
            signal.signal(sig, self._signal)
        proctitle.set_title(f"warp master {cfg.entrypoint}", "warp master")
        from warp import __version__
        self.log.info(f"warp server {__version__} (Python {sys.version.split()[0]}) master pid {self.pid}")
        for listener in self.listeners:
            self.log.info(f"Listening at {listener.url}")
        self.log.info(f"Application {cfg.entrypoint}, {self.target} workers x {cfg.threads} threads"
                      + (", preloaded" if cfg.preload else "")
                      + (f", stats at {self.stats.where}" if self.stats else ""))
        if self.metrics_server:
            self.log.info(f"Metrics at {self.metrics_server.where}")

    def _signal(self, signum, frame) -> None:
        # Handlers only enqueue and wake the loop; the work happens in run().
        if len(self.sig_queue) < 10:
            self.sig_queue.append(signum)
        try:
            os.write(self._wake_w, b".")
        except OSError:
            pass

    # --- main loop ----------------------------------------------------------------------

    def run(self) -> int:
        """Serve until stopped; returns the process exit status."""
        try:
            self.setup()
        except BindError as exc:
            self.log.error(str(exc))
            return EXIT_USAGE
        except AppLoadError as exc:
            self.log.error(exc.summary, exc.details)
            self._close()
            return EXIT_APP_LOAD_ERROR
        try:
            self.manage_workers()
            while True:
                # Signals first: a TERM sent to the whole process group (systemd, a
                # terminal's ^C, docker stop of a shell) reaches the workers too, and
                # their exit must be read as part of the stop, not as a crash.
                self._handle_signals()
                self.reap_workers()
                self._handle_signals()
                if self.stopping:
                    if not self.workers:
                        if not self._stop_services():
                            break
                    else:
                        self._stop_tick()
                else:
                    self.murder_workers()
                    self.manage_workers()
                    if self.stopping:  # manage_workers found a fatal condition
                        continue
                    self.services.start_due()
                self.sleep()
        except Exception:
            self.log.exception("master crashed; stopping workers")
            self.exit_status = EXIT_ERROR
            self._kill_all(signal.SIGKILL)
            self._reap_blocking(5.0)
        finally:
            self._close()
        self.log.info(f"master {self.pid} exiting with status {self.exit_status}")
        return self.exit_status

    def _handle_signals(self) -> None:
        while self.sig_queue:
            sig = self.sig_queue.pop(0)
            handler = getattr(self, "handle_" + signal_name(sig)[3:].lower(), None)
            if handler:
                handler()

    def sleep(self) -> None:
        timeout = 1.0
        for due in (self.next_spawn_at, self.services.next_due()):
            if due:
                timeout = max(0.0, min(timeout, due - time.monotonic()))
        self.aggregator.tick([w.slot for w in self.workers.values()])
        waitables = [self._wake_r] + ([self.stats] if self.stats else [])
        writables: list = []
        if self.metrics_server:
            waitables += self.metrics_server.readers()
            writables = self.metrics_server.writers()
        try:
            ready, can_write, _ = select.select(waitables, writables, [], timeout)
        except InterruptedError:
            return
        if self.metrics_server and (ready or can_write):
            try:
                self.metrics_server.handle(ready, can_write, self.snapshot)
            except Exception:
                self.log.exception("metrics endpoint failed (the server keeps running)")
        if self._wake_r in ready:
            try:
                while os.read(self._wake_r, 4096):
                    pass
            except (BlockingIOError, InterruptedError):
                pass
        if self.stats and self.stats in ready:
            self.stats.handle(self.snapshot)

    def _close(self) -> None:
        for listener in self.listeners:
            listener.close(unlink=True)
        self.listeners = []
        if self.stats:
            self.stats.close()
            self.stats = None
        if self.metrics_server:
            self.metrics_server.close()
            self.metrics_server = None

    # --- signal handlers (run from the loop, not from the signal) ------------------------

    def handle_chld(self) -> None:
        pass  # reap_workers runs at the top of every loop turn

    def handle_hup(self) -> None:
        if self.stopping:
            return
        self.generation += 1
        self.log.info(f"HUP: reloading - starting {self.target} workers with fresh code "
                      f"(generation {self.generation}); old workers finish their requests")
        # Services keep running unless their declaration changed.
        self.services.reload(self.config.services)

    def handle_term(self) -> None:
        self.stop(graceful=True, why="TERM")

    def handle_int(self) -> None:
        self.stop(graceful=False, why="INT")

    def handle_quit(self) -> None:
        self.stop(graceful=False, why="QUIT")

    def handle_ttin(self) -> None:
        if self.target >= self.scoreboard.capacity // 2:
            self.log.warning(f"TTIN: already at the maximum of {self.target} workers")
            return
        self.target += 1
        self.log.info(f"TTIN: {self.target} workers")

    def handle_ttou(self) -> None:
        if self.target <= 1:
            self.log.info("TTOU: keeping the last worker")
            return
        self.target -= 1
        self.log.info(f"TTOU: {self.target} workers")

    def handle_usr1(self) -> None:
        self.log.reopen()
        self._kill_all(signal.SIGUSR1)
        self.log.info("USR1: log files reopened")

    def handle_usr2(self) -> None:
        self.log.info("USR2 ignored (use HUP to reload)")

    def handle_winch(self) -> None:
        pass

    # --- stopping ----------------------------------------------------------------------

    def stop(self, graceful: bool, why: str, status: int = EXIT_OK) -> None:
        """Stop accepting (the master's copy of the sockets closes now; the kernel
        stops queueing connections once the workers close theirs), then stop workers:
        gracefully (TERM, up to graceful_timeout) or fast (QUIT)."""
        if status != EXIT_OK:
            self.exit_status = status
        if self.stopping == "fast" or (self.stopping == "graceful" and graceful):
            return
        self.stopping = "graceful" if graceful else "fast"
        grace = self.config.graceful_timeout if graceful else FAST_STOP_GRACE
        self.stop_deadline = time.monotonic() + grace
        self.log.info(f"{why}: stopping {'gracefully' if graceful else 'now'}"
                      + (f" (up to {grace:g}s for in-flight requests)" if graceful and self.workers else ""))
        self._kill_all(signal.SIGTERM if graceful else signal.SIGQUIT)
        for listener in self.listeners:
            # Graceful: only the master's copy closes; each worker accepts what is
            # already queued (the listen backlog), then closes its own, and once the
            # last one has, the kernel refuses new connections. Fast: shutdown() makes
            # the kernel refuse at once, for every process holding the socket.
            if not graceful:
                listener.shutdown()
            listener.close(unlink=False)

    def _stop_tick(self) -> None:
        if time.monotonic() >= self.stop_deadline:
            alive = list(self.workers)
            if alive:
                self.log.warning(f"graceful timeout: killing workers {', '.join(map(str, alive))}")
                self._kill_all(signal.SIGKILL)
                self._reap_blocking(5.0)
                self.workers.clear()

    def _stop_services(self) -> bool:
        """Once the workers are gone: TERM the services, KILL what outlives the grace.
        True while any is still running."""
        if not self.services.running():
            return False
        now = time.monotonic()
        if self.services_deadline is None:
            grace = self.config.graceful_timeout if self.stopping == "graceful" else FAST_STOP_GRACE
            self.services_deadline = now + grace
            self.services.stop(signal.SIGTERM)
        elif now >= self.services_deadline:
            self.log.warning("services outlived the graceful timeout: killing them")
            self.services.stop(signal.SIGKILL)
            self.services_deadline = now + FAST_STOP_GRACE
        return True

    def _kill_all(self, sig: int) -> None:
        for pid in list(self.workers):
            self.kill_worker(pid, sig)

    def kill_worker(self, pid: int, sig: int) -> None:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass  # already dead; reap_workers will collect it

    def _reap_blocking(self, limit: float) -> None:
        deadline = time.monotonic() + limit
        while self.workers and time.monotonic() < deadline:
            self.reap_workers()
            if self.workers:
                time.sleep(0.05)

    # --- reaping -----------------------------------------------------------------------

    def reap_workers(self) -> None:
        """Collect every exited child (orphans too, when we are PID 1) and decide what
        each worker's death means."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            except InterruptedError:
                continue
            if pid == 0:
                return
            record = self.workers.pop(pid, None)
            if record is None:
                if self.services.owns(pid):
                    self.services.exited(pid, os.waitstatus_to_exitcode(status))
                else:
                    self.log.debug(f"reaped process {pid} (not a worker)")
                continue
            view = self.scoreboard.read(record.slot)
            self.requests_at_reap += view.requests
            record.in_request = view.pid == record.pid and bool(view.busy or view.inline_since)
            record.exit_cause = self.aggregator.worker_gone(record.slot)
            self.metrics.reset(record.slot)
            self.scoreboard.reset(record.slot)
            self._worker_exited(record, status)

    def _worker_exited(self, record: WorkerRecord, status: int) -> None:
        pid = record.pid
        if os.WIFSIGNALED(status):
            how = f"killed by {signal_name(os.WTERMSIG(status))}"
            code = None
        else:
            code = os.WEXITSTATUS(status)
            how = f"exited with status {code}"
        cause = self._restart_cause(record, code)
        if cause:
            self.restarts[cause] += 1
        if self.stopping:
            self.log.debug(f"worker {pid} {how}")
            return
        if code in (EXIT_APP_LOAD_ERROR, EXIT_BOOT_ERROR) and record.generation not in self.generations_ready:
            self._boot_failed(record, code)
            return
        if record.stopping_since is not None and not record.kill_reason:
            self.log.info(f"worker {pid} stopped ({how})")
            return
        if (record.kill_reason.startswith("startup timeout")
                and record.generation not in self.generations_ready):
            # No worker of this code ever got ready: it cannot start, so do not loop.
            self.log.error(f"worker {pid} {how} ({record.kill_reason})")
            self._boot_failed(record, EXIT_BOOT_ERROR)
            return
        if code == 0 and not record.kill_reason:
            # Exit 0 is a graceful stop: someone else sent it TERM (a signal to the
            # whole process group whose TERM to us is still on its way, or a user).
            self.log.info(f"worker {pid} stopped ({how}); replacing it")
            return
        if record.kill_reason:
            self.log.warning(f"worker {pid} {how} ({record.kill_reason}); replacing it")
        else:
            self.log.error(f"worker {pid} {how} unexpectedly; replacing it")
        if record.in_request:
            # A request killed it (segfault, abort, os._exit in the app), not its
            # start-up: replace it at once. Backing off would only leave its siblings
            # alone with the traffic; the crash-loop backoff is for workers that die
            # on their own, before or right after they got ready.
            return
        self._note_crash(record)

    def _restart_cause(self, record: WorkerRecord, code: Optional[int]) -> str:
        """Why a reaped worker is being replaced (metrics.CAUSES), or '' when it is not a
        replacement: the server stops, fewer workers are wanted, or its code never started."""
        if self.stopping:
            return ""
        never_ready = record.generation not in self.generations_ready
        if never_ready and (code in (EXIT_APP_LOAD_ERROR, EXIT_BOOT_ERROR)
                            or record.kill_reason.startswith("startup timeout")):
            return ""
        if record.cause:
            return record.cause
        if record.kill_reason:
            return "timeout"
        if record.exit_cause:
            return record.exit_cause
        if record.stopping_since is not None or code == 0:
            return ""  # asked to stop (fewer workers, an abandoned reload) or TERM from outside
        return "crash"

    def _boot_failed(self, record: WorkerRecord, code: int) -> None:
        what = "could not load the application" if code == EXIT_APP_LOAD_ERROR else "failed to start"
        if record.generation != self.generation:
            # A superseded generation, or the rest of an abandoned reload: nothing
            # depends on it any more.
            self.log.info(f"worker {record.pid} of generation {record.generation} {what}")
            return
        older = [w for w in self.workers.values() if w.generation < record.generation]
        if record.generation == self.generation and older and record.generation > 1:
            # A reload whose new code is broken: keep serving with the old workers.
            self.log.error(f"reload abandoned: the new worker {what}; "
                           f"{len(older)} workers keep serving the previous code")
            self.generation = max(w.generation for w in older)
            for w in list(self.workers.values()):
                if w.generation > self.generation:
                    self.retire(w, "abandoned reload")
            return
        self.log.critical(f"worker {record.pid} {what}; stopping the server "
                          f"(fix the error above and start again)")
        self.stop(graceful=True, why="boot failure",
                  status=EXIT_APP_LOAD_ERROR if code == EXIT_APP_LOAD_ERROR else EXIT_WORKER_BOOT_ERROR)

    def _note_crash(self, record: WorkerRecord) -> None:
        """Replace at once the first time; back off exponentially if workers keep dying
        right after they start, so a crash loop does not spin."""
        now = time.monotonic()
        if now - record.spawned < CRASH_WINDOW:
            self.crashes += 1
        else:
            self.crashes = 0
        if self.crashes > 1:
            delay = min(CRASH_BACKOFF_MAX, 0.1 * 2 ** (self.crashes - 2))
            self.next_spawn_at = now + delay
            self.log.warning(f"{self.crashes} workers died within {CRASH_WINDOW:g}s of starting; "
                             f"waiting {delay:.1f}s before the next spawn")

    # --- timeouts ----------------------------------------------------------------------

    def murder_workers(self) -> None:
        """Kill workers that are stuck: a request past ``timeout`` (harakiri), no
        heartbeat while idle, too slow to start, or too slow to stop."""
        cfg = self.config
        now = time.monotonic()
        for record in list(self.workers.values()):
            view = self.scoreboard.read(record.slot)
            if view.state == sb.READY and view.pid == record.pid:
                self.generations_ready.add(record.generation)
                if record.generation == self.generation:
                    self.crashes = 0 if now - record.spawned >= CRASH_WINDOW else self.crashes
            if record.abort_sent is not None:
                if now - record.abort_sent >= ABORT_GRACE:
                    self.kill_worker(record.pid, signal.SIGKILL)
                continue
            if record.stopping_since is not None and now - record.stopping_since > cfg.graceful_timeout:
                self._abort(record, f"still running {cfg.graceful_timeout:g}s after it was told to stop")
                continue
            if view.state == sb.BOOTING or view.pid != record.pid:
                if cfg.startup_timeout and now - record.spawned > cfg.startup_timeout:
                    self._abort(record, f"startup timeout: not ready after {cfg.startup_timeout:g}s")
                continue
            oldest = view.oldest_request()
            if oldest is not None:
                running = now - oldest.started
                # The worker answers 504 and retires by itself at `timeout`; this is
                # the backstop for a worker that cannot (a C extension holding the GIL).
                if cfg.timeout and running > cfg.timeout + TIMEOUT_BACKSTOP:
                    self._abort(record, f"timeout: {oldest.method} {oldest.path} from {oldest.client} "
                                f"running {running:.1f}s > {cfg.timeout:g}s")
            elif view.inline_since:
                # A request on the I/O thread that its watcher could not show (it shows
                # one after 10 ms): the GIL held since. Same backstop, fewer details.
                running = now - view.inline_since
                if cfg.timeout and running > cfg.timeout + TIMEOUT_BACKSTOP:
                    self._abort(record, f"timeout: a request on its I/O thread running {running:.1f}s "
                                f"> {cfg.timeout:g}s")
            elif cfg.heartbeat_timeout and now - view.heartbeat > cfg.heartbeat_timeout:
                self._abort(record, f"no heartbeat for {now - view.heartbeat:.0f}s while idle (wedged)")

    def _abort(self, record: WorkerRecord, reason: str) -> None:
        """SIGABRT: the worker's faulthandler prints every thread's Python stack, then
        it dies; SIGKILL follows after ABORT_GRACE if it does not."""
        record.kill_reason = reason
        record.cause = record.cause or ("heartbeat" if reason.startswith("no heartbeat") else "timeout")
        record.abort_sent = time.monotonic()
        self.log.error(f"worker {record.pid} {reason}: killing it; its stack follows")
        self.kill_worker(record.pid, signal.SIGABRT)

    # --- the worker count --------------------------------------------------------------

    def retire(self, record: WorkerRecord, why: str) -> None:
        if record.stopping_since is None:
            record.stopping_since = time.monotonic()
            record.cause = {"reload": "reload", "replaced after a request timeout": "timeout"}.get(why, "")
            self.log.debug(f"retiring worker {record.pid} ({why})")
            # USR2, not TERM: its siblings keep serving, so it hands them its idle
            # keep-alive connections instead of closing them under their clients.
            self.kill_worker(record.pid, signal.SIGUSR2)

    def manage_workers(self) -> None:
        """Reach ``target`` workers of the current generation; retire surplus ones, and
        the previous generation once the current one is ready."""
        retiring = []
        current = []
        for w in self.workers.values():
            if w.generation != self.generation or w.stopping_since is not None:
                continue
            if self.scoreboard.read(w.slot).state == sb.RETIRING:
                retiring.append(w)
            else:
                current.append(w)
        missing = self.target - len(current)
        if missing > 0 and time.monotonic() >= self.next_spawn_at:
            self.next_spawn_at = 0.0
            for _ in range(missing):
                self.spawn_worker()
        elif missing < 0:
            for record in sorted(current, key=lambda w: w.spawned)[:-missing]:
                self.retire(record, "fewer workers wanted")
        if retiring:
            # A worker gave up on a stuck request and asked to be replaced: stop it once
            # its replacement is ready, or at once if there is no room for one.
            ready = sum(1 for w in current if self.scoreboard.read(w.slot).state == sb.READY)
            no_room = len(self.workers) >= self.scoreboard.capacity
            if ready >= self.target or no_room or self.next_spawn_at:
                for record in retiring:
                    self.retire(record, "replaced after a request timeout")
                    self.log.info(f"worker {record.pid} replaced after a request timeout; "
                                  "it finishes its other requests and stops")
        old = [w for w in self.workers.values()
               if w.generation != self.generation and w.stopping_since is None]
        if old:
            ready = sum(self.scoreboard.read(w.slot).state == sb.READY for w in current)
            if ready >= min(self.target, len(current)) and ready > 0:
                for record in old:
                    self.retire(record, "reload")
                self.log.info(f"reload: {ready} new workers ready, {len(old)} old workers stopping")

    def spawn_worker(self) -> Optional[int]:
        used = {w.slot for w in self.workers.values()}
        slot = next((i for i in range(self.scoreboard.capacity) if i not in used), None)
        if slot is None:
            self.log.error("no free worker slot; not spawning")
            return None
        self.scoreboard.reset(slot, self.generation, sb.BOOTING)
        self.metrics.reset(slot)
        generation = self.generation
        # Block signals across fork so the child cannot run the master's handlers
        # before it installs its own.
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, self.SIGNALS)
        try:
            pid = os.fork()
        except OSError as exc:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
            self.log.error(f"cannot fork a worker: {exc.strerror}")
            self.next_spawn_at = time.monotonic() + 1.0
            return None
        if pid:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
            self.workers[pid] = WorkerRecord(pid, slot, generation, time.monotonic())
            self.log.info(f"booting worker {pid} (generation {generation})")
            return pid
        # --- child: never returns ---
        try:
            os.close(self._wake_r)
            if self.stats:
                self.stats.sock.close()
            if self.metrics_server:
                self.metrics_server.close()  # this process's copies only
            app = self.app
            if app is not None and generation > 1:
                # A preloaded master re-imports nothing; a reload must, so the new
                # generation drops the app's modules and imports them afresh.
                for name in set(sys.modules) - (self._preload_modules or set()):
                    sys.modules.pop(name, None)
                app = None
            worker = Worker(slot, generation, self.listeners, app, self.config, self.log,
                            self.scoreboard, self.pid, sigmask=blocked, notify_fd=self._wake_w,
                            handoff=self.handoff, metrics=self.metrics)
            worker.run()  # unblocks signals once its own handlers are in place
        except BaseException:
            self.log.exception(f"worker {os.getpid()} failed to start")
        finally:
            os._exit(EXIT_BOOT_ERROR)

    # --- stats ------------------------------------------------------------------------

    def snapshot(self) -> dict:
        now = time.monotonic()
        wall = time.time()
        threads = max(1, self.config.threads)
        records = sorted(self.workers.values(), key=lambda w: w.slot)
        _, per_slot, total = self.aggregator.current([w.slot for w in records], now)
        minute = self.aggregator.before(now - 60)
        recent = self.aggregator.before(now - 5)
        uptime = now - self.started_monotonic
        workers = []
        requests = self.requests_at_reap
        in_flight = 0
        for record in records:
            view = self.scoreboard.read(record.slot)
            requests += view.requests
            state = view.state_name if view.pid == record.pid else "starting"
            if record.stopping_since is not None and state != "busy":
                state = "stopping"
            vector = per_slot[record.slot]
            age = now - record.spawned
            in_flight += len(view.busy)
            figures = self._window(vector, minute, record.slot, now, age, threads)
            figures["capacity_minute"] = figures.pop("capacity")
            figures["capacity"] = self._window(vector, recent, record.slot, now, age, threads)["capacity"]
            workers.append({
                "pid": record.pid,
                "slot": record.slot,
                "generation": record.generation,
                "state": state,
                "requests": view.requests,
                "max_requests": view.max_requests or None,
                "rss": view.rss,
                "age": round(age, 3),
                "last_heartbeat_ago": round(now - view.heartbeat, 3) if view.heartbeat else None,
                "busy": [{"method": r.method, "path": r.path, "client": r.client,
                          "since": wall - (now - r.started), "elapsed": round(now - r.started, 3)}
                         for r in sorted(view.busy, key=lambda r: r.started)],
                "queued": vector[mx.QUEUED],
                "connections": dict(zip(mx.STATES, vector[mx.CONN:mx.CONN + len(mx.STATES)])),
                "requests_total": mx.requests_of(vector),
                "busy_seconds": round(vector[mx.BUSY_US] / 1e6, 6),
                **figures,
            })
        serving = max(1, sum(1 for w in workers if w["state"] in ("idle", "busy"))) * threads
        totals = self._window(total, minute, None, now, uptime, serving)
        totals["capacity_minute"] = totals.pop("capacity")
        totals["capacity"] = self._window(total, recent, None, now, uptime, serving)["capacity"]
        totals.update({
            "in_flight": in_flight,
            "queued": total[mx.QUEUED],
            "connections": dict(zip(mx.STATES, total[mx.CONN:mx.CONN + len(mx.STATES)])),
            "requests_total": mx.requests_of(total),
            "busy_seconds": round(total[mx.BUSY_US] / 1e6, 6),
            "threads": serving,
        })
        timeouts = dict(zip(mx.PHASES, total[mx.TMO:mx.TMO + len(mx.PHASES)]))
        from warp import __version__
        from warp.runtime.server.exposition import listen_backlog
        return {
            "server": "warp",
            "version": __version__,
            "master_pid": self.pid,
            "started": self.started,
            "uptime": round(wall - self.started, 3),
            "app": self.config.entrypoint,
            "cwd": self.cwd,
            "bind": self.bound,
            "target_workers": self.target,
            "threads": self.config.threads,
            "generation": self.generation,
            "state": self.stopping or "running",
            "requests": requests,
            "workers": workers,
            "totals": totals,
            "restarts": dict(self.restarts),
            "timeouts": timeouts,
            "shed": total[mx.SHED],
            "backlog": listen_backlog(self.listeners),
            "metrics_address": self.metrics_server.where if self.metrics_server else None,
            "metrics": {
                "requests": mx.by_method_code(total),
                "response_bytes": total[mx.BYTES],
                "duration": {"buckets": mx.exposed_buckets(total[mx.DUR:mx.DUR + mx.NBUCKETS]),
                             "count": sum(total[mx.DUR:mx.DUR + mx.NBUCKETS]),
                             "sum": round(total[mx.DUR_SUM] / 1e6, 6)},
                "queue": {"buckets": mx.exposed_buckets(total[mx.QUE:mx.QUE + mx.NBUCKETS]),
                          "count": sum(total[mx.QUE:mx.QUE + mx.NBUCKETS]),
                          "sum": round(total[mx.QUEUE_SUM] / 1e6, 6)},
                "restarts": dict(self.restarts),
                "timeouts": timeouts,
                "shed": total[mx.SHED],
            },
            "services": self.services.rows(),
        }

    def _window(self, vector: List[int], sample: Any, slot: Optional[int], now: float,
                age: float, threads: int) -> Dict[str, Any]:
        """Figures between ``sample`` (an Aggregator history entry, or None) and now: for
        a worker younger than the sample, from its start (what its slot held before it
        belongs to the workers it replaced)."""
        old: Optional[List[int]] = None
        seconds = age
        if sample is not None:
            if slot is None:
                old, seconds = sample[2], now - sample[0]
            elif slot in sample[1] and age > now - sample[0]:
                old, seconds = sample[1][slot], now - sample[0]
        if old is None and slot is not None:
            old = self.aggregator.slot_retired.get(slot)
        return mx.window_figures(vector, old, min(seconds, age) if seconds else age, threads)
