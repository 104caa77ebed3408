#!/usr/bin/env python3
"""warp's bundled server against granian, uWSGI and gunicorn, fairly, in one run.

    python benchmarks/server_speed.py [--duration 3] [--rounds 3] [--no-growth]
    python benchmarks/server_speed.py --metrics-cost [--duration 5] [--rounds 5]
    python benchmarks/server_speed.py --warp-only [--duration 5] [--rounds 2]
    python benchmarks/server_speed.py --at COMMIT [COMMIT ...] [--duration 3] [--rounds 3]

Creates cached virtualenvs under benchmarks/.cache/ (git-ignored), one per peer, each with
Flask: granian, pyuwsgi (the version warp pins for `server: uwsgi`) and gunicorn.  Starts,
on 127.0.0.1, each with the same app and 2 worker processes, configured as their docs
recommend: warp (access log off, and on), granian `--interface wsgi` (access log off, and
`--access-log`), uWSGI `--http11-socket` (keep-alive), gunicorn sync, gunicorn gthread
`--threads 4`, and the ceiling, benchmarks/epoll_ceiling.py (a bare stdlib epoll loop with
a canned answer).  Then, driven by `wrk -t2 -c50`, rounds interleaved (the order rotates
every round), the median of the rounds:

* hello world and a Flask JSON endpoint, keep-alive and `Connection: close`: req/s, p99;
* fairness: N keep-alive clients asking again as soon as answered; the longest gap
  between two answers any client saw;
* warp as a fraction of the ceiling;
* a growth table, warp only: 50 / 1,000 / 10,000 open keep-alive connections (the rest
  idle), responses of 1 KiB, 1 MiB, 100 MiB through wsgi.file_wrapper, request bodies of
  1 KiB and 100 MiB; throughput and worker RSS.

The header prints the load average before and after: the machine may be shared.

With ``--metrics-cost`` it measures only warp, twice in the same run: two servers, one
recording its metrics as always, one started with recording turned off (the recorder
replaced by the no-op one, which nothing but this script does), keep-alive rounds
interleaved, and prints what the metrics path costs in keep-alive throughput.

With ``--at`` it measures only warp, as it was at each of the commits given, side by side
in one run (each commit's src/ exported with git archive): the four throughput figures
per commit, so that each change's gain is measured against its parent in the same run.

Prints markdown tables.  Needs `wrk` on PATH.  Loopback only, bounded in time.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
from warp.launch.uwsgi import REQUIREMENTS as UWSGI_REQUIREMENTS  # noqa: E402
CACHE = Path(__file__).resolve().parent / ".cache"

HELLO = '''\
def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"Hello, World!"]
'''

# Keeps N keep-alive connections open, each sending a request every PERIOD seconds and
# reconnecting when the server closes it.  Runs in its own process.
IDLERS = '''\
import asyncio, re, sys
HOST, PORT, N, PERIOD = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
REQ = b"GET / HTTP/1.1\\r\\nHost: bench\\r\\n\\r\\n"
async def one(i):
    await asyncio.sleep(PERIOD * i / N)
    reader = writer = None
    while True:
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection(HOST, PORT)
            writer.write(REQ)
            head = await reader.readuntil(b"\\r\\n\\r\\n")
            length = re.search(rb"(?i)content-length: *(\\d+)", head)
            if length:
                await reader.readexactly(int(length.group(1)))
            else:
                await reader.read()
            if length is None or re.search(rb"(?i)connection: *close", head):
                writer.close(); writer = None
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            if writer is not None:
                writer.close()
            writer = None
        await asyncio.sleep(PERIOD)
async def main():
    await asyncio.gather(*(one(i) for i in range(N)))
asyncio.run(main())
'''


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def venv_with(name: str, package: str) -> Path:
    """A cached virtualenv holding `package`; returns its bin folder."""
    env = CACHE / f"venv-{name}"
    bin_dir = env / "bin"
    done = env / ".installed"   # written last: a run stopped half-way starts over
    if not done.exists():
        log(f"creating {env} with {package}")
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(env)], check=True)
        subprocess.run([str(bin_dir / "python"), "-m", "pip", "install", "-q", *package.split()], check=True)
        done.write_text(package + "\n")
    return bin_dir


def package_version(bin_dir: Path, dist: str) -> str:
    out = subprocess.run([str(bin_dir / "python"), "-c",
                          f"import importlib.metadata as m; print(m.version({dist!r}))"],
                         capture_output=True, text=True)
    return out.stdout.strip() or "?"


def rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def children(pid: int) -> list:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            found.append(int(entry))
    return found


def time_wait_count() -> int:
    count = 0
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(name) as fh:
                next(fh)
                count += sum(1 for line in fh if line.split()[3] == "06")
        except OSError:
            pass
    return count


def settle_time_wait(limit: int = 4000, max_wait: float = 70.0) -> None:
    """`Connection: close` runs leave tens of thousands of TIME_WAIT sockets on loopback;
    starting the next one before they expire starves it of ports, so wait (bounded)."""
    deadline = time.monotonic() + max_wait
    while time_wait_count() > limit and time.monotonic() < deadline:
        time.sleep(1)


class Server:
    def __init__(self, name: str, argv: list, cwd: Path, env: dict, port: int) -> None:
        self.name, self.argv, self.cwd, self.env, self.port = name, argv, cwd, env, port
        self.proc = None

    def start(self) -> "Server":
        self.log_file = open(self.cwd / f"{self.name}.log", "wb")
        self.proc = subprocess.Popen(self.argv, cwd=self.cwd, env=self.env,
                                     stdout=self.log_file, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {(self.cwd / f'{self.name}.log').read_text()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/", timeout=1) as resp:
                    if resp.status == 200 and len(self.workers()) >= 2:
                        return self
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not answer")

    def workers(self) -> list:
        return children(self.proc.pid)

    def worker_rss_kib(self) -> list:
        return [rss_kib(pid) for pid in self.workers()]

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(2 if self.name == "uWSGI" else 15)  # uWSGI stops on INT
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def wrk(port: int, seconds: float, close: bool = False, path: str = "/", connections: int = 50,
        script: "Path | None" = None) -> dict:
    argv = ["wrk", "-t2", f"-c{connections}", f"-d{seconds:g}s", "--latency", f"http://127.0.0.1:{port}{path}"]
    if close:
        argv[1:1] = ["-H", "Connection: close"]
    if script is not None:
        argv[1:1] = ["-s", str(script)]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    transfer = re.search(r"Transfer/sec:\s+([\d.]+)(B|KB|MB|GB)", out)
    units = {"B": 1 / 2**20, "KB": 1 / 1024, "MB": 1.0, "GB": 1024.0}
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": rps, "total": total,
        "mib_s": float(transfer.group(1)) * units[transfer.group(2)] if transfer else float("nan"),
        "p99_ms": float(p99.group(1)) * scale[p99.group(2)] if p99 else float("nan"),
        "errors": sum(int(g) for g in errors.groups()) if errors else 0,
        "timeouts": int(errors.group(4)) if errors else 0,
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
    }


def bare_interpreter_rss_kib() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "import sys,time; print('ok', flush=True); time.sleep(60)"],
                            stdout=subprocess.PIPE)
    proc.stdout.readline()
    rss = rss_kib(proc.pid)
    proc.kill()
    proc.wait()
    return rss


def median_of(runs: list, key: str) -> float:
    return statistics.median(r[key] for r in runs)


# Starts the bundled server with metrics recording turned off: the cost baseline.
NO_METRICS = ("import sys; import warp.runtime.server.metrics as m; m.ENABLED = False; "
              "from warp.runtime.server.__main__ import main; sys.exit(main(sys.argv[1:]))")


def metrics_cost(args) -> int:
    work = Path(tempfile.mkdtemp(prefix="warp-bench-"))
    (work / "hello.py").write_text(HELLO)
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    env.pop("WEB_CONCURRENCY", None)
    ports = {name: free_port() for name in ("on", "off")}
    common = ["hello:app", "--workers", "2", "--access-log", "off"]
    servers = [
        Server("on", [sys.executable, "-m", "warp.runtime.server", *common, "--bind", f"127.0.0.1:{ports['on']}",
                      "--metrics", f"127.0.0.1:{free_port()}"], work, env, ports["on"]),
        Server("off", [sys.executable, "-c", NO_METRICS, *common, "--bind", f"127.0.0.1:{ports['off']}"],
               work, env, ports["off"]),
    ]
    results: dict = {"on": [], "off": []}
    try:
        for server in servers:
            server.start()
        for server in servers:
            wrk(server.port, 2)
        for rnd in range(args.rounds):
            order = servers if rnd % 2 == 0 else servers[::-1]
            for server in order:
                log(f"round {rnd + 1}: metrics {server.name}, keep-alive")
                results[server.name].append(wrk(server.port, args.duration))
    finally:
        for server in servers:
            server.stop()
    on, off = (median_of(results[n], "rps") for n in ("on", "off"))
    cost = 1 - on / off if off else float("nan")
    per_request = recorder_cost_us()
    # What those calls are of the CPU time one request takes at the "off" throughput
    # (every CPU of the machine divided by the requests per second, wrk included).
    share = per_request / (1e6 * (os.cpu_count() or 1) / off) if off else float("nan")
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, warp 2 workers, wrk -t2 -c50 -d{args.duration}s "
          f"keep-alive, rounds interleaved, median of {args.rounds}; load average before: "
          f"{os.getloadavg()[0]:.1f}")
    print()
    print("| warp | keep-alive req/s (median) | each round | p99 ms (median) | errors |")
    print("|---|---|---|---|---|")
    for name, label in (("off", "metrics recording off"), ("on", "metrics on (recording + --metrics endpoint)")):
        runs = results[name]
        each = ", ".join(f"{r['rps']:,.0f}" for r in runs)
        print(f"| {label} | {median_of(runs, 'rps'):,.0f} | {each} | "
              f"{median_of(runs, 'p99_ms'):.2f} | {sum(r['errors'] + r['non2xx'] for r in runs)} |")
    print()
    # Rounds run back to back, so each round's pair shares the machine's load of the moment.
    paired = statistics.median(1 - a["rps"] / b["rps"] for a, b in zip(results["on"], results["off"]) if b["rps"])
    print(f"cost of the metrics path: {cost:+.1%} of keep-alive throughput from the medians, {paired:+.1%} "
          f"as the median of each round's pair (target: under 5%): " + ("met" if max(cost, paired) < 0.05 else "NOT met"))
    print(f"recorder calls of one quick request and a flush, in-process (timeit): {per_request:.2f} us = {share:.1%} of the "
          f"machine's CPU time per request at {off:,.0f} req/s")
    return 0


def recorder_cost_us(repeat: int = 200_000) -> float:
    """Microseconds the recorder takes for one quick request (run on the I/O thread and
    never shown busy: request_done), counting a flush into the shared table for every
    request, as if each loop turn served one (best of 5; with more requests per turn
    the flush is shared and costs less)."""
    import timeit

    from warp.runtime.server import metrics

    rec = metrics.Recorder(metrics.MetricsTable(4, 1), 1)

    def one() -> None:
        rec.request_done("GET", 200, 13, 0.00015, 0.0002)
        rec.flush()
    return min(timeit.repeat(one, number=repeat, repeat=5)) / repeat * 1e6


def warp_only(args) -> int:
    """warp's own keep-alive, close and idle-connection figures, nothing else."""
    work = Path(tempfile.mkdtemp(prefix="warp-bench-"))
    (work / "hello.py").write_text(HELLO)
    env = dict(os.environ)
    env.pop("WEB_CONCURRENCY", None)
    port = free_port()
    warp = Server("warp", [sys.executable, "-m", "warp.runtime.server", "hello:app", "--workers", "2",
                           "--bind", f"127.0.0.1:{port}", "--access-log", "off"],
                  work, dict(env, PYTHONPATH=str(REPO / "src")), port)
    runs: dict = {"ka": [], "close": [], "idle": []}
    try:
        warp.start()
        wrk(port, 2)
        for rnd in range(args.rounds):
            log(f"round {rnd + 1}")
            runs["ka"].append(wrk(port, args.duration))
            settle_time_wait()
            runs["close"].append(wrk(port, args.duration, close=True))
            settle_time_wait()
            idlers = subprocess.Popen([sys.executable, "-c", IDLERS, "127.0.0.1", str(port), str(args.idle), "2"])
            time.sleep(3)
            try:
                runs["idle"].append(wrk(port, args.duration))
            finally:
                idlers.kill()
                idlers.wait()
    finally:
        warp.stop()
    print(f"warp ({REPO}), 2 workers, wrk -t2 -c50 -d{args.duration}s, median of {args.rounds} round(s)")
    print()
    print("| | req/s | p99 (ms) |")
    print("|---|---|---|")
    for kind, label in (("ka", "keep-alive"), ("close", "`Connection: close`"),
                        ("idle", f"keep-alive with {args.idle} idle conns")):
        print(f"| {label} | {median_of(runs[kind], 'rps'):,.0f} | {median_of(runs[kind], 'p99_ms'):.2f} |")
    return 0


