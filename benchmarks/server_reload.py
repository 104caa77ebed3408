"""Requests lost while the bundled server reloads under load.

Starts `python -m warp.runtime.server` on 127.0.0.1 with a tiny WSGI app, runs `wrk` (keep-alive
connections, and again with `Connection: close`) for a fixed time while sending HUP to
the master every few seconds, and reports requests served, wrk socket errors and non-2xx
answers per run. Every reload really swaps the workers (the log counts them).

    python benchmarks/server_reload.py [--seconds 10] [--hups 4] [--workers 2] [--connections 50]

Needs `wrk` on PATH. Bounded: one local server, loopback only, fixed duration.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
APP = '''
import os
def application(environ, start_response):
    body = b"hello from %d\\n" % os.getpid()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
'''


def run(seconds: float, hups: int, workers: int, connections: int, close: bool) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "bench_app.py").write_text(APP)
        err = Path(tmp, "server.err")
        env = dict(os.environ, PYTHONPATH=str(SRC))
        proc = subprocess.Popen(
            [sys.executable, "-m", "warp.runtime.server", "bench_app:application", "--bind", "127.0.0.1:0",
             "--workers", str(workers), "--access-log", "off", "--stats", "off"],
            cwd=tmp, env=env, stdout=subprocess.DEVNULL, stderr=open(err, "wb"))
        try:
            deadline = time.monotonic() + 20
            port = None
            while port is None and time.monotonic() < deadline:
                match = re.search(r"Listening at http://127\.0\.0\.1:(\d+)", err.read_text())
                port = int(match.group(1)) if match else None
                time.sleep(0.05)
            if port is None:
                raise SystemExit("server did not start:\n" + err.read_text())
            time.sleep(1.0)  # workers importing the app

            def reload_now_and_then():
                for _ in range(hups):
                    time.sleep(seconds / (hups + 1))
                    proc.send_signal(signal.SIGHUP)
            reloader = threading.Thread(target=reload_now_and_then)
            argv = ["wrk", "-t2", f"-c{connections}", f"-d{int(seconds)}s", f"http://127.0.0.1:{port}/"]
            if close:
                argv[1:1] = ["-H", "Connection: close"]
            reloader.start()
            done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
            out = done.stdout + done.stderr
            reloader.join()
            log = err.read_text()
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
    found = re.search(r"(\d+) requests in", out)
    if not found:
        raise SystemExit("wrk failed:\n" + out)
    requests = int(found.group(1))
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "mode": "Connection: close" if close else "keep-alive",
        "requests": requests,
        "socket_errors": sum(int(n) for n in errors.groups()) if errors else 0,
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        "reloads_done": log.count("new workers ready"),
        "workers_booted": log.count("booting worker"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--hups", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=50)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        print("wrk is not installed", file=sys.stderr)
        return 1
    lost = 0
    for close in (False, True):
        result = run(args.seconds, args.hups, args.workers, args.connections, close)
        lost += result["socket_errors"] + result["non_2xx"]
        print(" ".join(f"{k}={v}" for k, v in result.items()))
    return 0 if lost == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
