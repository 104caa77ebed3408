"""One access-log line, whichever server writes it.

The bundled server and the shim (for servers that write no access log of
their own, such as waitress) both build an ``AccessRecord`` and format it
here, so a log reader sees the same keys, the same clock (UTC) and the same
units from either:

- ``json``: one object per line with the keys of ``FIELDS``: ``time`` (when
  the request started, ISO 8601 UTC with milliseconds), ``remote``,
  ``method``, ``path`` and ``query`` (as sent, still percent-encoded),
  ``protocol``, ``status``, ``bytes`` (body bytes sent), ``duration_us``
  (microseconds from the request's start to the end of its response) and
  ``pid`` (the process that served it);
- ``common``: the Common Log Format, then the duration and the pid:
  ``127.0.0.1 - - [01/Dec/2026:06:18:11 +0000] "GET /x?a=1 HTTP/1.1" 200 5 0.000123s pid=42``.

gunicorn, uWSGI and mod_wsgi write their own lines; ``native_json_format``
gives each the same keys, in the same order, from its own placeholders
(their ``time`` is the server's own local-time stamp, which none of them can
write as UTC ISO 8601).

Standard library only: it runs inside the application's interpreter.
"""

from __future__ import annotations

from typing import Mapping, NamedTuple
import json
import time

FORMATS = ("common", "json")
FIELDS = ("time", "remote", "method", "path", "query", "protocol", "status", "bytes", "duration_us", "pid")


class AccessRecord(NamedTuple):
    """One request as the access log sees it (a named tuple: cheap to make, and one
    is made per request)."""

    started: float  # time.time() when the request started
    duration: float  # seconds, from a monotonic clock
    remote: str
    method: str
    path: str
    query: str
    protocol: str
    status: int
    bytes: int
    pid: int

    def as_dict(self) -> dict:
        """The record under the keys of FIELDS, in that order."""
        stamp = _stamp(self.started, "%Y-%m-%dT%H:%M:%S")
        millis = int(self.started * 1000) % 1000
        return {
            "time": f"{stamp}.{millis:03d}Z",
            "remote": self.remote or "-",
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "protocol": self.protocol,
            "status": self.status,
            "bytes": self.bytes,
            "duration_us": int(round(self.duration * 1e6)),
            "pid": self.pid,
        }


_stamps: dict = {}


def _stamp(when: float, pattern: str) -> str:
    """``when`` (UTC) to the second in ``pattern``, formatted once per second: every
    request of that second shares it."""
    second = int(when)
    cached = _stamps.get(pattern)
    if cached is not None and cached[0] == second:
        return cached[1]
    text = time.strftime(pattern, time.gmtime(second))
    _stamps[pattern] = (second, text)
    return text


def format_line(record: AccessRecord, style: str) -> str:
    """The line (without its newline) for ``record`` in ``style``, one of FORMATS."""
    if style == "json":
        return json.dumps(record.as_dict(), ensure_ascii=False)
    if style != "common":
        raise ValueError(f"unknown access log format {style!r} (one of {', '.join(FORMATS)})")
    stamp = _stamp(record.started, "%d/%b/%Y:%H:%M:%S +0000")
    target = record.path + ("?" + record.query if record.query else "")
    request = f"{record.method} {target} {record.protocol}".strip().replace('"', "%22")
    return (f'{record.remote or "-"} - - [{stamp}] "{request}" {record.status} {record.bytes or "-"} '
            f"{record.duration:.6f}s pid={record.pid}")


def native_json_format(placeholders: Mapping[str, str]) -> str:
    """A server's own JSON log template with the keys of FIELDS, in order.

    ``placeholders`` maps every field to the server's placeholder as it must
    appear in the JSON text: in quotes for text, bare for a number the server
    always writes as digits.
    """
    missing = [name for name in FIELDS if name not in placeholders]
    extra = sorted(set(placeholders) - set(FIELDS))
    if missing or extra:
        raise ValueError(f"access log fields: missing {missing}, unknown {extra}")
    return "{" + ", ".join(f'"{name}": {placeholders[name]}' for name in FIELDS) + "}"
