"""Run warp's protocol code on a real listening socket in this process, and talk raw
HTTP to it.  Shared by the server protocol, static-file and slow-client tests."""

from __future__ import annotations

import socket
import threading

from warp.runtime.server.config import ServerConfig
from warp.runtime.server.connection import serve_connection
from warp.runtime.server.loop import ConnectionLoop


class RecordingTracker:
    """The worker's side of the contract, recording what it is told."""

    def __init__(self) -> None:
        self.started: list = []
        self.finished: list = []
        self.shown: list = []       # (method, path) of each request made visible
        self.deferred: list = []    # per request started: whether showing it was left to show()
        self.closing = False
        self._current = None        # the request started and not yet shown

    def request_started(self, method, path, query="", protocol="", deferred=False):
        self.started.append((method, path))
        self.deferred.append(deferred)
        self._current = (method, path)
        if not deferred:
            self.show()

    def show(self):
        if self._current is not None:
            self.shown.append(self._current)
            self._current = None

    def request_finished(self, status, bytes_sent):
        self.finished.append((status, bytes_sent))

    def should_close(self):
        return self.closing


class ThreadedServer:
    """Accepts on 127.0.0.1 and serves each connection with `serve_connection` in a
    thread (the blocking driver)."""

    def __init__(self, app, **settings) -> None:
        self.app = app
        self.config = ServerConfig(**settings)
        self.tracker = RecordingTracker()
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(256)
        self.port = self.listener.getsockname()[1]
        self._stop = False
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop = True
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
        except OSError:
            pass
        self._thread.join(5)
        self.listener.close()

    def _accept(self) -> None:
        while not self._stop:
            sock, addr = self.listener.accept()
            if self._stop:
                sock.close()
                return
            threading.Thread(target=serve_connection,
                             args=(sock, addr, self.app, self.config, self.tracker),
                             daemon=True).start()


class LoopServer(ThreadedServer):
    """Serves every connection from one `ConnectionLoop` (the multiplexing driver), as a
    single-threaded worker does."""

    def __init__(self, app, **settings) -> None:
        super().__init__(app, **settings)
        self.loop = ConnectionLoop([self.listener], self.app, self.config, self.tracker)

    def __exit__(self, *exc):
        self._stop = True
        self._thread.join(5)
        self.listener.close()

    def _accept(self) -> None:
        while not self._stop:
            self.loop.run_once(0.05)
        self.loop.close()


SERVERS = {"loop": LoopServer, "threads": ThreadedServer}


def connect(port: int, timeout: float = 5.0) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=timeout)


class Response:
    def __init__(self, status, reason, headers, body, raw_head):
        self.status = status
        self.reason = reason
        self.headers = headers  # list of (lowercase name, value)
        self.body = body
        self.raw_head = raw_head

    def header(self, name, default=None):
        for key, value in self.headers:
            if key == name.lower():
                return value
        return default

    def header_list(self, name):
        return [value for key, value in self.headers if key == name.lower()]

    def __repr__(self):
        return f"<Response {self.status} {self.headers} {self.body[:80]!r}>"


class Reader:
    """Reads HTTP responses off a socket, strictly (the tests check the framing)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""

    def _fill(self) -> bool:
        data = self.sock.recv(65536)
        self.buf += data
        return bool(data)

    def _line(self) -> bytes:
        while b"\r\n" not in self.buf:
            if not self._fill():
                raise EOFError("connection closed mid-line: %r" % self.buf)
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def _exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            if not self._fill():
                raise EOFError("connection closed mid-body")
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def at_eof(self) -> bool:
        """True when the server closed the connection with nothing more to read."""
        if self.buf:
            return False
        try:
            return not self._fill()
        except ConnectionResetError:
            return True

    def response(self, head_request: bool = False, skip_interim: bool = True) -> Response:
        resp = self._response(head_request)
        while skip_interim and 100 <= resp.status < 200:
            resp = self._response(head_request)
        return resp

    def _response(self, head_request: bool) -> Response:
        raw_head = b""
        line = self._line()
        raw_head += line + b"\r\n"
        version, status, reason = line.decode("latin-1").split(" ", 2)
        assert version == "HTTP/1.1", line
        headers = []
        while True:
            line = self._line()
            raw_head += line + b"\r\n"
            if not line:
                break
            name, _, value = line.decode("latin-1").partition(":")
            assert name == name.strip() and name, line
            headers.append((name.lower(), value.strip()))
        resp = Response(int(status), reason, headers, b"", raw_head)
        code = resp.status
        if head_request or code in (204, 304) or 100 <= code < 200:
            return resp
        te = resp.header("transfer-encoding")
        cl = resp.header("content-length")
        if te is not None:
            assert te == "chunked" and cl is None, headers
            body = b""
            while True:
                size = int(self._line().split(b";")[0], 16)
                if size == 0:
                    while self._line():
                        pass
                    break
                body += self._exact(size)
                assert self._exact(2) == b"\r\n"
            resp.body = body
        elif cl is not None:
            resp.body = self._exact(int(cl))
        else:
            while self._fill():
                pass
            resp.body, self.buf = self.buf, b""
        return resp


def request(port: int, raw: bytes, head_request: bool = False) -> Response:
    """Send raw bytes on a fresh connection and read one response."""
    with connect(port) as sock:
        sock.sendall(raw)
        return Reader(sock).response(head_request)