# One app for every server: hello world at /, a Flask JSON endpoint at /json, files sent
# through wsgi.file_wrapper (sendfile where the server does it) at /file/NAME, and an upload
# sink at /upload that reads the body as it arrives and answers its length.
BENCH_APP = '''\
import os
from flask import Flask, jsonify

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
flask_app = Flask(__name__)


@flask_app.get("/json")
def json_endpoint():
    return jsonify(message="Hello, World!", id=42, tags=["a", "b"])


def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/":
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "13")])
        return [b"Hello, World!"]
    if path == "/json":
        return flask_app(environ, start_response)
    if path.startswith("/file/"):
        fh = open(os.path.join(DATA, os.path.basename(path)), "rb")
        size = os.fstat(fh.fileno()).st_size
        start_response("200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(size))])
        return environ["wsgi.file_wrapper"](fh, 65536)
    if path == "/upload":
        left = int(environ.get("CONTENT_LENGTH") or 0)
        stream = environ["wsgi.input"]
        got = 0
        while left > 0:
            chunk = stream.read(min(left, 65536))
            if not chunk:
                break
            got += len(chunk)
            left -= len(chunk)
        body = str(got).encode()
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]
    start_response("404 Not Found", [("Content-Length", "0")])
    return []
'''

# Opens N keep-alive connections, sends one request on each and reads its answer, prints
# "ready", then holds them open idle until killed.  Runs in its own process.
HOLDERS = '''\
import asyncio, resource, sys
resource.setrlimit(resource.RLIMIT_NOFILE, resource.getrlimit(resource.RLIMIT_NOFILE)[1:] * 2)
HOST, PORT, N = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
REQ = b"GET / HTTP/1.1\\r\\nHost: bench\\r\\n\\r\\n"
held = []
async def one(sem):
    async with sem:
        reader, writer = await asyncio.open_connection(HOST, PORT)
        writer.write(REQ)
        await reader.readuntil(b"Hello, World!")
        held.append(writer)
async def main():
    sem = asyncio.Semaphore(200)
    results = await asyncio.gather(*(one(sem) for _ in range(N)), return_exceptions=True)
    failed = sum(1 for r in results if isinstance(r, BaseException))
    print(f"ready {len(held)} {failed}", flush=True)
    await asyncio.sleep(3600)
asyncio.run(main())
'''


