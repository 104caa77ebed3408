"""`warp start --all`: every Procfile process type at once, supervised.

The shape follows the bundled server's arbiter: signal handlers only record the
signal and wake the loop through a pipe; the loop waits on that pipe, on every
child's output pipe and on a short timeout, then handles signals, reaps children
and starts what is due. One job per method.

Semantics (the README compares them with Heroku's and honcho's):

- ``release`` runs once, before anything else; a failing release starts nothing and
  its exit status becomes warp's.
- Every other type runs with ``--scale`` instances (default one); ``PORT`` goes to
  ``web`` only.
- A child that exits while warp is not stopping is restarted after an exponential
  backoff. A child that keeps failing soon after its start is a crash loop: warp
  says so, stops everything and exits 1, rather than hiding it behind restarts.
- TERM (and a first INT) stop ``web`` first and give it the graceful timeout to
  drain, then the other types; warp then exits 0. A second INT kills everything at
  once. HUP reloads ``web`` (a signal for servers that reload gracefully, a restart
  otherwise) and restarts the other types one by one.
- Each child runs in its own process group, so a terminal's Ctrl-C reaches warp
  alone and warp decides the order of the stop; as PID 1 (or as a subreaper) warp
  reaps every orphan.
"""

from __future__ import annotations

import errno
import json
import os
import selectors
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Callable, Optional

from warp.launch.plan import Plan

# A child that dies within this many seconds of its start counts as a fast failure;
# this many fast failures in a row is a crash loop.
FAST_FAILURE_SECONDS = 10.0
CRASH_LOOP_FAILURES = 5
# Restart delays: 1 s, 2 s, 4 s ... capped, so a flapping dependency is retried
# often enough to recover quickly and rarely enough not to flood the logs.
BACKOFF_FIRST = 1.0
BACKOFF_CAP = 30.0
# Servers that reload their workers on HUP without dropping requests.
RELOADS_ON_HUP = ("bundled", "gunicorn", "uwsgi")
# Extra seconds beyond the graceful timeout before a child that ignores TERM is killed.
KILL_MARGIN = 5.0

EXIT_CRASH_LOOP = 1
EXIT_KILLED = 130

# Stable colours per type on a terminal (cyan, yellow, green, magenta, blue, red).
_COLOURS = (36, 33, 32, 35, 34, 31)

RELEASE = "release"
WEB = "web"


@dataclass(frozen=True)
class ProcessSpec:
    """One instance to run: its type, its number (from 1) and the plan that starts it."""

    type: str
    instance: int
    plan: Plan

    @property
    def name(self) -> str:
        return f"{self.type}.{self.instance}"


@dataclass
class Child:
    spec: ProcessSpec
    process: Optional[subprocess.Popen] = None
    started: float = 0.0
    fast_failures: int = 0
    due: Optional[float] = None  # when to (re)start, if not running
    buffer: bytes = b""
    stopping: bool = False
    restart_after_exit: bool = False


@dataclass
class Output:
    """Where children's lines go: prefixed text (coloured on a terminal) or JSON lines."""

    stream: IO[str]
    colour: bool = False
    json_lines: bool = False
    prefix: bool = True  # one process (warp start --reload): its lines as they are
    width: int = 0
    colours: dict[str, int] = field(default_factory=dict)

    def line(self, name: str, text: str, source: str = "process") -> None:
        kind, _, instance = name.partition(".")
        if self.json_lines:
            record = {"time": time.time(), "type": kind, "instance": int(instance or 0), "source": source, "line": text}
            self.stream.write(json.dumps(record) + "\n")
        elif not self.prefix:
            self.stream.write(f"warp: {text}\n" if source == "warp" else f"{text}\n")
        else:
            prefix = f"{name:<{self.width}} |"
            if self.colour:
                code = self.colours.setdefault(kind, _COLOURS[len(self.colours) % len(_COLOURS)])
                prefix = f"\033[{code}m{prefix}\033[0m"
            self.stream.write(f"{prefix} {text}\n")
        self.stream.flush()

    def warp(self, text: str) -> None:
        self.line("warp", text, source="warp")


def write_plan_files(plan: Plan) -> None:
    for path, text in plan.files.items():
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(text, encoding="utf-8")


def become_subreaper() -> None:
    """Orphans of our children are re-parented to us (Linux), so warp reaps them as PID 1 would."""
    if os.getpid() == 1 or not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_CHILD_SUBREAPER = 36
        libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass


