"""Development switches as WSGI middleware, so they work under every WSGI server.

Standard library only: this runs in the application's interpreter, wrapped around
the app by ``warp.runtime.shim`` when ``warp start --debug`` or ``--record DIR``
asks for it (environment ``WARP_DEBUG=1``, ``WARP_RECORD=DIR``).

- :class:`PostMortem` (``--debug``): an exception escaping the app stops in ``pdb``
  at the failing frame when the server's stdin is a terminal (as mod_wsgi-express's
  ``--enable-debugger``); without one, the traceback is printed with each frame's
  local variables. Either way the client then gets a 500 and the server goes on.
- :class:`Recorder` (``--record DIR``): each request and its response are written to
  DIR as one JSON file, named so that they sort by time, with secrets redacted and
  large bodies truncated (and marked so); ``warp replay DIR`` sends them again.
"""

from __future__ import annotations

import base64
import io
import itertools
import json
import os
import sys
import threading
import time
import traceback
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

WSGIApp = Callable[..., Iterable[bytes]]

# Headers whose values never reach a recording (and those the user adds).
REDACTED = ("authorization", "cookie", "set-cookie", "proxy-authorization", "x-api-key")
REDACTION = "[redacted]"
RECORD_BODY_LIMIT = 64 * 1024
RECORDING_VERSION = 1


def _server_error(start_response: Callable[..., Any]) -> List[bytes]:
    body = b"Internal Server Error\n"
    start_response("500 Internal Server Error", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))],
                   sys.exc_info())
    return [body]


class PostMortem:
    """``--debug``: stop in pdb where a request failed, then answer 500."""

    # pdb reads the one terminal: two failing requests at once must take turns.
    _lock = threading.Lock()

    def __init__(self, app: WSGIApp, stdin: Optional[Any] = None, stdout: Optional[Any] = None) -> None:
        self.app = app
        self.stdin = stdin or sys.stdin
        self.stdout = stdout or sys.stdout

    def __call__(self, environ: Dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        try:
            # Materialise the body here, so an exception raised while iterating it is
            # caught too, in the frame that raised it.
            return list(self.app(environ, start_response))
        except Exception:
            self.debug(environ, sys.exc_info())
            return _server_error(start_response)

    def debug(self, environ: Dict[str, Any], info: Tuple[Any, Any, Any]) -> None:
        what = f"{environ.get('REQUEST_METHOD')} {environ.get('PATH_INFO')}"
        with self._lock:
            if _is_terminal(self.stdin):
                import pdb

                print(f"warp --debug: {what} raised; post-mortem debugger (`c` continues, the client gets 500)",
                      file=self.stdout, flush=True)
                traceback.print_exception(*info, file=self.stdout)
                debugger = pdb.Pdb(stdin=self.stdin, stdout=self.stdout)
                debugger.reset()
                debugger.interaction(None, info[2])
            else:
                print(f"warp --debug: {what} raised (no terminal for pdb; locals of each frame follow)",
                      file=sys.stderr, flush=True)
                details = traceback.TracebackException(*info, capture_locals=True)
                sys.stderr.write("".join(details.format()))
                sys.stderr.flush()


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def _redact(headers: Sequence[Tuple[str, str]], secret: Sequence[str]) -> List[List[str]]:
    return [[name, REDACTION if name.lower() in secret else value] for name, value in headers]


def _body(data: bytes, limit: int) -> Dict[str, Any]:
    """A body as JSON: text when it is UTF-8, else base64; truncated past ``limit`` (and said so)."""
    kept = data[:limit]
    out: Dict[str, Any] = {"size": len(data), "truncated": len(data) > limit}
    try:
        out["text"] = kept.decode("utf-8")
    except UnicodeDecodeError:
        out["base64"] = base64.b64encode(kept).decode("ascii")
    return out


def request_headers(environ: Dict[str, Any]) -> List[Tuple[str, str]]:
    """The request's headers as the client sent their names (CGI keys turned back)."""
    headers = []
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            headers.append((key[5:].replace("_", "-").title(), value))
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value:
            headers.append((key.replace("_", "-").title(), value))
    return sorted(headers)


class Recorder:
    """``--record DIR``: every request and response, one JSON file each, in time order."""

    _sequence = itertools.count(1)

    def __init__(self, app: WSGIApp, folder: str, limit: int = RECORD_BODY_LIMIT,
                 redact: Sequence[str] = ()) -> None:
        self.app = app
        self.folder = folder
        self.limit = limit
        self.secret = tuple(REDACTED) + tuple(name.lower() for name in redact)
        os.makedirs(folder, exist_ok=True)

    def __call__(self, environ: Dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
        started_at, started = time.time(), time.monotonic()
        length = environ.get("CONTENT_LENGTH") or ""
        body = environ["wsgi.input"].read(int(length)) if length.isdigit() else b""
        if not length.isdigit() and environ.get("HTTP_TRANSFER_ENCODING", "").lower() == "chunked":
            body = environ["wsgi.input"].read()
        environ["wsgi.input"] = io.BytesIO(body)
        record: Dict[str, Any] = {
            "version": RECORDING_VERSION,
            "time": started_at,
            "request": {
                "method": environ.get("REQUEST_METHOD", ""),
                "path": environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", ""),
                "query": environ.get("QUERY_STRING", ""),
                "headers": _redact(request_headers(environ), self.secret),
                "body": _body(body, self.limit),
            },
            "response": None,
            "exception": None,
        }
        response: Dict[str, Any] = {}

        def recording_start_response(status: str, headers: List[Tuple[str, str]], exc_info: Any = None) -> Any:
            response["status"], response["headers"] = status, list(headers)
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        chunks: List[bytes] = []
        try:
            for chunk in self.app(environ, recording_start_response):
                chunks.append(chunk)
                yield chunk
        except BaseException as exc:
            record["exception"] = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            raise
        finally:
            sent = b"".join(chunks)
            if response:
                record["response"] = {
                    "status": int(response["status"].split(" ", 1)[0]),
                    "reason": response["status"].partition(" ")[2],
                    "headers": _redact(response["headers"], self.secret),
                    "body": _body(sent, self.limit),
                }
            record["duration"] = round(time.monotonic() - started, 6)
            self._write(record, started_at)

    def _write(self, record: Dict[str, Any], started_at: float) -> None:
        # Sortable by time: nanoseconds, then pid and a counter so that two workers
        # (or two threads) starting in the same nanosecond never share a name.
        name = f"{int(started_at * 1e9):020d}-{os.getpid()}-{next(self._sequence):06d}.json"
        path = os.path.join(self.folder, name)
        temporary = path + ".tmp"
        with open(temporary, "w", encoding="utf-8") as f:
            json.dump(record, f, indent=1, sort_keys=True)
        os.replace(temporary, path)  # a reader never sees half a recording


def wrap(app: WSGIApp, environ: Optional[Dict[str, str]] = None) -> WSGIApp:
    """The app with the development switches the environment asks for."""
    environ = dict(os.environ if environ is None else environ)
    if environ.get("WARP_RECORD"):
        redact = [name for name in environ.get("WARP_RECORD_REDACT", "").replace(",", " ").split() if name]
        app = Recorder(app, environ["WARP_RECORD"], int(environ.get("WARP_RECORD_BODY_LIMIT") or RECORD_BODY_LIMIT),
                       redact)
    if environ.get("WARP_DEBUG") == "1":
        app = PostMortem(app)
    return app
