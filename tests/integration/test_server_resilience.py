"""The bundled server's less common paths, end to end: threads, SO_REUSEPORT, broken
reloads, wedged and slow-starting workers, memory ceiling, log reopening, stats
fallback, the master's death, and running as PID 1."""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from support import SRC, copy_apps, wait_for
from support.server import Server, pid_of


@pytest.fixture
def app_dir(tmp_path):
    return copy_apps(tmp_path / "app")


def test_threads_serve_concurrently_in_one_worker(app_dir):
    with Server(app_dir, "hello:application", "--workers", "1", "--threads", "4") as server:
        server.wait_serving(workers=1)
        release = app_dir / "release"
        with ThreadPoolExecutor(4) as pool:
            futures = [pool.submit(server.get, f"/wait?for={release}") for _ in range(4)]
            # All four are in flight in the same worker at once.
            wait_for(lambda: sum(len(w["busy"]) for w in server.stats()["workers"]) == 4,
                     what="4 requests in flight")
            release.touch()
            results = [f.result(timeout=30) for f in futures]
        assert {pid_of(body) for _, body in results} == server.worker_pids()


def test_reuse_port_gives_each_worker_its_own_socket(app_dir):
    with Server(app_dir, "hello:application", "--workers", "2", "--reuse-port") as server:
        server.wait_serving(workers=2)
        with ThreadPoolExecutor(2) as pool:
            results = list(pool.map(lambda _: server.get("/sleep?s=1"), range(2)))
        assert all(status == 200 for status, _ in results)
        # Each worker holds its own listening socket on the same port.
        out = subprocess.run(["ss", "-Hltnp", f"sport = :{server.port}"], capture_output=True, text=True)
        if out.returncode == 0:
            for pid in server.worker_pids():
                assert f"pid={pid}," in out.stdout


def test_reload_with_broken_code_keeps_the_old_workers(app_dir):
    with Server(app_dir, "hello:application", "--workers", "2") as server:
        server.wait_serving(workers=2)
        old = server.worker_pids()
        (app_dir / "hello.py").write_text("raise SyntaxError('half-deployed file')\n")
        server.signal(signal.SIGHUP)
        wait_for(lambda: "reload abandoned" in server.log(), what="abandoned reload")
        assert server.worker_pids() == old
        assert server.get("/")[1].startswith("hello v1")
        assert server.proc.poll() is None


def test_wedged_idle_worker_is_detected_by_its_heartbeat(app_dir):
    with Server(app_dir, "hello:application", "--workers", "1", "--heartbeat-timeout", "2") as server:
        server.wait_serving(workers=1)
        victim = server.worker_pids().pop()
        assert server.get("/wedge")[0] == 200
        wait_for(lambda: f"worker {victim} killed by SIGABRT" in server.log(), timeout=30, what="kill")
        assert "while idle (wedged)" in server.log()
        wait_for(lambda: server.worker_pids() and victim not in server.worker_pids(), what="replacement")
        assert server.get("/")[0] == 200


def test_a_request_holding_the_gil_from_its_start_is_killed_at_the_timeout_backstop(app_dir):
    # Run on the worker's I/O thread and never shown (its watcher cannot run): the
    # master still knows the worker is in a request since when, not wedged while idle.
    with Server(app_dir, "hello:application", "--workers", "1", "--timeout", "1",
                "--heartbeat-timeout", "60") as server:
        server.wait_serving(workers=1)
        victim = server.worker_pids().pop()
        with pytest.raises((OSError, http.client.HTTPException)):
            server.get("/hog", timeout=30)
        wait_for(lambda: f"worker {victim} killed by SIGABRT" in server.log(), timeout=30, what="kill")
        assert "timeout: a request on its I/O thread running" in server.log()
        wait_for(lambda: server.worker_pids() and victim not in server.worker_pids(), what="replacement")
        assert server.get("/")[0] == 200


def test_worker_that_cannot_start_in_time_stops_the_server(app_dir):
    server = Server(app_dir, "slow_import:application", "--workers", "1", "--startup-timeout", "1")
    try:
        assert server.wait_exit(30) == 3
    finally:
        server.stop()
    log = server.log()
    assert "startup timeout" in log
    assert "in waiting_for_the_database" in log  # where the import was stuck


def test_memory_ceiling_recycles_after_the_request(app_dir):
    with Server(app_dir, "hello:application", "--workers", "1", "--max-memory", "100") as server:
        server.wait_serving(workers=1)
        first = server.worker_pids().pop()
        status, body = server.get("/grow?mb=150")
        assert status == 200 and pid_of(body) == first  # the request itself completes
        wait_for(lambda: server.worker_pids() and first not in server.worker_pids(), what="recycled worker")
        assert "above max-memory 100 MiB: recycling" in server.log()