class Supervisor:
    SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGCHLD)

    def __init__(self, specs: list[ProcessSpec], output: Output, graceful_timeout: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.children = [Child(spec) for spec in specs]
        self.output = output
        self.output.width = max([len(c.spec.name) for c in self.children] + [len("warp"), output.width])
        self.graceful_timeout = graceful_timeout
        self.clock = clock
        self.signals: list[int] = []
        self.selector = selectors.DefaultSelector()
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)
        self.selector.register(self.wake_r, selectors.EVENT_READ, None)
        self.stopping = False
        self.interrupts = 0
        self.exit_code = 0
        self.pending_restarts: list[Child] = []

    # -- signals -------------------------------------------------------------------
    def _on_signal(self, signum: int, frame: object) -> None:
        self.signals.append(signum)
        try:
            os.write(self.wake_w, b".")
        except OSError:
            pass

    def request_reload(self) -> None:
        """From another thread (the reloader): as if HUP had arrived."""
        self._on_signal(signal.SIGHUP, None)

    def install_signals(self) -> None:
        for signum in self.SIGNALS:
            signal.signal(signum, self._on_signal)

    # -- the loop ------------------------------------------------------------------
    def run(self) -> int:
        become_subreaper()
        self.install_signals()
        now = self.clock()
        for child in self.children:
            child.due = now
        while True:
            self.start_due()
            self.wait(self.timeout())
            self.handle_signals()
            self.reap()
            self.restart_next_for_reload()
            if self.stopping and not any(c.process for c in self.children):
                self.drain_output()
                return self.exit_code
            if self.stopping:
                self.escalate()

    def timeout(self) -> float:
        dues = [c.due for c in self.children if c.due is not None and c.process is None]
        if not dues or self.stopping:
            return 0.5
        return max(0.0, min(0.5, min(dues) - self.clock()))

    def wait(self, timeout: float) -> None:
        for key, _ in self.selector.select(timeout):
            if key.data is None:
                try:
                    while os.read(self.wake_r, 512):
                        pass
                except OSError:
                    pass
            else:
                self.read_output(key.data)

    def read_output(self, child: Child) -> None:
        assert child.process is not None and child.process.stdout is not None
        fd = child.process.stdout.fileno()
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.selector.unregister(fd)
            if child.buffer:
                self.output.line(child.spec.name, child.buffer.decode("utf-8", "replace"))
                child.buffer = b""
            return
        child.buffer += data
        *lines, child.buffer = child.buffer.split(b"\n")
        for raw in lines:
            self.output.line(child.spec.name, raw.rstrip(b"\r").decode("utf-8", "replace"))

    def drain_output(self) -> None:
        for key in list(self.selector.get_map().values()):
            if key.data is not None:
                self.read_output(key.data)

    # -- children ------------------------------------------------------------------
    def start_due(self) -> None:
        if self.stopping:
            return
        now = self.clock()
        for child in self.children:
            if child.process is None and child.due is not None and child.due <= now:
                self.spawn(child)

    def spawn(self, child: Child) -> None:
        plan = child.spec.plan
        write_plan_files(plan)
        env = dict(plan.env)
        env.setdefault("PYTHONUNBUFFERED", "1")
        env["WARP_PROCESS"] = child.spec.name
        try:
            process = subprocess.Popen(
                list(plan.argv), cwd=plan.cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, start_new_session=True)
        except OSError as exc:
            self.output.warp(f"{child.spec.name}: cannot run {plan.argv[0]}: {exc.strerror}")
            self.failed(child, None)
            return
        assert process.stdout is not None
        os.set_blocking(process.stdout.fileno(), False)
        self.selector.register(process.stdout.fileno(), selectors.EVENT_READ, child)
        child.process, child.started, child.due, child.stopping = process, self.clock(), None, False
        self.output.warp(f"{child.spec.name} started (pid {process.pid}): {' '.join(plan.argv)}")

    def reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            except OSError as exc:
                if exc.errno == errno.EINTR:
                    continue
                return
            if pid == 0:
                return
            child = next((c for c in self.children if c.process is not None and c.process.pid == pid), None)
            if child is None:
                continue  # an orphan we inherited as PID 1 or subreaper: reaped, nothing more to do
            assert child.process is not None
            child.process.returncode = os.waitstatus_to_exitcode(status)
            self.exited(child, child.process.returncode)

    def exited(self, child: Child, code: int) -> None:
        assert child.process is not None
        if child.process.stdout is not None:
            fd = child.process.stdout.fileno()
            if fd in self.selector.get_map():
                self.read_output(child)
                if fd in self.selector.get_map():
                    self.selector.unregister(fd)
            child.process.stdout.close()
        ran = self.clock() - child.started
        child.process = None
        how = f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited with status {code}"
        if self.stopping or child.stopping:
            self.output.warp(f"{child.spec.name} stopped ({how})")
            if child.restart_after_exit and not self.stopping:
                child.restart_after_exit = False
                child.due = self.clock()
            return
        self.output.warp(f"{child.spec.name} {how} unexpectedly")
        self.failed(child, ran)

    def failed(self, child: Child, ran: Optional[float]) -> None:
        if ran is None or ran < FAST_FAILURE_SECONDS:
            child.fast_failures += 1
        else:
            child.fast_failures = 1
        if child.fast_failures >= CRASH_LOOP_FAILURES:
            self.output.warp(
                f"{child.spec.name} failed {child.fast_failures} times within {FAST_FAILURE_SECONDS:g} s of "
                f"starting: crash loop; stopping everything")
            self.exit_code = EXIT_CRASH_LOOP
            self.begin_stop()
            return
        delay = min(BACKOFF_CAP, BACKOFF_FIRST * 2 ** (child.fast_failures - 1))
        self.output.warp(f"{child.spec.name} restarts in {delay:g} s")
        child.due = self.clock() + delay

    # -- stopping and reloading ----------------------------------------------------
    def handle_signals(self) -> None:
        while self.signals:
            signum = self.signals.pop(0)
            if signum == signal.SIGCHLD:
                continue
            if signum == signal.SIGINT:
                self.interrupts += 1
                if self.interrupts >= 2:
                    self.output.warp("second interrupt: killing every process")
                    self.kill_all()
                    self.exit_code = EXIT_KILLED
                    continue
            if signum in (signal.SIGTERM, signal.SIGINT):
                if not self.stopping:
                    self.output.warp(f"{signal.Signals(signum).name}: stopping web first, then the other types")
                    self.begin_stop()
            elif signum == signal.SIGHUP and not self.stopping:
                self.reload()

    def begin_stop(self) -> None:
        self.stopping = True
        self.stop_phase_started = self.clock()
        for child in self.children:
            child.due = None
        self.stop_phase = WEB if any(c.process and c.spec.type == WEB for c in self.children) else "others"
        self.signal_phase()

    def signal_phase(self) -> None:
        for child in self.children:
            if child.process is None:
                continue
            if (self.stop_phase == WEB) == (child.spec.type == WEB):
                self.signal(child, signal.SIGTERM)

    def escalate(self) -> None:
        """Move from web to the other types once web is gone; kill what outlives its grace."""
        now = self.clock()
        if self.stop_phase == WEB and not any(c.process and c.spec.type == WEB for c in self.children):
            self.stop_phase, self.stop_phase_started = "others", now
            self.signal_phase()
            return
        if now - self.stop_phase_started > self.graceful_timeout + KILL_MARGIN:
            for child in self.children:
                in_phase = (self.stop_phase == WEB) == (child.spec.type == WEB)
                if child.process is not None and in_phase:
                    self.output.warp(f"{child.spec.name} outlived the graceful timeout: killing it")
                    self.signal(child, signal.SIGKILL)
            self.stop_phase_started = now

    def kill_all(self) -> None:
        self.stopping = True
        self.stop_phase, self.stop_phase_started = "others", self.clock()
        for child in self.children:
            child.due = None
            if child.process is not None:
                self.signal(child, signal.SIGKILL)

    def signal(self, child: Child, signum: int) -> None:
        assert child.process is not None
        child.stopping = True
        try:
            os.killpg(child.process.pid, signum)
        except ProcessLookupError:
            pass

    def reload(self) -> None:
        self.output.warp("HUP: reloading web, restarting the other types one by one")
        for child in self.children:
            if child.spec.type != WEB or child.process is None:
                continue
            if child.spec.plan.server in RELOADS_ON_HUP:
                os.kill(child.process.pid, signal.SIGHUP)
            else:
                child.restart_after_exit = True
                self.signal(child, signal.SIGTERM)
        self.pending_restarts = [c for c in self.children if c.spec.type != WEB]

    def restart_next_for_reload(self) -> None:
        """One other-type child at a time: wait until the previous one is back before the next."""
        if self.stopping or not self.pending_restarts:
            return
        if any(c.restart_after_exit for c in self.children if c.spec.type != WEB):
            return
        if any(c.process is None and c.due is not None for c in self.children if c.spec.type != WEB):
            return
        child = self.pending_restarts.pop(0)
        if child.process is None:
            child.due = self.clock()
            return
        child.restart_after_exit = True
        self.signal(child, signal.SIGTERM)


def run_release(plan: Plan, output: Output) -> int:
    """Run the release type once, its lines prefixed; its exit status."""
    write_plan_files(plan)
    env = dict(plan.env)
    env.setdefault("PYTHONUNBUFFERED", "1")
    env["WARP_PROCESS"] = "release.1"
    output.warp(f"release.1 started: {' '.join(plan.argv)}")
    try:
        process = subprocess.Popen(list(plan.argv), cwd=plan.cwd, env=env, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    except OSError as exc:
        output.warp(f"release.1: cannot run {plan.argv[0]}: {exc.strerror}")
        return 127
    assert process.stdout is not None
    for raw in process.stdout:
        output.line("release.1", raw.rstrip(b"\r\n").decode("utf-8", "replace"))
    return process.wait()
