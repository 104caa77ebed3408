"""PEP 3333 on top of a parsed request: the environ, start_response, write(), and
sending the response with the right framing (Content-Length, chunked, or close).

The response is written straight to the socket through `Connection.send` /
`Connection.sendfile`, which raise `OSError` when the client is gone.
"""

from __future__ import annotations

import io
import logging
import os
import re
import sys
import time
from typing import IO, Any, Callable, Iterable, Optional, Protocol, Union
from urllib.parse import unquote_to_bytes

from warp.runtime.server.body import BodyBuffer
from warp.runtime.server.config import ServerConfig
from warp.runtime.server.http import Request

Environ = dict[str, Any]
StartResponse = Callable[..., Callable[[bytes], None]]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]
# A socket address as the socket module gives it: (host, port[, ...]) or a UNIX path.
SockAddr = Union[tuple, str]


class Client(Protocol):
    """What answering a request needs of the connection it came on."""

    def should_close(self) -> bool: ...

    def send(self, data: bytes) -> None: ...

    def sendfile(self, fd: int, offset: int, count: int) -> int: ...

log = logging.getLogger("warp.runtime.server")

_NO_BODY_STATUSES = frozenset(range(100, 200)) | {204, 304}
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BAD_HEADER_VALUE = re.compile(r"[\r\n\x00]")
# Framing headers are the server's business (PEP 3333 forbids hop-by-hop headers from
# the app); an app's own Transfer-Encoding or Keep-Alive is dropped, never forwarded.
_DROPPED_RESPONSE_HEADERS = frozenset({"transfer-encoding", "keep-alive"})
# Response header pairs already checked: most responses repeat the same few
# (Content-Type, Cache-Control...).  Bounded: an app varying its values (ETags, cookies)
# only stops adding to it.
_VALID_HEADERS: set = set()
_VALID_HEADERS_MAX = 1024


class FileWrapper:
    """`wsgi.file_wrapper`: iterable over a file; sent with `os.sendfile` when the
    file is a regular file with a descriptor."""

    def __init__(self, filelike: IO[bytes], blksize: int = 8192) -> None:
        self.filelike = filelike
        self.blksize = blksize
        if hasattr(filelike, "close"):
            self.close = filelike.close

    def __iter__(self):
        read = self.filelike.read
        blksize = self.blksize
        while True:
            data = read(blksize)
            if not data:
                return
            yield data

    def sendfile_range(self) -> tuple[int, int, int] | None:
        """(fd, offset, count) when the file can be sent with os.sendfile, else None."""
        try:
            fd = self.filelike.fileno()
            st = os.fstat(fd)
        except (AttributeError, OSError, io.UnsupportedOperation):
            return None
        if not (st.st_mode & 0o170000 == 0o100000):  # S_ISREG
            return None
        try:
            offset = self.filelike.tell()
        except (AttributeError, OSError):
            offset = os.lseek(fd, 0, os.SEEK_CUR)
        return fd, offset, max(0, st.st_size - offset)


