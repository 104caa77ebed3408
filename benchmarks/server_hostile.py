#!/usr/bin/env python3
"""Hostile and slow clients against warp's bundled server, gunicorn (sync) and granian
(WSGI), in one run: the scenarios of issue 12.

    python benchmarks/server_hostile.py [--only warp,gunicorn,granian] [--upload-mb 2048]

Each server runs the same app with 2 worker processes on 127.0.0.1; gunicorn and
granian are taken from this interpreter's environment (pip-installed) or PATH. Every
scenario is bounded in time and count, and is measured by probes: plain GET / requests
on fresh connections (2 s timeout each; after 5 failures in a row the remaining probes
count as failed) sent while the hostile clients are at work.

* slowloris N: N connections sending a header line a byte every 5 s;
* body drip at the cap: 2,100 connections (2 workers x warp's 1,000 connections, plus
  some) sending a POST body a byte every 5 s;
* 10 slow readers: 10 clients reading a 20 MiB response 1 KiB a second;
* head-of-line: 8 keep-alive clients, one of them looping 1 s requests; the others' p99
  and slowest fast request;
* upload: a --upload-mb body, sent as fast as loopback goes: seconds until the app got
  its first byte, peak RSS of the workers, peak temporary disk used;
* crash loop: 15 requests that kill their worker (SIGSEGV), each followed by 2 probes;
* timeout bystanders: server request timeout 2 s (granian has none), one request stuck
  for 30 s, 6 keep-alive clients asking every 50 ms for 5 s: what the stuck client got,
  and the bystanders' failed requests;
* TERM with a full backlog: both workers busy for 2 s, 30 more requests queued, TERM to
  the master: how many of the 30 were answered.

Prints a markdown table. Loopback only; about five minutes.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

APP = '''\
import json, os, signal, threading, time

def app(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    query = dict(p.partition("=")[::2] for p in environ.get("QUERY_STRING", "").split("&") if p)
    if path == "/sleep":
        time.sleep(float(query.get("s", "1")))
    elif path == "/big":
        mib = int(query.get("mb", "1"))
        start_response("200 OK", [("Content-Length", str(mib << 20))])
        return (b"x" * (1 << 20) for _ in range(mib))
    elif path == "/upload":
        called = time.time()
        stream = environ["wsgi.input"]
        first, total = None, 0
        while True:
            data = stream.read(1 << 16)
            if not data:
                break
            if first is None:
                first = time.time()
            total += len(data)
        body = json.dumps({"called": called, "first": first, "bytes": total}).encode()
        start_response("200 OK", [("Content-Length", str(len(body)))])
        return [body]
    elif path == "/crash":
        signal.pthread_kill(threading.get_ident(), signal.SIGSEGV)
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]
'''


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tool(name: str) -> list:
    found = shutil.which(name)
    if found:
        return [found]
    return [sys.executable, "-m", name]


def children(pid: int) -> list:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    if int(fh.read().rsplit(")", 1)[1].split()[1]) == pid:
                        found.append(int(entry))
            except OSError:
                pass
    return found


def rss_mib(pids: list) -> float:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


class Server:
    def __init__(self, name: str, work: Path, timeout: int = 30, extra: tuple = ()) -> None:
        self.name, self.work, self.port = name, work, free_port()
        env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
        env.pop("WEB_CONCURRENCY", None)
        bind = f"127.0.0.1:{self.port}"
        if name == "warp":
            argv = [sys.executable, "-m", "warp.runtime.server", "app:app", "--workers", "2",
                    "--bind", bind, "--access-log", "off", "--stats", "off", "--timeout", str(timeout),
                    "--limit-request-body", "0"]
        elif name == "gunicorn":
            argv = tool("gunicorn") + ["--workers", "2", "--worker-class", "sync", "--bind", bind,
                                       "--timeout", str(timeout), "--log-level", "warning", "app:app"]
        else:
            argv = tool("granian") + ["--interface", "wsgi", "--workers", "2", "--host", "127.0.0.1",
                                      "--port", str(self.port), "--log-level", "warning", "app:app"]
        self.argv = argv + list(extra)
        self.env = env
        self.proc = None

    def __enter__(self) -> "Server":
        self.log_file = open(self.work / f"{self.name}.log", "ab")
        self.proc = subprocess.Popen(self.argv, cwd=self.work, env=self.env, stdout=self.log_file,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.argv}")
            if probe(self.port, 1.0) is not None and len(self.workers()) >= 2:
                time.sleep(0.5)
                return self
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not answer")

    def workers(self) -> list:
        return children(self.proc.pid)

    def __exit__(self, *exc) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                for pid in self.workers():
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except OSError:
                        pass
                self.proc.kill()
                self.proc.wait(10)
        self.log_file.close()


def probe(port: int, timeout: float = 5.0, path: str = "/"):
    """Seconds a GET on a fresh connection took, or None when it failed."""
    started = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        resp.read()
        return time.monotonic() - started if resp.status == 200 else None
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def probes(port: int, count: int, spacing: float) -> list:
    """`count` probes; after 5 failures in a row the rest count as failed (bounded time)."""
    results: list = []
    while len(results) < count:
        results.append(probe(port, 2.0))
        if len(results) >= 5 and results[-5:] == [None] * 5:
            results += [None] * (count - len(results))
            break
        time.sleep(spacing)
    return results


def probe_summary(results: list) -> str:
    ok = [r for r in results if r is not None]
    worst = f", max {max(ok) * 1000:.0f} ms" if ok else ""
    return f"{len(ok)}/{len(results)} ok{worst}"


class Drippers:
    """N connections each sending `head` then one byte every `period` seconds."""

    def __init__(self, port: int, count: int, head: bytes, period: float = 5.0) -> None:
        self.socks: list = []
        self.stop = threading.Event()
        deadline = time.monotonic() + 15  # a server whose backlog is full drops SYNs
        for _ in range(count):
            if time.monotonic() > deadline:
                break
            try:
                sock = socket.create_connection(("127.0.0.1", port), timeout=0.5)
                sock.setblocking(False)
                sock.send(head)
                self.socks.append(sock)
            except OSError:
                pass
        self.thread = threading.Thread(target=self._drip, args=(period,), daemon=True)
        self.thread.start()

    def _drip(self, period: float) -> None:
        while not self.stop.wait(period):
            for sock in self.socks:
                try:
                    sock.send(b"a")
                except OSError:
                    pass

    def close(self) -> None:
        self.stop.set()
        self.thread.join(10)
        for sock in self.socks:
            sock.close()


# --- scenarios ------------------------------------------------------------------------------

def slowloris(server: Server, count: int) -> str:
    drips = Drippers(server.port, count, b"GET / HTTP/1.1\r\nHost: b\r\nX-a: ")
    try:
        time.sleep(1)
        return probe_summary(probes(server.port, 30, 0.3))
    finally:
        drips.close()


def body_drip(server: Server) -> str:
    drips = Drippers(server.port, 2100, b"POST / HTTP/1.1\r\nHost: b\r\nContent-Length: 1000000\r\n\r\n")
    try:
        time.sleep(1)
        return probe_summary(probes(server.port, 40, 0.5))  # ~20 s, through 4 drip rounds
    finally:
        drips.close()


def slow_readers(server: Server) -> str:
    stop = threading.Event()

    def read_slowly():
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        try:
            sock.settimeout(5)
            sock.connect(("127.0.0.1", server.port))
            sock.sendall(b"GET /big?mb=20 HTTP/1.1\r\nHost: b\r\n\r\n")
            while not stop.wait(1.0):
                if not sock.recv(1024):
                    return
        except OSError:
            pass
        finally:
            sock.close()

    readers = [threading.Thread(target=read_slowly, daemon=True) for _ in range(10)]
    for t in readers:
        t.start()
    try:
        time.sleep(1)
        return probe_summary(probes(server.port, 50, 0.1))
    finally:
        stop.set()
        for t in readers:
            t.join(10)


def head_of_line(server: Server) -> str:
    clients = []
    for _ in range(8):
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        conn.request("GET", "/")
        conn.getresponse().read()
        clients.append(conn)
    slow, fast = clients[0], clients[1:]
    stop = threading.Event()

    def loop_slow():
        while not stop.is_set():
            try:
                slow.request("GET", "/sleep?s=1")
                slow.getresponse().read()
            except (OSError, http.client.HTTPException):
                return

    thread = threading.Thread(target=loop_slow, daemon=True)
    thread.start()
    waits, failed = [], 0
    deadline = time.monotonic() + 5
    try:
        while time.monotonic() < deadline:
            for conn in fast:
                started = time.monotonic()
                try:
                    conn.request("GET", "/")
                    conn.getresponse().read()
                    waits.append(time.monotonic() - started)
                except (OSError, http.client.HTTPException):
                    failed += 1
                    conn.close()
            time.sleep(0.01)
    finally:
        stop.set()
        thread.join(15)
        for conn in clients:
            conn.close()
    waits.sort()
    p99 = waits[int(len(waits) * 0.99) - 1] if waits else float("nan")
    return f"p99 {p99 * 1000:.1f} ms, max {max(waits) * 1000:.0f} ms" + (f", {failed} failed" if failed else "")


def upload(server: Server, mib: int) -> str:
    tmp = tempfile.gettempdir()
    free_before = shutil.disk_usage(tmp).free
    peak_rss, peak_disk = 0.0, 0
    base_rss = rss_mib(server.workers())
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=60)
    started = time.time()
    try:
        sock.sendall(b"POST /upload HTTP/1.1\r\nHost: b\r\nContent-Length: %d\r\n\r\n" % (mib << 20))
        piece = b"u" * (1 << 20)
        for i in range(mib):
            sock.sendall(piece)
            if i % 64 == 0:
                peak_rss = max(peak_rss, rss_mib(server.workers()))
                peak_disk = max(peak_disk, free_before - shutil.disk_usage(tmp).free)
        sock.settimeout(120)
        data = b""
        while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        body = json.loads(data.split(b"\r\n\r\n", 1)[1])
    except (OSError, ValueError) as exc:
        return f"failed ({type(exc).__name__})"
    finally:
        sock.close()
    first = body["first"] - started if body.get("first") else float("nan")
    return (f"first byte {first:.2f} s, RSS +{max(0.0, peak_rss - base_rss):.0f} MiB, "
            f"disk {max(0, peak_disk) / (1 << 20):.0f} MiB")


def crash_loop(server: Server) -> str:
    results = []
    started = time.monotonic()
    for _ in range(15):
        probe(server.port, 5.0, "/crash")
        results += [probe(server.port), probe(server.port)]
    return probe_summary(results) + f", {time.monotonic() - started:.0f} s"


def timeout_bystanders(server: Server) -> str:
    stuck = socket.create_connection(("127.0.0.1", server.port), timeout=40)
    stuck.sendall(b"GET /sleep?s=30 HTTP/1.1\r\nHost: b\r\n\r\n")
    clients = [http.client.HTTPConnection("127.0.0.1", server.port, timeout=10) for _ in range(6)]
    failed = answered = 0
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        for conn in clients:
            try:
                conn.request("GET", "/")
                conn.getresponse().read()
                answered += 1
            except (OSError, http.client.HTTPException):
                failed += 1
                conn.close()
        time.sleep(0.05)
    try:
        stuck.settimeout(30)
        head = stuck.recv(4096)
        got = head.split(b"\r\n", 1)[0].decode("latin-1", "replace")[9:] if head else "EOF"
    except socket.timeout:
        got = "nothing in 30 s"
    except OSError as exc:
        got = type(exc).__name__
    finally:
        stuck.close()
        for conn in clients:
            conn.close()
    return f"stuck: {got}; bystanders {failed}/{failed + answered} failed"


def term_backlog(server: Server) -> str:
    holders = [socket.create_connection(("127.0.0.1", server.port), timeout=10) for _ in range(2)]
    for sock in holders:
        sock.sendall(b"GET /sleep?s=2 HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n")
    time.sleep(0.3)
    queued = []
    for _ in range(30):
        try:
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            sock.sendall(b"GET / HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n")
            queued.append(sock)
        except OSError:
            pass
    server.proc.send_signal(signal.SIGTERM)
    answered = 0
    for sock in queued:
        try:
            sock.settimeout(10)
            if sock.recv(64).startswith(b"HTTP/1.1 200"):
                answered += 1
        except OSError:
            pass
        sock.close()
    for sock in holders:
        sock.close()
    try:
        server.proc.wait(20)
    except subprocess.TimeoutExpired:
        pass
    return f"{answered}/30 answered"


# --- main -----------------------------------------------------------------------------------

def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="warp,gunicorn,granian")
    parser.add_argument("--upload-mb", type=int, default=2048)
    args = parser.parse_args(argv)
    names = args.only.split(",")
    work = Path(tempfile.mkdtemp(prefix="warp-hostile-"))
    (work / "app.py").write_text(APP)
    rows = [
        ("slowloris 200", lambda s: slowloris(s, 200), {}),
        ("slowloris 1,000", lambda s: slowloris(s, 1000), {}),
        ("slowloris 3,000", lambda s: slowloris(s, 3000), {}),
        ("body drip, 2,100 connections", body_drip, {}),
        ("10 slow readers of 20 MiB", slow_readers, {}),
        ("head-of-line (1 s requests beside fast ones)", head_of_line, {}),
        (f"{args.upload_mb} MiB upload", lambda s: upload(s, args.upload_mb), {}),
        ("crash loop (15 crashes, 30 probes)", crash_loop, {}),
        ("timeout bystanders (timeout 2 s)", timeout_bystanders, {"timeout": 2}),
        ("TERM with 30 queued requests", term_backlog, {}),
    ]
    table = {name: {} for name in names}
    versions = {}
    for name in names:
        if name != "warp":
            out = subprocess.run(tool(name) + ["--version"], capture_output=True, text=True)
            versions[name] = (out.stdout or out.stderr).strip().splitlines()[0] if out.returncode == 0 else "?"
    for label, run, options in rows:
        for name in names:  # same scenario for every server, one after the other
            log(f"{label}: {name}")
            try:
                with Server(name, work, **options) as server:
                    table[name][label] = run(server)
            except Exception as exc:  # a server that cannot run a scenario gets a note
                table[name][label] = f"error: {exc}"
            log(f"  {table[name][label]}")
    print(f"| scenario | {' | '.join(names)} |")
    print("|---" * (len(names) + 1) + "|")
    for label, _, _ in rows:
        print(f"| {label} | " + " | ".join(table[name][label] for name in names) + " |")
    print()
    print("versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()) +
          f"; load average before the run {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