def fairness(port: int, clients: int, seconds: float) -> dict:
    """N keep-alive clients each asking `GET /` again as soon as its answer is in; the largest
    gap between two answers any one client saw (from the start for the first), and the
    fewest answers any client got.  One thread with selectors: its own cost is the same for
    every server.  A server that closes a connection is reconnected to and the gap keeps
    running."""
    import selectors

    req = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"
    sel = selectors.DefaultSelector()
    state: dict = {}

    retry: list = []

    def connect(i: int) -> None:
        try:  # a server whose backlog is full may not accept for a while: try again later
            sock = socket.create_connection(("127.0.0.1", port), timeout=0.5)
            sock.sendall(req)
        except OSError:
            retry.append(i)
            return
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        state[sock] = i
        sel.register(sock, selectors.EVENT_READ)

    start = time.monotonic()
    last = [start] * clients
    gaps = [0.0] * clients
    answers = [0] * clients
    bufs = [b""] * clients
    for i in range(clients):
        connect(i)
    end = start + seconds
    while time.monotonic() < end:
        for i in retry[:]:
            retry.remove(i)
            connect(i)
        for key, _ in sel.select(0.05):
            sock = key.fileobj
            i = state[sock]
            try:
                data = sock.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            buf = bufs[i] + data
            closed = not data
            while True:
                head_end = buf.find(b"\r\n\r\n")
                if head_end < 0:
                    break
                length = re.search(rb"(?i)content-length: *(\d+)", buf[:head_end])
                size = head_end + 4 + (int(length.group(1)) if length else 0)
                if len(buf) < size:
                    break
                head, buf = buf[:head_end], buf[size:]
                now = time.monotonic()
                gaps[i] = max(gaps[i], now - last[i])
                last[i] = now
                answers[i] += 1
                if re.search(rb"(?i)connection: *close", head):
                    closed = True
                    break
                sock.sendall(req)
            bufs[i] = buf
            if closed:
                sel.unregister(sock)
                del state[sock]
                sock.close()
                bufs[i] = b""
                connect(i)
    now = time.monotonic()
    for i in range(clients):  # a client still waiting at the end waited this long too
        gaps[i] = max(gaps[i], now - last[i])
    for sock in list(state):
        sock.close()
    sel.close()
    return {"max_gap_ms": max(gaps) * 1000, "min_answers": min(answers), "answers": sum(answers)}


