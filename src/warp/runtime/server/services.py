"""Side services the master runs beside its workers (``--service NAME=COMMAND``).

The equivalent of uWSGI's ``attach-daemon`` and mod_wsgi-express's
``--service-script``: a cache warmer, a small queue consumer, a metrics relay that
should live and die with the web server, not in a supervisor of its own.

Each service is a *keeper* process forked by the master: it takes the title
``warp service NAME`` (so ``ps`` tells it apart), runs the command through
``/bin/sh -c`` in a process group of its own, forwards TERM/INT/HUP to it, and exits
with its status. The master reaps keepers in the same ``waitpid`` loop as
workers, restarts a dead one after a backoff (1, 2, 4 ... 30 s; reset once it has
run for a while), stops services only after the workers on shutdown, and leaves
them running across a HUP reload of the workers unless their command changed.

Standard library only: this runs in the app's interpreter.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Callable, Mapping, Optional

from warp.runtime import proctitle

BACKOFF_FIRST = 1.0
BACKOFF_CAP = 30.0
# A service that ran this long before dying is considered healthy again: its
# next restart starts the backoff from the beginning.
HEALTHY_AFTER = 10.0


@dataclass
class Service:
    name: str
    command: str
    pid: Optional[int] = None
    started: float = 0.0          # monotonic, when the current keeper was forked
    started_wall: float = 0.0     # time.time() of the same moment, for status
    restarts: int = 0
    failures: int = 0             # consecutive quick deaths
    due: Optional[float] = 0.0    # when to (re)start; None: running, or not wanted any more
    stopping: bool = False        # the master stopped it: no restart when it exits

    def row(self, now: float) -> dict:
        return {"name": self.name, "command": self.command, "pid": self.pid, "restarts": self.restarts,
                "uptime": round(now - self.started_wall, 1) if self.pid else None,
                "state": "running" if self.pid else "waiting to restart"}


class Services:
    """The master's side services; every method is called from the master's loop."""

    def __init__(self, specs: Mapping[str, str], log: Callable[[str], None],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.log = log
        self.clock = clock
        self.services: dict[str, Service] = {name: Service(name, command) for name, command in specs.items()}
        # Keepers of services replaced or removed by a reload, until they are reaped.
        self.retiring: list[Service] = []

    # -- starting ------------------------------------------------------------------
    def next_due(self) -> Optional[float]:
        dues = [s.due for s in self.services.values() if s.pid is None and s.due is not None]
        return min(dues) if dues else None

    def start_due(self) -> None:
        now = self.clock()
        for service in self.services.values():
            if service.pid is None and service.due is not None and service.due <= now:
                self._spawn(service)

    def _spawn(self, service: Service) -> None:
        # Signals stay blocked across fork, so the keeper never runs the master's
        # handlers; it installs its own and unblocks them.
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, _KEEPER_SIGNALS)
        try:
            pid = os.fork()
        except OSError as exc:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
            self.log(f"service {service.name}: cannot fork: {exc.strerror}")
            service.due = self.clock() + BACKOFF_FIRST
            return
        if pid == 0:  # the keeper; never returns
            code = 1
            try:
                code = _keep(service.name, service.command, blocked)
            finally:
                os._exit(code)
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        # The keeper makes its own process group too; doing it here as well closes the
        # window in which a stop (killpg) could find no such group yet.
        try:
            os.setpgid(pid, pid)
        except OSError:
            pass
        service.pid, service.started, service.started_wall, service.due = pid, self.clock(), time.time(), None
        self.log(f"service {service.name} started (pid {pid}): {service.command}")

    # -- reaping -------------------------------------------------------------------
    def _all(self) -> list[Service]:
        return list(self.services.values()) + self.retiring

    def owns(self, pid: int) -> bool:
        return any(s.pid == pid for s in self._all())

    def exited(self, pid: int, code: int) -> None:
        service = next(s for s in self._all() if s.pid == pid)
        service.pid = None
        if service in self.retiring:
            self.retiring.remove(service)
        how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exited with status {code}"
        if not service.stopping:
            ran = self.clock() - service.started
            service.failures = 1 if ran >= HEALTHY_AFTER else service.failures + 1
            delay = min(BACKOFF_CAP, BACKOFF_FIRST * 2 ** (service.failures - 1))
            service.restarts += 1
            service.due = self.clock() + delay
            self.log(f"service {service.name} {how}; restarting in {delay:g} s")
        else:
            self.log(f"service {service.name} stopped ({how})")

    # -- stopping and reloading ----------------------------------------------------
    def running(self) -> bool:
        return any(s.pid for s in self._all())

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Signal every keeper's group; none restarts after this."""
        for service in self._all():
            service.due, service.stopping = None, True
            self._signal(service, sig)

    def _signal(self, service: Service, sig: int) -> None:
        if service.pid:
            try:
                os.killpg(service.pid, sig)
            except ProcessLookupError:
                pass

    def reload(self, specs: Mapping[str, str]) -> None:
        """After a HUP: unchanged services keep running; changed ones restart; removed ones stop."""
        for name, service in list(self.services.items()):
            if specs.get(name) == service.command:
                continue
            del self.services[name]
            service.due, service.stopping = None, True
            if service.pid is not None:
                self.retiring.append(service)
                self._signal(service, signal.SIGTERM)
        for name, command in specs.items():
            self.services.setdefault(name, Service(name, command))

    def rows(self) -> list[dict]:
        now = time.time()
        return [service.row(now) for _, service in sorted(self.services.items())]


_KEEPER_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGCHLD, signal.SIGQUIT, signal.SIGUSR1,
                   signal.SIGUSR2, signal.SIGTTIN, signal.SIGTTOU, signal.SIGWINCH)


def _keep(name: str, command: str, sigmask: set) -> int:
    """Body of a keeper process: title, run the command, forward signals, return its status."""
    for sig in _KEEPER_SIGNALS:
        signal.signal(sig, signal.SIG_DFL)
    # The master's sockets stay with the master: a keeper holding a listening socket
    # would keep the port open, queueing connections nobody serves, if the master died.
    os.closerange(3, os.sysconf("SC_OPEN_MAX"))
    os.setpgid(0, 0)
    proctitle.set_title(f"warp service {name}", f"warp-svc {name}")
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    # Unblock before starting the command: it inherits the mask, and a command with
    # TERM blocked could never be stopped.
    signal.pthread_sigmask(signal.SIG_SETMASK, sigmask)
    child = subprocess.Popen(["/bin/sh", "-c", command], stdin=subprocess.DEVNULL)

    def forward(signum: int, frame: object) -> None:
        try:
            child.send_signal(signum)
        except ProcessLookupError:
            pass

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, forward)
    while True:
        try:
            code = child.wait()
            break
        except InterruptedError:
            continue
    return code if code >= 0 else 128 - code
