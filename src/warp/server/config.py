"""The bundled server's settings, each declared once.

Every setting is one field of :class:`ServerConfig` whose metadata (flag, environment
variable, help text, parser) is what the command line and the docs come from.

Standard library only: this runs inside the application's interpreter.
(Minimal version landed by helper "http" so the protocol code has its settings; the
process-model fields and the argparse mapping belong to helper "arbiter".)
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence


def _setting(
    flags: Sequence[str],
    env: Optional[str],
    help: str,
    *,
    parse: Optional[Callable[[str], Any]] = None,
    kind: str = "value",
    metavar: Optional[str] = None,
) -> dict:
    """Metadata for one ServerConfig field (kind: value, flag or list)."""
    return {"flags": tuple(flags), "env": env, "help": help, "parse": parse, "kind": kind,
            "metavar": metavar}


def _nonneg_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError(f"must be 0 or more, got {value}")
    return value


def _pos_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(f"must be 1 or more, got {value}")
    return value


def _seconds(text: str) -> float:
    value = float(text)
    if value < 0 or math.isnan(value):
        raise ValueError(f"must be a number of seconds >= 0, got {text!r}")
    return value


@dataclass(frozen=True)
class ServerConfig:
    """Validated, immutable server settings."""

    app: str = field(default="", metadata=_setting(
        ["app"], None, "WSGI application as module:callable", metavar="MODULE:CALLABLE"))

    # --- process model (helper "arbiter") ---------------------------------------------

    # --- protocol (helper "http"): add fields below this line -------------------------
    script_name: str = field(default="", metadata=_setting(
        ["--script-name"], "WARP_SCRIPT_NAME",
        "URL prefix the application is mounted at (becomes SCRIPT_NAME; requests outside "
        "it get 404)", metavar="PREFIX"))
    forwarded_allow_ips: tuple = field(default=("127.0.0.1", "::1"), metadata=_setting(
        ["--forwarded-allow-ips"], "WARP_FORWARDED_ALLOW_IPS",
        "proxy addresses whose X-Forwarded-For/-Proto and Forwarded headers are trusted; "
        "'*' trusts every peer (env: comma separated)", kind="list", metavar="ADDRESS"))
    static: tuple = field(default=(), metadata=_setting(
        ["--static"], "WARP_STATIC",
        "serve files under URL prefix from a folder without calling the app; repeat for "
        "several (env: comma separated)", kind="list", metavar="PREFIX=FOLDER"))
    limit_request_line: int = field(default=8190, metadata=_setting(
        ["--limit-request-line"], "WARP_LIMIT_REQUEST_LINE",
        "longest request line in bytes (longer: 414)", parse=_pos_int))
    limit_request_fields: int = field(default=100, metadata=_setting(
        ["--limit-request-fields"], "WARP_LIMIT_REQUEST_FIELDS",
        "most header fields in a request (more: 431)", parse=_pos_int))
    limit_request_field_size: int = field(default=8190, metadata=_setting(
        ["--limit-request-field-size"], "WARP_LIMIT_REQUEST_FIELD_SIZE",
        "longest header field line in bytes (longer: 431)", parse=_pos_int))
    limit_request_body: int = field(default=100 * 1024 * 1024, metadata=_setting(
        ["--limit-request-body"], "WARP_LIMIT_REQUEST_BODY",
        "largest request body in bytes (larger: 413; 0: no limit)", parse=_nonneg_int))
    header_timeout: float = field(default=10.0, metadata=_setting(
        ["--header-timeout"], "WARP_HEADER_TIMEOUT",
        "seconds a client gets to send a whole request head, and the longest pause "
        "while sending a body (then 408 and close)", parse=_seconds))
    keepalive_timeout: float = field(default=5.0, metadata=_setting(
        ["--keepalive-timeout"], "WARP_KEEPALIVE_TIMEOUT",
        "seconds an idle keep-alive connection stays open (0: no keep-alive)",
        parse=_seconds))
    write_timeout: float = field(default=30.0, metadata=_setting(
        ["--write-timeout"], "WARP_WRITE_TIMEOUT",
        "seconds a client may stop reading a response before the connection is dropped",
        parse=_seconds))
    worker_connections: int = field(default=1000, metadata=_setting(
        ["--worker-connections"], "WARP_WORKER_CONNECTIONS",
        "most open connections per worker (idle keep-alive ones included)", parse=_pos_int))

    def with_changes(self, **changes: Any) -> "ServerConfig":
        return dataclasses.replace(self, **changes)
