"""Server and access logs: one line per event, written with a single ``os.write``.

A line written by one ``write`` to a pipe (under PIPE_BUF) or an O_APPEND file is never
interleaved with another process's line, so the master and every worker can share
stdout/stderr without locks (and without the fork-unsafe locks of ``logging``).
USR1 reopens log files in place (``dup2`` onto the same descriptor) for logrotate.

Code of the protocol side may log through the standard ``logging`` module under the
``warp.runtime.server`` name: :meth:`ServerLog.install` routes those records here.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
import traceback
from typing import Optional

from warp.runtime.accesslog import AccessRecord, format_line
from warp.runtime.server.config import ServerConfig

LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}
_LEVEL_NAMES = {v: k.upper() for k, v in LEVELS.items()}


def _open_append(path: str) -> int:
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)


class _Sink:
    """A destination: '-' is the given standard stream, 'off' nothing, else a file path."""

    def __init__(self, target: str, std_fd: int) -> None:
        self.target = target
        self.fd: Optional[int] = None
        if target == "off":
            return
        if target in ("-", ""):
            self.fd = std_fd
        else:
            self.fd = _open_append(target)

    @property
    def is_file(self) -> bool:
        return self.target not in ("-", "", "off")

    def write(self, data: bytes) -> None:
        if self.fd is None:
            return
        try:
            while data:
                data = data[os.write(self.fd, data):]
        except OSError:
            pass  # a closed stdout must not take the server down

    def reopen(self) -> None:
        if self.is_file and self.fd is not None:
            new = _open_append(self.target)
            os.dup2(new, self.fd, inheritable=False)
            os.close(new)


class ServerLog:
    def __init__(self, error_log: str = "-", access_log: str = "-", level: str = "info",
                 access_format: str = "common") -> None:
        self.level = LEVELS[level]
        self.access_format = access_format
        self._error = _Sink(error_log, sys.stderr.fileno() if sys.stderr else 2)
        self._access = _Sink(access_log, sys.stdout.fileno() if sys.stdout else 1)
        self.access_on = self._access.fd is not None
        # Lines of requests run on the holding thread wait in memory for the end of its
        # loop turn (flush_access): one write per turn, not one per request.
        self._held: list = []
        self._holder = 0

    @classmethod
    def from_config(cls, config: ServerConfig) -> ServerLog:
        return cls(config.error_log, config.access_log, config.log_level, config.access_log_format)

    @property
    def error_fd(self) -> Optional[int]:
        return self._error.fd

    def reopen(self) -> None:
        self._error.reopen()
        self._access.reopen()

    # --- server log ---------------------------------------------------------------------

    def log(self, level: int, message: str, details: str = "") -> None:
        if level < self.level:
            return
        stamp = time.strftime("%Y-%m-%d %H:%M:%S +0000", time.gmtime())
        line = f"[{stamp}] [{os.getpid()}] [{_LEVEL_NAMES.get(level, level)}] {message}\n"
        if details:
            line += details if details.endswith("\n") else details + "\n"
        self._error.write(line.encode("utf-8", "backslashreplace"))

    def debug(self, message: str) -> None:
        self.log(10, message)

    def info(self, message: str) -> None:
        self.log(20, message)

    def warning(self, message: str) -> None:
        self.log(30, message)

    def error(self, message: str, details: str = "") -> None:
        self.log(40, message, details)

    def critical(self, message: str, details: str = "") -> None:
        self.log(50, message, details)

    def exception(self, message: str) -> None:
        self.log(40, message, traceback.format_exc())

    # --- access log ---------------------------------------------------------------------

    def access(self, record: AccessRecord) -> None:
        """One access-log line, in the shape every warp-run server writes (warp.runtime.accesslog)."""
        if self._access.fd is None:
            return
        line = (format_line(record, self.access_format) + "\n").encode("utf-8", "backslashreplace")
        if self._holder and threading.get_ident() == self._holder:
            self._held.append(line)
        else:
            self._access.write(line)

    def hold_access(self) -> None:
        """From now on, lines made on this thread wait for `flush_access`."""
        self._holder = threading.get_ident()

    def flush_access(self) -> None:
        if self._held:
            lines, self._held = self._held, []
            self._access.write(b"".join(lines))

    # --- bridge for code that uses the logging module -------------------------------------

    def install(self) -> None:
        logger = logging.getLogger("warp.runtime.server")
        for handler in list(logger.handlers):
            if isinstance(handler, _Bridge):
                logger.removeHandler(handler)
        logger.addHandler(_Bridge(self))
        logger.setLevel(self.level)
        logger.propagate = False


class _Bridge(logging.Handler):
    def __init__(self, target: ServerLog) -> None:
        super().__init__()
        self.target = target

    def emit(self, record: logging.LogRecord) -> None:
        details = ""
        if record.exc_info:
            details = "".join(traceback.format_exception(*record.exc_info))
        try:
            message = record.getMessage()
        except Exception:
            message = str(record.msg)
        self.target.log(record.levelno, message, details)