def upload(port: int, path: Path, count: int) -> float:
    """MiB/s of `count` uploads of `path` one after another over one keep-alive connection."""
    size = path.stat().st_size
    head = (f"POST /upload HTTP/1.1\r\nHost: bench\r\nContent-Length: {size}\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", port)) as sock, open(path, "rb") as fh:
        started = time.monotonic()
        for _ in range(count):
            sock.sendall(head)
            fh.seek(0)
            sock.sendfile(fh)
            answer = b""
            while not answer.endswith(str(size).encode()):
                data = sock.recv(4096)
                if not data:
                    raise RuntimeError("server closed the upload connection")
                answer += data
        return size * count / 2**20 / (time.monotonic() - started)


def growth(args, work: Path, python: str, env: dict) -> list:
    """warp alone: throughput and worker RSS as open connections, response and body sizes grow."""
    port = free_port()
    server = Server("warp-growth", [python, "-m", "warp.runtime.server", "bench_app:app", "--workers", "2",
                                    "--bind", f"127.0.0.1:{port}", "--access-log", "off",
                                    "--worker-connections", "12000", "--keepalive-timeout", "600"],
                    work, env, port)
    rows = []
    mean_rss = lambda: statistics.mean(server.worker_rss_kib()) / 1024  # noqa: E731
    try:
        server.start()
        wrk(port, 1)
        rss_start = mean_rss()
        for total in (50, 1000, 10000):
            holders = None
            if total > 50:
                holders = subprocess.Popen([sys.executable, "-c", HOLDERS, "127.0.0.1", str(port), str(total - 50)],
                                           stdout=subprocess.PIPE, text=True)
                ready = holders.stdout.readline().split()
                log(f"growth: {ready} idle connections held")
            try:
                r = wrk(port, args.duration)
                rows.append((f"{total:,} open keep-alive connections ({total - 50:,} idle)",
                             f"{r['rps']:,.0f} req/s, p99 {r['p99_ms']:.1f} ms", f"{mean_rss():.1f}",
                             f"{r['errors'] + r['non2xx']}"))
            finally:
                if holders is not None:
                    holders.kill()
                    holders.wait()
            log(f"growth: {rows[-1]}")
        time.sleep(1)
        for name in ("1k", "1m", "100m"):
            conns = 50 if name != "100m" else 4
            r = wrk(port, args.duration, path=f"/file/{name}", connections=conns)
            rows.append((f"response {name.replace('k', ' KiB').replace('m', ' MiB')} (file_wrapper, -c{conns})",
                         f"{r['rps']:,.0f} req/s, {r['mib_s']:,.0f} MiB/s", f"{mean_rss():.1f}",
                         f"{r['errors'] + r['non2xx']}"))
            log(f"growth: {rows[-1]}")
        r = wrk(port, args.duration, path="/upload", script=work / "post1k.lua")
        rows.append(("request body 1 KiB (POST, read by the app)", f"{r['rps']:,.0f} req/s, p99 {r['p99_ms']:.1f} ms",
                     f"{mean_rss():.1f}", f"{r['errors'] + r['non2xx']}"))
        mib_s = upload(port, work / "data" / "100m", args.uploads)
        rows.append((f"request body 100 MiB (x{args.uploads}, one connection, streamed to the app)",
                     f"{mib_s:,.0f} MiB/s", f"{mean_rss():.1f}", "0"))
        rows.append(("worker RSS at start of this table / at its end (MiB)", "",
                     f"{rss_start:.1f} / {mean_rss():.1f}", ""))
    finally:
        server.stop()
    return rows


