"""Prometheus text (0.0.4) and OpenMetrics exposition of the stats document, and the
master's tiny HTTP endpoint for it (``--metrics HOST:PORT``, path ``/metrics``).

``render(doc)`` is pure: the master serves it over HTTP, and ``warp metrics`` renders
the very same text from the document it reads through the stats socket.

Names follow the Prometheus conventions: a ``warp_`` prefix, base units (``_seconds``,
``_bytes``), ``_total`` on counters. Only bounded labels: ``worker`` is the worker's
slot number (at most three times the worker count), never its pid; ``method``,
``code``, ``state``, ``phase`` and ``cause`` take a fixed set of values.
"""

from __future__ import annotations

import socket
import time
from typing import Any, Dict, Iterable, List, Optional, Tuple

from warp.runtime.server.stats import listen_nonblocking
from warp.runtime.server.metrics import CAUSES, CODES, EXPOSED, METHODS, PHASES, STATES

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"


def _label(value: Any) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(pairs: Iterable[Tuple[str, Any]]) -> str:
    inner = ",".join(f'{name}="{_label(value)}"' for name, value in pairs)
    return "{" + inner + "}" if inner else ""


def _number(value: Any) -> str:
    if value is None:
        return "NaN"
    if isinstance(value, float):
        return repr(value) if value != int(value) or abs(value) >= 1e15 else f"{value:.1f}"
    return str(int(value))


class _Writer:
    def __init__(self, openmetrics: bool) -> None:
        self.openmetrics = openmetrics
        self.lines: List[str] = []

    def family(self, name: str, kind: str, doc: str, samples: Iterable[Tuple[str, List[Tuple[str, Any]], Any]],
               unit: str = "") -> None:
        """``name`` is the family name (a counter's without ``_total``); each sample is
        (suffix, labels, value)."""
        samples = list(samples)
        if not samples:
            return
        self.lines.append(f"# HELP {name} {doc}")
        self.lines.append(f"# TYPE {name} {kind}")
        if unit and self.openmetrics:
            self.lines.append(f"# UNIT {name} {unit}")
        for suffix, labels, value in samples:
            self.lines.append(f"{name}{suffix}{_labels(labels)} {_number(value)}")

    def text(self) -> str:
        if self.openmetrics:
            self.lines.append("# EOF")
        return "\n".join(self.lines) + "\n"


