"""The real bundled server (`python -m warp.runtime.server`) as a subprocess on a free
port: wait until it answers, talk HTTP to it, read its stats, stop it and its workers."""

from __future__ import annotations

import http.client
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Optional

from support.net import wait_for
from support.paths import SRC


class Server:
    def __init__(self, app_dir: Path, spec: str = "hello:application", *args: str,
                 env: Optional[dict] = None, bind: str = "127.0.0.1:0",
                 new_session: bool = False) -> None:
        self.app_dir = Path(app_dir)
        self.err_path = self.app_dir / "server.err"
        self.out_path = self.app_dir / "server.out"
        environ = dict(os.environ)
        environ["PYTHONPATH"] = str(SRC)
        environ.pop("WEB_CONCURRENCY", None)
        environ.update(env or {})
        self.argv = [sys.executable, "-m", "warp.runtime.server", spec, "--bind", bind, *args]
        self.proc = subprocess.Popen(self.argv, cwd=str(self.app_dir), env=environ,
                                     stdout=open(self.out_path, "wb"),
                                     stderr=open(self.err_path, "wb"),
                                     start_new_session=new_session)
        self.port = None
        self.host = "127.0.0.1"

    # --- lifecycle ----------------------------------------------------------------------

    def wait_listening(self, timeout=20.0) -> "Server":
        def listening():
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            match = re.search(r"Listening at http://(\[[^\]]+\]|[^:\s]+):(\d+)", self.log())
            return match
        match = wait_for(listening, timeout, what="'Listening at' in the log")
        self.host = match.group(1).strip("[]")
        self.port = int(match.group(2))
        return self

    def wait_serving(self, workers: Optional[int] = None, timeout=20.0) -> "Server":
        """Listening, and (optionally) ``workers`` workers ready according to stats."""
        self.wait_listening(timeout)
        if workers is not None:
            wait_for(lambda: self.ready_workers() == workers, timeout, what=f"{workers} ready workers")
        wait_for(lambda: self.try_get("/") is not None, timeout, what="a first answer")
        return self

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def wait_exit(self, timeout=30.0) -> int:
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        # Leave no worker behind even if the master was killed.
        for worker in getattr(self, "_seen_pids", set()):
            try:
                os.kill(worker, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    # --- output -------------------------------------------------------------------------

    def log(self) -> str:
        return self.err_path.read_text(errors="replace") if self.err_path.exists() else ""

    def access_log(self) -> str:
        return self.out_path.read_text(errors="replace") if self.out_path.exists() else ""

    # --- HTTP ---------------------------------------------------------------------------

    def get(self, path: str = "/", timeout: float = 30.0):
        """(status, body text) on a fresh connection; raises on connection errors."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.request("GET", path, headers={"Connection": "close"})
            resp = conn.getresponse()
            return resp.status, resp.read().decode()
        finally:
            conn.close()

    def try_get(self, path: str = "/"):
        try:
            return self.get(path, timeout=5)
        except (OSError, http.client.HTTPException):
            return None

    # --- stats --------------------------------------------------------------------------

    def stats(self) -> dict:
        from warp.runtime.server.stats import find_and_read
        data = find_and_read(str(self.app_dir))
        self._seen_pids = getattr(self, "_seen_pids", set()) | {w["pid"] for w in data["workers"]}
        return data

    def worker_pids(self, states=("idle", "busy")) -> set:
        return {w["pid"] for w in self.stats()["workers"] if w["state"] in states}

    def ready_workers(self) -> int:
        try:
            return len(self.worker_pids())
        except OSError:
            return 0


def pid_of(body: str) -> int:
    return int(body.rsplit("pid", 1)[1])
