#!/usr/bin/env python3
"""warp's bundled server against gunicorn (sync worker) and uWSGI, in one run.

    python benchmarks/server_speed.py [--duration 10] [--rounds 1] [--growth-requests 1000000]
    python benchmarks/server_speed.py --metrics-cost [--duration 5] [--rounds 5]

Creates its own virtualenvs under benchmarks/.cache/ (git-ignored) with gunicorn and pyuwsgi
(the version warp pins for `server: uwsgi`) from the package index, starts the three servers
on 127.0.0.1 with the same hello-world app and 2 worker processes each, and drives them with `wrk -t2 -c50`:

* keep-alive requests/s and p99 latency;
* `Connection: close` requests/s and p99 latency;
* keep-alive requests/s while 200 extra idle keep-alive connections are open (each sends
  one request every 2 s, so that it stays open under a 5 s keep-alive timeout);
* per-worker RSS over a bare interpreter, and (warp) RSS growth over --growth-requests.

With ``--metrics-cost`` it measures only warp, twice in the same run: two servers, one
recording its metrics as always, one started with recording turned off (the recorder
replaced by the no-op one, which nothing but this script does), keep-alive rounds
interleaved, and prints what the metrics path costs in keep-alive throughput.

Prints a markdown table.  Needs `wrk` on PATH.  Loopback only, bounded in time.
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
    if not (bin_dir / "python").exists():
        log(f"creating {env} with {package}")
        subprocess.run([sys.executable, "-m", "venv", str(env)], check=True)
        subprocess.run([str(bin_dir / "python"), "-m", "pip", "install", "-q", package], check=True)
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


def wrk(port: int, seconds: int, close: bool = False) -> dict:
    argv = ["wrk", "-t2", "-c50", f"-d{seconds}s", "--latency", f"http://127.0.0.1:{port}/"]
    if close:
        argv[1:1] = ["-H", "Connection: close"]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": rps, "total": total,
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
    print(f"recorder calls of one request, in-process (timeit): {per_request:.2f} us = {share:.1%} of the "
          f"machine's CPU time per request at {off:,.0f} req/s")
    return 0


def recorder_cost_us(repeat: int = 200_000) -> float:
    """Microseconds the hot path's two recorder calls take per request (best of 5)."""
    import timeit

    from warp.runtime.server import metrics

    rec = metrics.Recorder(metrics.MetricsTable(4, 1), 1)

    def one() -> None:
        rec.request_started(0, 1000.0, 0.0002)
        rec.request_finished(0, "GET", 200, 13, 0.00015)
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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run (default 10)")
    parser.add_argument("--rounds", type=int, default=1, help="repeat each measurement, report the median")
    parser.add_argument("--idle", type=int, default=200, help="idle keep-alive connections (default 200)")
    parser.add_argument("--growth-requests", type=int, default=300_000,
                        help="requests for warp's memory-growth check (the issue asks 1000000)")
    parser.add_argument("--metrics-cost", action="store_true",
                        help="only warp, with metrics recording on and off in the same run")
    parser.add_argument("--warp-only", action="store_true",
                        help="measure warp alone (before/after a change of its own); no peers, no table of ratios")
    args = parser.parse_args(argv)
    if args.metrics_cost:
        return metrics_cost(args)
    if args.warp_only:
        return warp_only(args)

    gunicorn_bin = venv_with("gunicorn", "gunicorn")
    # The very pyuwsgi warp installs for `server: uwsgi`; the cache folder is named
    # after the pin so that a new pin gets a fresh virtualenv.
    uwsgi_pin = UWSGI_REQUIREMENTS[0]
    uwsgi_bin = venv_with(uwsgi_pin.replace("==", "-"), uwsgi_pin)
    work = Path(tempfile.mkdtemp(prefix="warp-bench-"))
    (work / "hello.py").write_text(HELLO)
    env = dict(os.environ)
    env.pop("WEB_CONCURRENCY", None)
    warp_env = dict(env, PYTHONPATH=str(REPO / "src"))

    ports = {name: free_port() for name in ("warp", "gunicorn", "uWSGI")}
    servers = [
        Server("warp", [sys.executable, "-m", "warp.runtime.server", "hello:app", "--workers", "2",
                        "--bind", f"127.0.0.1:{ports['warp']}", "--access-log", "off"],
               work, warp_env, ports["warp"]),
        Server("gunicorn", [str(gunicorn_bin / "gunicorn"), "--workers", "2", "--worker-class", "sync",
                            "--bind", f"127.0.0.1:{ports['gunicorn']}", "--log-level", "warning", "hello:app"],
               work, env, ports["gunicorn"]),
        Server("uWSGI", [str(uwsgi_bin / "uwsgi"), "--http-socket", f"127.0.0.1:{ports['uWSGI']}",
                         "--master", "--processes", "2", "--wsgi-file", "hello.py", "--callable", "app",
                         "--disable-logging"],
               work, env, ports["uWSGI"]),
    ]
    versions = {"warp": "main", "gunicorn": package_version(gunicorn_bin, "gunicorn"),
                "uWSGI": "pyuwsgi " + package_version(uwsgi_bin, "pyuwsgi")}
    results = {s.name: {"ka": [], "close": [], "idle": []} for s in servers}
    try:
        for server in servers:
            server.start()
        bare = bare_interpreter_rss_kib()
        for server in servers:  # warm-up: imports, caches, first allocations
            wrk(server.port, 2)
        for rnd in range(args.rounds):
            # rotate the order each round: no server is always first or last
            order = servers[rnd % 3:] + servers[:rnd % 3]
            for server in order:
                log(f"round {rnd + 1}: {server.name} keep-alive")
                results[server.name]["ka"].append(wrk(server.port, args.duration))
            for server in order:
                settle_time_wait()
                log(f"round {rnd + 1}: {server.name} Connection: close "
                    f"({time_wait_count()} sockets in TIME_WAIT)")
                results[server.name]["close"].append(wrk(server.port, args.duration, close=True))
            for server in order:
                settle_time_wait()
                log(f"round {rnd + 1}: {server.name} keep-alive with {args.idle} idle connections")
                idlers = subprocess.Popen([sys.executable, "-c", IDLERS, "127.0.0.1", str(server.port),
                                           str(args.idle), "2"])
                time.sleep(3)  # every idler has connected and sent its first request
                try:
                    results[server.name]["idle"].append(wrk(server.port, args.duration))
                finally:
                    idlers.kill()
                    idlers.wait()
        rss = {s.name: statistics.mean(s.worker_rss_kib()) for s in servers}

        # memory growth, warp only: RSS of its workers before and after N more requests
        warp = servers[0]
        settle_time_wait()
        before = warp.worker_rss_kib()
        done = 0
        peak = list(before)
        while done < args.growth_requests:
            done += wrk(warp.port, 10)["total"]
            log(f"memory growth: {done:,} requests, worker RSS {warp.worker_rss_kib()} KiB")
            peak = [max(a, b) for a, b in zip(peak, warp.worker_rss_kib())]
        after = warp.worker_rss_kib()
    finally:
        for server in servers:
            server.stop()

    def fmt_rps(name, kind):
        return f"{median_of(results[name][kind], 'rps'):,.0f}"

    def ratio(a, b):
        return a / b if b else float("inf")

    ka = {n: median_of(results[n]["ka"], "rps") for n in results}
    cl = {n: median_of(results[n]["close"], "rps") for n in results}
    idle = {n: median_of(results[n]["idle"], "rps") for n in results}
    p99ka = {n: median_of(results[n]["ka"], "p99_ms") for n in results}
    p99cl = {n: median_of(results[n]["close"], "p99_ms") for n in results}
    errs = {n: sum(r["errors"] + r["non2xx"] for k in ("ka", "close", "idle") for r in results[n][k])
            for n in results}
    mib = lambda kib: kib / 1024  # noqa: E731

    rows = [
        ("keep-alive req/s", *(fmt_rps(n, "ka") for n in ("warp", "gunicorn", "uWSGI")),
         f"{ratio(ka['warp'], ka['gunicorn']):.2f}x / {ratio(ka['warp'], ka['uWSGI']):.2f}x",
         ">= 3x gunicorn, >= 1x uWSGI",
         "yes" if ka["warp"] >= 3 * ka["gunicorn"] and ka["warp"] >= ka["uWSGI"] else "NO"),
        ("`Connection: close` req/s", *(fmt_rps(n, "close") for n in ("warp", "gunicorn", "uWSGI")),
         f"{ratio(cl['warp'], cl['gunicorn']):.2f}x / {ratio(cl['warp'], cl['uWSGI']):.2f}x",
         ">= 1.5x gunicorn", "yes" if cl["warp"] >= 1.5 * cl["gunicorn"] else "NO"),
        ("p99 latency keep-alive (ms)", *(f"{p99ka[n]:.2f}" for n in ("warp", "gunicorn", "uWSGI")),
         "", "<= gunicorn", "yes" if p99ka["warp"] <= p99ka["gunicorn"] else "NO"),
        ("p99 latency close (ms)", *(f"{p99cl[n]:.2f}" for n in ("warp", "gunicorn", "uWSGI")),
         "", "<= gunicorn", "yes" if p99cl["warp"] <= p99cl["gunicorn"] else "NO"),
        (f"keep-alive req/s with {args.idle} idle conns", *(fmt_rps(n, "idle") for n in ("warp", "gunicorn", "uWSGI")),
         f"{ratio(idle['warp'], ka['warp']):.0%} of warp without", ">= 80% of without",
         "yes" if idle["warp"] >= 0.8 * ka["warp"] else "NO"),
        ("  same, as % of own figure without idle", *(f"{ratio(idle[n], ka[n]):.0%}" for n in ("warp", "gunicorn", "uWSGI")),
         "", "", ""),
        ("worker RSS over bare interpreter, MiB (total)",
         *(f"{mib(rss[n] - bare):+.1f} ({mib(rss[n]):.1f})" for n in ("warp", "gunicorn", "uWSGI")),
         "", "reported", ""),
        (f"warp worker RSS growth over {done:,} requests (MiB)",
         f"{mib(statistics.mean(after) - statistics.mean(before)):+.2f}", "", "",
         f"peak {mib(max(peak)):.1f} MiB", "no growth",
         "yes" if statistics.mean(after) - statistics.mean(before) < 1024 else "NO"),
        ("socket errors + non-2xx (all runs)", *(str(errs[n]) for n in ("warp", "gunicorn", "uWSGI")),
         "", "", ""),
    ]
    header = ("", "warp", f"gunicorn {versions['gunicorn']} (sync)", f"uWSGI ({versions['uWSGI']})",
              "warp vs gunicorn / uWSGI", "target", "met")
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, 2 workers each, "
          f"wrk -t2 -c50 -d{args.duration}s, median of {args.rounds} round(s); "
          f"bare interpreter RSS {mib(bare):.1f} MiB")
    print()
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
