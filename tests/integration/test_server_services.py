"""The bundled server's side services and process titles, with real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from pathlib import Path

import pytest

from support import copy_apps, wait_for, warp, write
from support.server import Server

# A service that says when it starts (pid in a file) and keeps running.
SERVICE = "echo $$ >> {dir}/service.pids; exec sleep 300"


def pids(folder: Path) -> list[int]:
    path = folder / "service.pids"
    return [int(line) for line in path.read_text().split()] if path.exists() else []


def cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()


def comm(pid: int) -> str:
    return Path(f"/proc/{pid}/comm").read_text().strip()


@pytest.fixture
def app(tmp_path: Path) -> Path:
    return copy_apps(tmp_path)


def test_a_service_survives_a_reload_and_comes_back_after_a_kill(app: Path) -> None:
    with Server(app, "hello:application", "--workers", "2", "--service", f"warmer={SERVICE.format(dir=app)}") as server:
        server.wait_serving(workers=2)
        first = wait_for(lambda: pids(app), what="the service started")[0]
        keeper = next(s for s in server.stats()["services"] if s["name"] == "warmer")
        assert keeper["pid"] and keeper["restarts"] == 0
        # HUP reloads the workers; the service (same command) keeps running.
        old_workers = server.worker_pids()
        server.signal(signal.SIGHUP)
        wait_for(lambda: server.worker_pids() and not (server.worker_pids() & old_workers), what="new workers")
        assert pids(app) == [first]
        os.kill(first, 0)
        # Killed, it is started again by the master.
        os.kill(first, signal.SIGKILL)
        second = wait_for(lambda: pids(app)[1:] and pids(app)[1], timeout=20, what="the service restarted")
        assert second != first
        assert next(s for s in server.stats()["services"] if s["name"] == "warmer")["restarts"] == 1
        assert "service warmer" in server.log()
        # TERM: workers first, then the service; the master exits 0.
        server.signal(signal.SIGTERM)
        assert server.wait_exit() == 0
        with pytest.raises(ProcessLookupError):
            os.kill(second, 0)


def test_ps_shows_master_worker_and_service_titles(app: Path) -> None:
    with Server(app, "hello:application", "--workers", "1", "--service", f"warmer={SERVICE.format(dir=app)}") as server:
        server.wait_serving(workers=1)
        master = server.proc.pid
        worker = next(iter(server.worker_pids()))
        keeper = wait_for(lambda: next((s["pid"] for s in server.stats()["services"] if s["pid"]), None),
                          what="the service's keeper")
        assert cmdline(master) == "warp master hello:application" and comm(master) == "warp master"
        wait_for(lambda: cmdline(worker).startswith("warp worker 0 idle"), what="the idle worker's title")
        assert cmdline(keeper) == "warp service warmer"
        # A request in flight shows in the worker's title within its one-second refresh.
        release = app / "release"
        client = threading.Thread(target=lambda: server.get(f"/wait?for={release}", timeout=60))
        client.start()
        try:
            wait_for(lambda: cmdline(worker).startswith("warp worker 0 busy GET /wait"), timeout=10,
                     what="the busy worker's title")
        finally:
            release.touch()
            client.join(timeout=30)
        # And `ps` itself, as a person would read it.
        shown = subprocess.run(["ps", "-o", "args=", "-p", f"{master},{keeper}"], capture_output=True, text=True).stdout
        assert "warp master hello:application" in shown and "warp service warmer" in shown


def test_warp_start_passes_services_and_status_lists_them(tmp_path: Path) -> None:
    write(tmp_path, {
        "wsgi.py": "def application(e, r):\n    r('200 OK', [])\n    return [b'ok']\n",
        "requirements.txt": "",
        "warp.yaml": f"services:\n  warmer: {SERVICE.format(dir=tmp_path)}\n",
    })
    assert warp("build", cwd=tmp_path).returncode == 0
    plan = warp("start", "--print", cwd=tmp_path)
    assert f"--service 'warmer={SERVICE.format(dir=tmp_path)}'" in plan.stdout
    bad = warp("start", "--print", "--server", "gunicorn", cwd=tmp_path)
    assert bad.returncode != 0 and "side services run in the bundled server" in bad.stderr