def render(doc: Dict[str, Any], openmetrics: bool = False) -> str:
    """The exposition of a stats document (``Arbiter.snapshot()``)."""
    out = _Writer(openmetrics)
    m = doc.get("metrics") or {}
    workers = doc.get("workers", [])
    live = [w for w in workers if w.get("slot") is not None]

    def counter(name: str, doc_text: str, samples: Iterable[Tuple[List[Tuple[str, Any]], Any]], unit: str = "") -> None:
        out.family(name, "counter", doc_text, [("_total", labels, value) for labels, value in samples], unit)

    def gauge(name: str, doc_text: str, samples: Iterable[Tuple[List[Tuple[str, Any]], Any]], unit: str = "") -> None:
        out.family(name, "gauge", doc_text, [("", labels, value) for labels, value in samples], unit)

    def histogram(name: str, doc_text: str, data: Dict[str, Any], unit: str) -> None:
        counts = data.get("buckets") or [0] * (len(EXPOSED) + 1)
        samples: List[Tuple[str, List[Tuple[str, Any]], Any]] = []
        for bound, count in zip(list(EXPOSED) + [None], counts):
            le = "+Inf" if bound is None else repr(float(bound))
            samples.append(("_bucket", [("le", le)], count))
        samples.append(("_count", [], data.get("count", 0)))
        samples.append(("_sum", [], float(data.get("sum", 0.0))))
        out.family(name, "histogram", doc_text, samples, unit)

    requests = m.get("requests", {})
    counter("warp_http_requests", "HTTP requests answered, by method and status class (requests refused "
            "before the app count under method other).",
            [([("method", method), ("code", code)], requests.get(method, {}).get(code, 0))
             for method in METHODS for code in CODES if requests.get(method, {}).get(code, 0)]
            or [([("method", "GET"), ("code", "2xx")], 0)])
    counter("warp_http_response_bytes", "Response body bytes sent.", [([], m.get("response_bytes", 0))], "bytes")
    histogram("warp_http_request_duration_seconds", "Time from calling the application to its last response byte "
              "handed to the server.", m.get("duration", {}), "seconds")
    histogram("warp_http_request_queue_seconds", "Time a ready request waited for a request thread before the "
              "application was called.", m.get("queue", {}), "seconds")
    gauge("warp_http_requests_in_flight", "Requests the application is running now.",
          [([("worker", w["slot"])], len(w.get("busy", []))) for w in live])
    gauge("warp_http_requests_queued", "Ready requests waiting for a free request thread.",
          [([("worker", w["slot"])], w.get("queued", 0)) for w in live])
    gauge("warp_connections", "Open client connections by state.",
          [([("worker", w["slot"]), ("state", state)], (w.get("connections") or {}).get(state, 0))
           for w in live for state in STATES])
    counter("warp_worker_requests", "Requests answered by the workers of a slot (its replaced workers included).",
            [([("worker", w["slot"])], w.get("requests_total", 0)) for w in live])
    counter("warp_worker_busy_seconds", "Request-thread seconds spent running the application (capacity "
            "utilisation = rate of this / warp_worker_threads).",
            [([("worker", w["slot"])], float(w.get("busy_seconds", 0.0))) for w in live], "seconds")
    gauge("warp_worker_threads", "Request threads of a worker.",
          [([("worker", w["slot"])], doc.get("threads", 1)) for w in live])
    gauge("warp_worker_resident_memory_bytes", "Resident set size of a worker.",
          [([("worker", w["slot"])], w.get("rss", 0)) for w in live], "bytes")
    gauge("warp_worker_generation", "Code generation a worker runs (a reload makes a new one).",
          [([("worker", w["slot"])], w.get("generation", 0)) for w in live])
    restarts = m.get("restarts", {})
    counter("warp_worker_restarts", "Workers replaced, by cause.",
            [([("cause", cause)], restarts.get(cause, 0)) for cause in CAUSES])
    timeouts = m.get("timeouts", {})
    counter("warp_timeouts", "Deadlines hit, by phase (head, body and write: the client; request: the "
            "application, answered 504; queue: no thread in time, answered 503).",
            [([("phase", phase)], timeouts.get(phase, 0)) for phase in PHASES])
    counter("warp_connections_shed", "Connections closed at the connection cap (--worker-connections).",
            [([], m.get("shed", 0))])
    backlog = doc.get("backlog") or []
    gauge("warp_listen_backlog", "Connections waiting in the kernel's accept queue of a listening socket.",
          [([("listener", b["listener"])], b["queued"]) for b in backlog if b.get("queued") is not None])
    gauge("warp_listen_backlog_limit", "Length of that accept queue.",
          [([("listener", b["listener"])], b["limit"]) for b in backlog if b.get("limit") is not None])
    gauge("warp_workers", "Worker processes by state.",
          [([("state", state)], sum(1 for w in workers if w.get("state") == state))
           for state in ("starting", "idle", "busy", "stopping")])
    gauge("warp_workers_target", "Workers the master keeps running.", [([], doc.get("target_workers", 0))])
    gauge("warp_generation", "Current code generation (1, then one more per reload).", [([], doc.get("generation", 1))])
    gauge("warp_uptime_seconds", "Seconds since the master started.", [([], float(doc.get("uptime", 0.0)))], "seconds")
    gauge("warp_start_time_seconds", "Unix time the master started.", [([], float(doc.get("started", 0.0)))], "seconds")
    return out.text()


# --- the HTTP endpoint -------------------------------------------------------------------------

def parse_metrics_address(text: str) -> Tuple[int, Tuple[str, int]]:
    """(family, (host, port)) from HOST:PORT, [IPV6]:PORT or :PORT (loopback)."""
    host, sep, port = text.strip().rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"metrics address {text!r}: expected HOST:PORT, e.g. 127.0.0.1:9464")
    host = host.strip("[]") or "127.0.0.1"
    return (socket.AF_INET6 if ":" in host else socket.AF_INET), (host, int(port))


_REQUEST_MAX = 8192
_CLIENT_TIME = 5.0


class _Client:
    __slots__ = ("sock", "data", "out", "deadline")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.data = b""
        self.out = b""
        self.deadline = time.monotonic() + _CLIENT_TIME