def test_usr1_reopens_log_files(app_dir, tmp_path):
    access = tmp_path / "access.log"
    with Server(app_dir, "hello:application", "--workers", "1", "--access-log", str(access),
                "--error-log", str(tmp_path / "error.log")) as server:
        server.err_path = tmp_path / "error.log"
        server.wait_serving(workers=1)
        wait_for(lambda: access.exists() and "GET /" in access.read_text(), what="access line")
        access.rename(tmp_path / "access.log.1")
        server.signal(signal.SIGUSR1)
        wait_for(lambda: "log files reopened" in server.log(), what="reopen")

        def new_file_gets_lines():
            server.get("/sleep?s=0")
            return access.exists() and "/sleep" in access.read_text()
        wait_for(new_file_gets_lines, what="lines in the new access log")


def test_stats_fall_back_to_tmpdir_when_app_folder_is_unwritable(app_dir):
    (app_dir / ".warp").write_text("not a folder")  # makes .warp/run impossible, even for root
    with Server(app_dir, "hello:application", "--workers", "1") as server:
        server.wait_serving(workers=1)
        assert "stats at unix:" + os.path.join(os.environ.get("TMPDIR", "/tmp"), f"warp-{os.getuid()}") in server.log()
        assert len(server.stats()["workers"]) == 1  # found where `warp status` looks


def test_workers_stop_when_the_master_dies(app_dir):
    with Server(app_dir, "hello:application", "--workers", "2") as server:
        server.wait_serving(workers=2)
        workers = server.worker_pids()
        server.proc.kill()
        server.proc.wait(10)

        def all_gone():
            for pid in workers:
                try:
                    with open(f"/proc/{pid}/stat") as fh:
                        if fh.read().split(") ", 1)[1].split()[0] != "Z":
                            return False
                except FileNotFoundError:
                    pass
            return True
        wait_for(all_gone, timeout=20, what="orphaned workers to exit")


@pytest.mark.root
@pytest.mark.skipif(not shutil.which("unshare"), reason="needs unshare (util-linux)")
def test_as_pid_1_it_reaps_orphans_and_exits_0_on_term(app_dir):
    probe = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("cannot create a PID namespace here")
    env = dict(os.environ, PYTHONPATH=str(SRC))
    err = open(app_dir / "server.err", "wb")
    proc = subprocess.Popen(
        ["unshare", "--pid", "--fork", "--mount-proc", sys.executable, "-m", "warp.runtime.server",
         "hello:application", "--bind", "127.0.0.1:0", "--workers", "1", "--log-level", "debug",
         "--stats", "off"],
        cwd=str(app_dir), env=env, stdout=subprocess.DEVNULL, stderr=err)
    try:
        def log():
            return (app_dir / "server.err").read_text()

        wait_for(lambda: "master pid 1" in log() and "Listening at" in log(), what="PID 1 master")
        port = int(log().split("Listening at http://127.0.0.1:")[1].split()[0])
        server = Server.__new__(Server)
        server.host, server.port = "127.0.0.1", port
        wait_for(lambda: server.try_get("/"), what="an answer")
        assert server.get("/orphan")[0] == 200
        wait_for(lambda: "(not a worker)" in log(), what="the orphan reaped by PID 1")
        # unshare's child is the master (PID 1 inside); signal it from outside.
        master = int(Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()[0])
        os.kill(master, signal.SIGTERM)
        assert proc.wait(30) == 0
        assert "exiting with status 0" in log()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        err.close()


def test_timeout_in_a_threaded_worker_answers_504_and_replaces_it(app_dir):
    with Server(app_dir, "hello:application", "--workers", "1", "--threads", "2", "--timeout", "1") as server:
        server.wait_serving(workers=1)
        victim = server.worker_pids().pop()
        assert server.get("/sleep?s=60", timeout=30)[0] == 504
        log = wait_for(lambda: "timeout: GET /sleep" in server.log() and server.log(), what="timeout logged")
        assert "in stuck_in_the_app" in log
        wait_for(lambda: server.worker_pids() and victim not in server.worker_pids(), what="replacement")
        assert server.get("/")[0] == 200


def test_max_requests_jitter_spreads_the_limits(app_dir):
    with Server(app_dir, "hello:application", "--workers", "3", "--max-requests", "100",
                "--max-requests-jitter", "50") as server:
        server.wait_serving(workers=3)
        limits = [w["max_requests"] for w in server.stats()["workers"]]
        assert len(limits) == 3 and all(100 <= n <= 150 for n in limits)