# The four throughput cases: (name, path, Connection: close?).
CASES = [("hello keep-alive", "/", False), ("hello close", "/", True),
         ("flask keep-alive", "/json", False), ("flask close", "/json", True)]


def interleaved(servers: list, cases: list, args, results: dict, skip=lambda server, path: False) -> None:
    """Every case against every server, round after round; the servers' order rotates
    each round so that none always runs first (or right after a close run)."""
    for rnd in range(args.rounds):
        order = servers[rnd % len(servers):] + servers[:rnd % len(servers)]
        for case, path, close in cases:
            for server in order:
                if skip(server, path):
                    continue
                if close:
                    settle_time_wait(limit=20000, max_wait=3)
                log(f"round {rnd + 1}: {server.name}, {case}")
                results[server.name][case].append(wrk(server.port, args.duration, close=close, path=path))


def at_revisions(args) -> int:
    """warp as it was at each of several commits, side by side in one run: what each
    change bought.  Each commit's src/ is exported (git archive) into a scratch folder."""
    warp_python = str(venv_with("warp", "flask") / "python")
    work = Path(tempfile.mkdtemp(prefix="warp-bench-"))
    (work / "bench_app.py").write_text(BENCH_APP)
    env = dict(os.environ)
    env.pop("WEB_CONCURRENCY", None)
    servers, subjects = [], {}
    for rev in args.at:
        try:
            sha = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", f"{rev}^{{commit}}"],
                                 capture_output=True, text=True, check=True).stdout.strip()
        except subprocess.CalledProcessError:
            print(f"server_speed: --at {rev}: no such commit in {REPO}; give a commit, tag or branch", file=sys.stderr)
            return 2
        subjects[sha] = subprocess.run(["git", "-C", str(REPO), "log", "-1", "--format=%s", sha],
                                       capture_output=True, text=True, check=True).stdout.strip()
        tree = work / f"tree-{sha}"
        tree.mkdir()
        archive = subprocess.run(["git", "-C", str(REPO), "archive", sha, "src"], capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
        port = free_port()
        servers.append(Server(sha, [warp_python, "-m", "warp.runtime.server", "bench_app:app", "--workers", "2",
                                    "--bind", f"127.0.0.1:{port}", "--access-log", "off"],
                              work, dict(env, PYTHONPATH=str(tree / "src")), port))
    results: dict = {s.name: {c[0]: [] for c in CASES} for s in servers}
    load_before = os.getloadavg()
    try:
        for server in servers:
            server.start()
        for server in servers:
            wrk(server.port, 1)
            wrk(server.port, 1, path="/json")
        interleaved(servers, CASES, args, results)
    finally:
        for server in servers:
            server.stop()
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs ({platform_line()}); warp at {len(servers)} "
          f"commits, access log off, 2 workers, wrk -t2 -c50 -d{args.duration:g}s, {args.rounds} rounds "
          f"interleaved, medians; load average (1 min) {load_before[0]:.2f} before, {os.getloadavg()[0]:.2f} after")
    print()
    print("| commit | hello keep-alive req/s | hello close req/s | Flask keep-alive req/s | Flask close req/s "
          "| p99 ms hello keep-alive | errors |")
    print("|---|---|---|---|---|---|---|")
    for server in servers:
        runs = results[server.name]
        cells = [f"{median_of(runs[case], 'rps'):,.0f}" for case, _path, _close in CASES]
        errors = sum(r["errors"] + r["non2xx"] for case_runs in runs.values() for r in case_runs)
        print(f"| {server.name} {subjects[server.name][:70]} | " + " | ".join(cells)
              + f" | {median_of(runs['hello keep-alive'], 'p99_ms'):.2f} | {errors} |")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=3, help="seconds per wrk run (default 3)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, interleaved; medians reported (default 3)")
    parser.add_argument("--fair-clients", type=int, default=50, help="fairness client connections (default 50)")
    parser.add_argument("--uploads", type=int, default=5, help="100 MiB uploads in the growth table (default 5)")
    parser.add_argument("--no-growth", action="store_true", help="skip the growth table")
    parser.add_argument("--metrics-cost", action="store_true",
                        help="only warp, with metrics recording on and off in the same run")
    parser.add_argument("--warp-only", action="store_true",
                        help="measure warp alone (before/after a change of its own); no peers, no table of ratios")
    parser.add_argument("--idle", type=int, default=200, help="--warp-only: idle keep-alive connections (default 200)")
    parser.add_argument("--at", nargs="+", metavar="COMMIT",
                        help="only warp, as it was at each of these commits, side by side (what each change bought)")
    args = parser.parse_args(argv)
    if args.at:
        return at_revisions(args)
    if args.metrics_cost:
        return metrics_cost(args)
    if args.warp_only:
        return warp_only(args)

    load_before = os.getloadavg()
    gunicorn_bin = venv_with("gunicorn", "gunicorn flask")
    granian_bin = venv_with("granian", "granian flask")
    # The very pyuwsgi warp installs for `server: uwsgi`; the cache folder is named
    # after the pin so that a new pin gets a fresh virtualenv.
    uwsgi_pin = UWSGI_REQUIREMENTS[0]
    uwsgi_bin = venv_with(uwsgi_pin.replace("==", "-"), f"{uwsgi_pin} flask")
    # warp is standard library only: its virtualenv holds just the app's Flask, and the
    # server comes from this checkout's src/.
    warp_python = str(venv_with("warp", "flask") / "python")
    work = Path(tempfile.mkdtemp(prefix="warp-bench-"))
    (work / "bench_app.py").write_text(BENCH_APP)
    (work / "data").mkdir()
    for name, size in (("1k", 1024), ("1m", 2**20), ("100m", 100 * 2**20)):
        with open(work / "data" / name, "wb") as fh:
            fh.truncate(size)
    (work / "post1k.lua").write_text('wrk.method = "POST"\nwrk.body = string.rep("x", 1024)\n'
                                     'wrk.headers["Content-Type"] = "application/octet-stream"\n')
    env = dict(os.environ)
    env.pop("WEB_CONCURRENCY", None)
    env.pop("PYTHONPATH", None)
    warp_env = dict(env, PYTHONPATH=str(REPO / "src"))

    def warp(name: str, *extra: str) -> Server:
        port = free_port()
        return Server(name, [warp_python, "-m", "warp.runtime.server", "bench_app:app", "--workers", "2",
                             "--bind", f"127.0.0.1:{port}", *extra], work, warp_env, port)

    def granian(name: str, *extra: str) -> Server:
        port = free_port()
        return Server(name, [str(granian_bin / "granian"), "--interface", "wsgi", "--workers", "2",
                             "--host", "127.0.0.1", "--port", str(port), *extra, "bench_app:app"], work, env, port)

    def gunicorn(name: str, *extra: str) -> Server:
        port = free_port()
        return Server(name, [str(gunicorn_bin / "gunicorn"), "--workers", "2", *extra, "--bind", f"127.0.0.1:{port}",
                             "--log-level", "warning", "bench_app:app"], work, env, port)

    uwsgi_port, ceiling_port = free_port(), free_port()
    servers = [
        warp("warp", "--access-log", "off"),
        warp("warp, access log on", "--access-log", "-"),
        granian("granian"),
        granian("granian --access-log", "--access-log"),
        Server("uWSGI --http11-socket", [str(uwsgi_bin / "uwsgi"), "--http11-socket", f"127.0.0.1:{uwsgi_port}",
                                         "--master", "--processes", "2", "--wsgi-file", "bench_app.py",
                                         "--callable", "app", "--disable-logging"], work, env, uwsgi_port),
        gunicorn("gunicorn sync", "--worker-class", "sync"),
        gunicorn("gunicorn gthread --threads 4", "--worker-class", "gthread", "--threads", "4"),
        Server("ceiling: bare epoll loop", [sys.executable, str(Path(__file__).resolve().parent / "epoll_ceiling.py"),
                                            str(ceiling_port), "2"], work, env, ceiling_port),
    ]
    ceiling = servers[-1]
    versions = {"granian": package_version(granian_bin, "granian"), "gunicorn": package_version(gunicorn_bin, "gunicorn"),
                "uWSGI": package_version(uwsgi_bin, "pyuwsgi"), "flask": package_version(granian_bin, "flask")}
    cases = CASES
    results: dict = {s.name: {c[0]: [] for c in cases} for s in servers}
    fair: dict = {}
    try:
        for server in servers:
            server.start()
        for server in servers:  # warm-up: imports, caches, first allocations
            wrk(server.port, 1)
            if server is not ceiling:
                wrk(server.port, 1, path="/json")
        interleaved(servers, CASES, args, results, skip=lambda server, path: server is ceiling and path != "/")
        for server in servers:
            log(f"fairness: {server.name}")
            fair[server.name] = fairness(server.port, args.fair_clients, args.duration)
        rss = {s.name: statistics.mean(s.worker_rss_kib()) / 1024 for s in servers}
    finally:
        for server in servers:
            server.stop()
    grow = [] if args.no_growth else growth(args, work, warp_python, warp_env)
    load_after = os.getloadavg()

    med = lambda name, case, key="rps": median_of(results[name][case], key)  # noqa: E731
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs ({platform_line()}); granian {versions['granian']}, "
          f"pyuwsgi {versions['uWSGI']}, gunicorn {versions['gunicorn']}, Flask {versions['flask']}; "
          f"2 workers each, wrk -t2 -c50 -d{args.duration:g}s, {args.rounds} rounds interleaved, medians; "
          f"load average (1 min) {load_before[0]:.2f} before, {load_after[0]:.2f} after")
    print()
    header = ["server", "hello keep-alive req/s", "hello close req/s", "Flask keep-alive req/s", "Flask close req/s",
              "p99 ms hello / Flask (keep-alive)", f"fairness: longest gap, {args.fair_clients} clients (ms)",
              "worker RSS MiB", "errors"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for s in servers:
        n = s.name
        cells = [n]
        for case, _path, _close in cases:
            cells.append(f"{med(n, case):,.0f}" if results[n][case] else "-")
        cells.append(f"{med(n, 'hello keep-alive', 'p99_ms'):.2f} / "
                     + (f"{med(n, 'flask keep-alive', 'p99_ms'):.2f}" if results[n]["flask keep-alive"] else "-"))
        cells.append(f"{fair[n]['max_gap_ms']:.0f} (fewest answers {fair[n]['min_answers']:,})")
        cells.append(f"{rss[n]:.1f}")
        cells.append(str(sum(r["errors"] + r["non2xx"] for runs in results[n].values() for r in runs)))
        print("| " + " | ".join(cells) + " |")
    print()
    print("| warp / granian | hello keep-alive | hello close | Flask keep-alive | Flask close |")
    print("|---|---|---|---|---|")
    for ours, theirs in (("warp", "granian"), ("warp, access log on", "granian --access-log")):
        cells = [f"{med(ours, c[0]) / med(theirs, c[0]):.2f}x" for c in cases]
        print(f"| {ours} / {theirs} | " + " | ".join(cells) + " |")
    print()
    print(f"ceiling: warp (access log off) makes {med('warp', 'hello keep-alive') / med(ceiling.name, 'hello keep-alive'):.0%} "
          f"of the bare epoll loop's keep-alive req/s and "
          f"{med('warp', 'hello close') / med(ceiling.name, 'hello close'):.0%} of its `Connection: close` req/s")
    if grow:
        print()
        print("| warp, growth (hello world unless said; -c50 unless said) | throughput | worker RSS MiB (mean of 2) | errors |")
        print("|---|---|---|---|")
        for row in grow:
            print("| " + " | ".join(row) + " |")
    return 0


def platform_line() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


if __name__ == "__main__":
    sys.exit(main())