# --- Date header, formatted once per second ----------------------------------------

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("", "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_date_second = -1
_date_header = ""


def http_date(when: float) -> str:
    """IMF-fixdate (RFC 9110 5.6.7)."""
    t = time.gmtime(when)
    return "%s, %02d %s %04d %02d:%02d:%02d GMT" % (
        _DAYS[t.tm_wday], t.tm_mday, _MONTHS[t.tm_mon], t.tm_year, t.tm_hour, t.tm_min, t.tm_sec)


def date_header() -> str:
    global _date_second, _date_header
    now = int(time.time())
    if now != _date_second:
        _date_second = now
        _date_header = "Date: " + http_date(now) + "\r\n"
    return _date_header


# --- environ ---------------------------------------------------------------------------

# Header name -> environ key, cached because the same few names recur on every request.
# Bounded so that a client inventing names cannot grow it without limit.
_ENV_KEYS: dict = {}
_ENV_KEYS_MAX = 512


def _env_key(name: str) -> str | None:
    key = _ENV_KEYS.get(name)
    if key is None:
        if "_" in name:
            # "X_Forwarded_For" would collide with "X-Forwarded-For" once mapped to
            # HTTP_X_FORWARDED_FOR; a proxy that strips one spelling would let the
            # other through.  Such headers are dropped (as nginx and gunicorn do).
            return None
        key = name.upper().replace("-", "_")
        if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            key = "HTTP_" + key
        if len(_ENV_KEYS) < _ENV_KEYS_MAX:
            _ENV_KEYS[name] = key
    return key


def split_host(host: str, default_port: str) -> tuple[str, str]:
    if host.startswith("["):
        end = host.find("]")
        name, rest = host[:end + 1], host[end + 1:]
        return name, rest[1:] if rest.startswith(":") and rest[1:] else default_port
    name, sep, port = host.partition(":")
    return name, port if port else default_port


class EnvironBuilder:
    """Builds the environ for requests on one connection."""

    __slots__ = ("base", "script_name", "trust_proxy", "trusted", "server_name", "server_port")

    def __init__(self, config: ServerConfig, sock_name: SockAddr, peer: SockAddr, multithread: bool) -> None:
        if isinstance(sock_name, tuple):
            self.server_name, self.server_port = str(sock_name[0]), str(sock_name[1])
        else:
            self.server_name, self.server_port = "localhost", "80"
        if isinstance(peer, tuple):
            remote_addr, remote_port = str(peer[0]), str(peer[1])
        else:
            remote_addr, remote_port = "", ""  # unix socket
        self.script_name = config.script_name.rstrip("/")
        allowed = config.trusted_proxies
        self.trusted = allowed
        # A unix-socket peer is on this machine (like loopback): trusted by default.
        self.trust_proxy = "*" in allowed or not remote_addr or remote_addr in allowed
        self.base = {
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": multithread,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
            "wsgi.file_wrapper": FileWrapper,
            # wsgi.input holds exactly the body and ends with it (the extension gunicorn
            # and mod_wsgi set; Werkzeug needs it to read bodies that came chunked).
            "wsgi.input_terminated": True,
            "SCRIPT_NAME": self.script_name,
            "REMOTE_ADDR": remote_addr,
            "REMOTE_PORT": remote_port,
            "SERVER_NAME": self.server_name,
            "SERVER_PORT": self.server_port,
        }

    def build(self, req: Request, body: Optional[BodyBuffer], stream: Optional[IO[bytes]] = None,
              length: int | None = None) -> Environ | None:
        """The environ for `req`, or None when its path is outside the mount prefix.

        `body` is a whole received body (`BodyBuffer`, blocking driver) or None; the
        worker's loop passes `stream` (its streaming ``wsgi.input``) and `length`, the
        Content-Length.  A chunked body has HTTP_TRANSFER_ENCODING and no CONTENT_LENGTH
        (PEP 3333: CONTENT_LENGTH is the header's value; ``wsgi.input_terminated`` says
        to read to the end), with either driver.  Never both."""
        env = self.base.copy()
        env["REQUEST_METHOD"] = req.method
        env["SERVER_PROTOCOL"] = req.version
        env["QUERY_STRING"] = req.query
        env["RAW_URI"] = env["REQUEST_URI"] = req.target
        path = req.path
        if "%" in path:
            # PEP 3333: PATH_INFO is the decoded path, bytes carried as latin-1.
            path = unquote_to_bytes(path).decode("latin-1")
        script_name = self.script_name
        if script_name:
            if path == script_name or path.startswith(script_name + "/"):
                path = path[len(script_name):]
            else:
                return None
        env["PATH_INFO"] = path
        for name, value in req.headers:
            key = _ENV_KEYS.get(name) or _env_key(name)
            if key is None:
                continue
            if key in env:
                if key == "CONTENT_LENGTH" or key == "CONTENT_TYPE":
                    continue
                env[key] += ("; " if key == "HTTP_COOKIE" else ", ") + value
            else:
                env[key] = value
        if req.host is not None:
            env["HTTP_HOST"] = req.host  # absolute-form target overrides Host
            env["SERVER_NAME"], env["SERVER_PORT"] = split_host(req.host, self.server_port)
        if stream is not None:
            env["wsgi.input"] = stream
            if length is not None:
                env["CONTENT_LENGTH"] = str(length)
            else:
                env.pop("CONTENT_LENGTH", None)
        elif body is not None:
            if req.chunked:
                env.pop("CONTENT_LENGTH", None)
            else:
                env["CONTENT_LENGTH"] = str(body.size)
            env["wsgi.input"] = body.finish()
        else:
            env.pop("CONTENT_LENGTH", None)
            env["wsgi.input"] = io.BytesIO()
        if self.trust_proxy and (
            "HTTP_FORWARDED" in env or "HTTP_X_FORWARDED_FOR" in env or "HTTP_X_FORWARDED_PROTO" in env
        ):
            self._apply_proxy_headers(env)
        return env

    def _apply_proxy_headers(self, env: dict) -> None:
        """Take the client address and scheme from a trusted proxy's headers.

        Walk the address list from the right (the entry the nearest proxy added) and
        skip addresses that are themselves trusted proxies."""
        addrs: list = []
        proto = None
        if "HTTP_FORWARDED" in env:
            for element in env["HTTP_FORWARDED"].split(","):
                for pair in element.split(";"):
                    key, _, value = pair.strip().partition("=")
                    key = key.strip().lower()
                    value = value.strip().strip('"')
                    if key == "for":
                        if value.startswith("["):
                            value = value[1:value.find("]")]
                        elif value.count(":") == 1:
                            value = value.split(":")[0]
                        addrs.append(value)
                    elif key == "proto":
                        proto = value.lower()
        else:
            if "HTTP_X_FORWARDED_FOR" in env:
                addrs = [a.strip() for a in env["HTTP_X_FORWARDED_FOR"].split(",")]
            if "HTTP_X_FORWARDED_PROTO" in env:
                proto = env["HTTP_X_FORWARDED_PROTO"].split(",")[-1].strip().lower()
        trusted = self.trusted
        client = None
        for addr in reversed(addrs):
            if addr and addr not in trusted:
                client = addr
                break
        else:
            if addrs and addrs[0]:
                client = addrs[0]
        if client:
            env["REMOTE_ADDR"] = client
            env["REMOTE_PORT"] = ""
        if proto in ("http", "https"):
            env["wsgi.url_scheme"] = proto
            if proto == "https" and env["SERVER_PORT"] == "80" and "HTTP_HOST" in env and ":" not in env["HTTP_HOST"]:
                env["SERVER_PORT"] = "443"


# --- the response ----------------------------------------------------------------------


class AppError(Exception):
    """The application broke the WSGI contract (reported as 500 / dropped connection)."""


class Response:
    """One response: start_response, write() and framing.  `keep_alive` tells the
    connection whether another request may follow."""

    __slots__ = ("conn", "req", "status", "code", "headers", "head_sent", "chunked",
                 "remaining", "bytes_sent", "no_body", "keep_alive", "app_length")

    def __init__(self, conn: Client, req: Request) -> None:
        self.conn = conn
        self.req = req
        self.status: str | None = None
        self.code = 0
        self.headers: list[tuple[str, str]] = []
        self.head_sent = False
        self.chunked = False
        self.remaining = -1      # bytes the declared Content-Length still allows
        self.bytes_sent = 0
        self.no_body = False
        self.keep_alive = req.keep_alive
        self.app_length = -1

    # -- PEP 3333 callables --

    def start_response(self, status: str, headers: list[tuple[str, str]],
                       exc_info: Optional[tuple] = None) -> Callable[[bytes], None]:
        if exc_info is not None:
            try:
                if self.head_sent:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif self.status is not None:
            raise AppError("start_response called a second time without exc_info")
        if type(status) is not str or len(status) < 4 or not status[:3].isdigit() or status[3] != " ":
            raise AppError(f"invalid status {status!r}")
        if type(headers) is not list:
            raise AppError("response headers must be a list")
        valid = _VALID_HEADERS
        for item in headers:
            if type(item) is not tuple or len(item) != 2:
                raise AppError(f"invalid response header {item!r}")
            name, value = item
            if type(name) is not str or type(value) is not str:
                raise AppError(f"response header {name!r} must be a pair of str")
            if item in valid:
                continue
            if not _HEADER_NAME.fullmatch(name) or _BAD_HEADER_VALUE.search(value):
                raise AppError(f"invalid response header {name!r}")
            if len(valid) < _VALID_HEADERS_MAX:
                valid.add(item)
        self.status = status
        self.code = int(status[:3])
        self.headers = headers
        return self.write

    def write(self, data: bytes) -> None:
        if self.status is None:
            raise AppError("write() before start_response")
        if not self.head_sent:
            self._send_head(data, None)
            return
        self._send_body(data)

    # -- sending --

    def _head_bytes(self, total: int | None) -> bytes:
        """The status line and headers; decides framing.  `total` is the whole body's
        length when already known (a list returned by the app)."""
        req = self.req
        code = self.code
        self.no_body = req.method == "HEAD" or code in _NO_BODY_STATUSES
        # Only reached after start_response: write() and the result loop check it first.
        assert self.status is not None
        parts = ["HTTP/1.1 ", self.status, "\r\n"]
        length = -1
        for name, value in self.headers:
            lname = name.lower()
            if lname == "content-length":
                try:
                    length = int(value)
                except ValueError:
                    raise AppError(f"invalid Content-Length {value!r}") from None
                if length < 0:
                    raise AppError(f"invalid Content-Length {value!r}")
                continue  # written once below, after the framing decision
            elif lname == "connection":
                if "close" in value.lower():
                    self.keep_alive = False
                continue
            elif lname in _DROPPED_RESPONSE_HEADERS:
                continue
            parts += (name, ": ", value, "\r\n")
        parts.append(date_header())
        if length >= 0:
            if code not in _NO_BODY_STATUSES or length:
                parts += ("Content-Length: ", str(length), "\r\n")
            self.remaining = length
            self.app_length = length
        elif code in _NO_BODY_STATUSES:
            pass
        elif total is not None:
            # Known length (HEAD included: it announces what GET would send).
            parts += ("Content-Length: ", str(total), "\r\n")
            self.remaining = total
        elif self.no_body:
            pass
        elif req.version == "HTTP/1.1":
            parts.append("Transfer-Encoding: chunked\r\n")
            self.chunked = True
        else:
            self.keep_alive = False  # HTTP/1.0: the end of the body is the close
        if self.keep_alive and self.conn.should_close():
            self.keep_alive = False
        if not self.keep_alive:
            parts.append("Connection: close\r\n\r\n")
        elif req.version == "HTTP/1.0":
            parts.append("Connection: keep-alive\r\n\r\n")
        else:
            parts.append("\r\n")
        return "".join(parts).encode("latin-1")

    def _frame(self, data) -> bytes:
        """Body bytes as they go on the wire; enforces a declared Content-Length."""
        if self.no_body or not data:
            return b""
        if self.remaining >= 0:
            if len(data) > self.remaining:
                log.error("application sent more than its Content-Length (%d); response truncated",
                          self.app_length)
                data = data[:self.remaining]
                self.keep_alive = False
            self.remaining -= len(data)
            return data
        if self.chunked:
            return b"%x\r\n%b\r\n" % (len(data), data)
        return data

    def _send_head(self, data, total) -> None:
        if type(data) is not bytes:
            if isinstance(data, (bytearray, memoryview)):
                data = bytes(data)
            else:
                raise AppError(f"response body items must be bytes, not {type(data).__name__}")
        head = self._head_bytes(total)
        self.head_sent = True
        body = self._frame(data)
        self.conn.send(head + body if len(body) < 65536 else head)
        if len(body) >= 65536:
            self.conn.send(body)
        self.bytes_sent += len(body)

    def _send_body(self, data) -> None:
        if type(data) is not bytes:
            if isinstance(data, (bytearray, memoryview)):
                data = bytes(data)
            else:
                raise AppError(f"response body items must be bytes, not {type(data).__name__}")
        body = self._frame(data)
        if body:
            self.conn.send(body)
            self.bytes_sent += len(body)

    def run(self, app: WSGIApp, environ: Environ) -> None:
        """Call the app and send everything it returns."""
        result = app(environ, self.start_response)
        try:
            if type(result) is list and not self.head_sent:
                if self.status is None:
                    raise AppError("application returned without calling start_response")
                if len(result) == 1:
                    data = result[0]
                else:
                    try:
                        data = b"".join(result)
                    except TypeError:
                        raise AppError("response body items must be bytes") from None
                self._send_head(data, len(data))
            elif isinstance(result, FileWrapper) and not self.head_sent and self.status is not None:
                self._send_file(result)
            else:
                for data in result:
                    if data:
                        if self.head_sent:
                            self._send_body(data)
                        else:
                            self.write(data)
                if self.status is None:
                    raise AppError("application returned without calling start_response")
            self.finish()
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()

    def _send_file(self, wrapper: FileWrapper) -> None:
        where = wrapper.sendfile_range()
        if where is None:
            for data in wrapper:
                self.write(data)
            return
        fd, offset, count = where
        head = self._head_bytes(count)
        self.head_sent = True
        self.conn.send(head)
        if self.no_body:
            return
        if self.remaining >= 0:
            count = min(count, self.remaining)
        if self.chunked:
            self.conn.send(b"%x\r\n" % count)
        sent = self.conn.sendfile(fd, offset, count)
        self.bytes_sent += sent
        if self.remaining >= 0:
            self.remaining -= sent
        if self.chunked:
            self.conn.send(b"\r\n")

    def finish(self) -> None:
        """End the body: empty head if none was sent, last chunk, length check."""
        if not self.head_sent:
            self._send_head(b"", 0)
        if self.chunked:
            self.conn.send(b"0\r\n\r\n")
        elif self.remaining > 0 and not self.no_body:
            log.error("application sent less than its Content-Length (%d); closing connection",
                      self.app_length)
            self.keep_alive = False