class MetricsServer:
    """A non-blocking listener the master's select loop serves: each scrape is read,
    answered and closed without ever blocking the master."""

    def __init__(self, setting: str) -> None:
        family, address = parse_metrics_address(setting)
        sock = listen_nonblocking(family, address)
        self.sock = sock
        host, port = sock.getsockname()[:2]
        self.where = f"http://{'[' + host + ']' if ':' in host else host}:{port}/metrics"
        self.clients: Dict[int, _Client] = {}

    def readers(self) -> List[Any]:
        return [self.sock] + [c.sock for c in self.clients.values() if not c.out]

    def writers(self) -> List[Any]:
        return [c.sock for c in self.clients.values() if c.out]

    def handle(self, readable: Iterable[Any], writable: Iterable[Any], document: Any) -> None:
        """Serve what select() found ready; ``document()`` makes the stats document."""
        readable = [r for r in readable if isinstance(r, socket.socket)]
        writable = [w for w in writable if isinstance(w, socket.socket)]
        if self.sock in readable:
            for _ in range(16):
                try:
                    conn, _ = self.sock.accept()
                except OSError:
                    break
                conn.setblocking(False)
                self.clients[conn.fileno()] = _Client(conn)
        for sock in readable:
            client = self.clients.get(sock.fileno()) if sock is not self.sock else None
            if client is not None:
                self._read(client, document)
        for sock in writable:
            client = self.clients.get(sock.fileno())
            if client is not None:
                self._write(client)
        now = time.monotonic()
        for client in list(self.clients.values()):
            if now > client.deadline:
                self._close(client)

    def _read(self, client: _Client, document: Any) -> None:
        try:
            data = client.sock.recv(4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._close(client)
            return
        client.data += data
        if b"\r\n\r\n" not in client.data and b"\n\n" not in client.data:
            if len(client.data) > _REQUEST_MAX:
                self._close(client)
            return
        client.out = self._answer(client.data, document)
        self._write(client)

    def _answer(self, request: bytes, document: Any) -> bytes:
        head = request.split(b"\r\n\r\n", 1)[0].decode("latin-1", "replace")
        line, _, rest = head.partition("\n")
        parts = line.split()
        method, target = (parts[0], parts[1]) if len(parts) >= 2 else ("", "")
        path = target.split("?", 1)[0]
        if method not in ("GET", "HEAD"):
            return _response("405 Method Not Allowed", "text/plain", b"GET /metrics\n", method == "HEAD")
        if path not in ("/metrics", "/"):
            return _response("404 Not Found", "text/plain", b"the metrics are at /metrics\n", method == "HEAD")
        accept = ""
        for header in rest.split("\n"):
            name, _, value = header.partition(":")
            if name.strip().lower() == "accept":
                accept = value.lower()
        openmetrics = "application/openmetrics-text" in accept
        try:
            body = render(document(), openmetrics).encode("utf-8")
        except Exception as exc:  # the master must outlive a bad scrape
            return _response("500 Internal Server Error", "text/plain", f"{exc}\n".encode(), method == "HEAD")
        return _response("200 OK", OPENMETRICS_TYPE if openmetrics else CONTENT_TYPE, body, method == "HEAD")

    def _write(self, client: _Client) -> None:
        try:
            sent = client.sock.send(client.out)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._close(client)
            return
        client.out = client.out[sent:]
        if not client.out:
            self._close(client)

    def _close(self, client: _Client) -> None:
        self.clients.pop(client.sock.fileno(), None)
        try:
            client.sock.close()
        except OSError:
            pass

    def close(self) -> None:
        for client in list(self.clients.values()):
            self._close(client)
        self.sock.close()


def _response(status: str, content_type: str, body: bytes, head_only: bool = False) -> bytes:
    head = (f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n").encode("latin-1")
    return head + (b"" if head_only else body)


def listen_backlog(listeners: Iterable[Any]) -> List[Dict[str, Any]]:
    """Connections queued in the kernel for each TCP listener: TCP_INFO on the shared
    socket (tcpi_unacked is the accept queue, tcpi_sacked its limit, for a listening
    socket), else /proc/net/tcp{,6} by port (reuse-port mode: every worker's socket;
    no limit there)."""
    found: List[Dict[str, Any]] = []
    proc_rows: Optional[List[Tuple[int, int]]] = None
    for listener in listeners:
        sock = getattr(listener, "sock", None)
        if sock is None or sock.family == socket.AF_UNIX:
            continue
        name = getattr(listener, "bound_text", "")
        queued = limit = None
        if not getattr(listener, "reuse_port", False) and hasattr(socket, "TCP_INFO"):
            try:
                info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
                if len(info) >= 32 and info[0] == 10:  # TCP_LISTEN
                    queued = int.from_bytes(info[24:28], "little")
                    limit = int.from_bytes(info[28:32], "little")
            except OSError:
                pass
        if queued is None:
            if proc_rows is None:
                proc_rows = _proc_listeners()
            try:
                port = sock.getsockname()[1]
            except OSError:
                continue
            rows = [r for r in proc_rows if r[0] == port]
            if rows:
                queued = sum(r[1] for r in rows)
        found.append({"listener": name, "queued": queued, "limit": limit})
    return found


def _proc_listeners() -> List[Tuple[int, int]]:
    """(port, accept queue) of every listening TCP socket: a LISTEN row's rx_queue."""
    rows = []
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as fh:
                next(fh)
                for line in fh:
                    fields = line.split()
                    if len(fields) > 4 and fields[3] == "0A":
                        port = int(fields[1].rsplit(":", 1)[1], 16)
                        rows.append((port, int(fields[4].split(":")[1], 16)))
        except (OSError, ValueError, StopIteration):
            pass
    return rows
