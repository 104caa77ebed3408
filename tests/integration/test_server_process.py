"""The bundled server's process model, end to end: the real `python -m warp.runtime.server`
in a subprocess, real sockets, real signals."""

from __future__ import annotations

import http.client
import json
import os
import signal
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from support import connect_refused, copy_apps, wait_for, warp
from support.server import Server, pid_of


@pytest.fixture
def app_dir(tmp_path):
    return copy_apps(tmp_path / "app")


def test_n_workers_serve_concurrently_and_log_access(app_dir):
    with Server(app_dir, "hello:application", "--workers", "3") as server:
        server.wait_serving(workers=3)
        # Three slow requests at once: each worker serves one at a time, so all three
        # workers must be busy at the same time before the test lets them finish.
        release = app_dir / "release"
        with ThreadPoolExecutor(3) as pool:
            futures = [pool.submit(server.get, f"/wait?for={release}") for _ in range(3)]
            wait_for(lambda: sum(1 for w in server.stats()["workers"] if w["state"] == "busy") == 3,
                     what="3 busy workers")
            release.touch()
            results = [f.result(timeout=30) for f in futures]
        assert all(status == 200 for status, _ in results)
        pids = {pid_of(body) for _, body in results}
        assert len(pids) == 3
        assert pids <= server.worker_pids()
        line = f'"GET /wait?for={release} HTTP/1.1" 200'
        access = wait_for(lambda: server.access_log().count(line) == 3 and server.access_log(),
                          what="3 access log lines")
        for pid in pids:
            assert f"pid={pid}" in access


def test_a_quiet_server_spreads_kept_alive_connections_over_every_worker(app_dir):
    # One connection at a time, each kept open (a proxy's connection pool fills like
    # this): had one worker taken them all, a later burst on them would find a single
    # worker serving while the others idle.
    with Server(app_dir, "hello:application", "--workers", "4") as server:
        server.wait_serving(workers=4)
        held, by_worker = [], Counter()
        try:
            for _ in range(16):
                conn = http.client.HTTPConnection(server.host, server.port, timeout=20)
                held.append(conn)
                conn.request("GET", "/")
                resp = conn.getresponse()
                assert resp.status == 200
                by_worker[pid_of(resp.read().decode())] += 1
        finally:
            for conn in held:
                conn.close()
        assert set(by_worker) == server.worker_pids(), by_worker
        assert min(by_worker.values()) >= 2, by_worker


@pytest.mark.parametrize("keep_alive", [False, True], ids=["new-connections", "keep-alive"])
def test_hup_reload_under_load_loses_nothing_and_serves_new_code(app_dir, keep_alive):
    with Server(app_dir, "hello:application", "--workers", "2") as server:
        server.wait_serving(workers=2)
        old_pids = server.worker_pids()
        stop = threading.Event()
        failures, answers = [], []

        def load():
            # keep-alive: one persistent connection per client, as browsers and proxies
            # do; http.client reconnects by itself after a Connection: close answer.
            conn = http.client.HTTPConnection(server.host, server.port, timeout=20)
            while not stop.is_set():
                try:
                    if keep_alive:
                        conn.request("GET", "/")
                        resp = conn.getresponse()
                        status, body = resp.status, resp.read().decode()
                    else:
                        status, body = server.get("/", timeout=20)
                    (answers if status == 200 else failures).append(body)
                except Exception as exc:  # any refused/reset/timeout is a lost request
                    failures.append(repr(exc))
                    conn.close()
            conn.close()

        threads = [threading.Thread(target=load) for _ in range(4)]
        for t in threads:
            t.start()
        try:
            # A request in flight across the reload must finish, with the old code.
            release = app_dir / "release"
            slow = ThreadPoolExecutor(1).submit(server.get, f"/wait?for={release}")
            wait_for(lambda: any(w["busy"] for w in server.stats()["workers"]), what="busy worker")
            source = (app_dir / "hello.py").read_text()
            (app_dir / "hello.py").write_text(source.replace("VERSION = 1", "VERSION = 2"))
            served_before = len(answers)
            server.signal(signal.SIGHUP)
            wait_for(lambda: any("v2" in body for body in answers[served_before:]),
                     what="answers from the new code")
            assert not slow.done()  # its old worker is still finishing it
            release.touch()
            wait_for(lambda: not (server.worker_pids(("idle", "busy", "stopping", "starting")) & old_pids),
                     what="old workers gone")
            mark = len(answers)
            wait_for(lambda: len(answers) > mark + 50, what="more answers after the reload")
        finally:
            stop.set()
            for t in threads:
                t.join(30)
        assert slow.result(timeout=30) == (200, f"hello v1 pid {pid_of(slow.result()[1])}\n")
        assert failures == []
        assert all("v2" in body for body in answers[mark:])
        assert len(server.worker_pids()) == 2


def test_worker_killed_with_sigkill_is_replaced(app_dir):
    with Server(app_dir, "hello:application", "--workers", "2") as server:
        server.wait_serving(workers=2)
        pids = server.worker_pids()
        victim = sorted(pids)[0]
        os.kill(victim, signal.SIGKILL)
        wait_for(lambda: victim not in server.worker_pids(("idle", "busy", "starting"))
                 and len(server.worker_pids()) == 2, what="replacement worker")
        survivors = server.worker_pids()
        assert victim not in survivors and len(survivors - pids) == 1
        for _ in range(10):
            assert server.get("/")[0] == 200
        assert f"worker {victim} killed by SIGKILL" in server.log()


def test_only_the_in_flight_request_of_a_dying_worker_is_lost(app_dir):
    with Server(app_dir, "hello:application", "--workers", "2") as server:
        server.wait_serving(workers=2)
        with pytest.raises((OSError, http.client.HTTPException)):
            server.get("/exit")  # the worker dies while serving it
        wait_for(lambda: len(server.worker_pids()) == 2, what="replacement worker")
        assert all(server.get("/")[0] == 200 for _ in range(10))
        assert "exited with status 17 unexpectedly" in server.log()


def test_term_drains_a_slow_request_then_exits_0(app_dir):
    release = app_dir / "release"
    with Server(app_dir, "hello:application", "--workers", "1") as server:
        server.wait_serving(workers=1)
        slow = ThreadPoolExecutor(1).submit(server.get, f"/wait?for={release}")
        wait_for(lambda: any(w["state"] == "busy" for w in server.stats()["workers"]), what="busy worker")
        server.signal(signal.SIGTERM)
        # Stops accepting at once, while the slow request is still running.
        wait_for(lambda: connect_refused(server.host, server.port), what="connections refused")
        assert not slow.done() and server.proc.poll() is None
        release.touch()
        status, body = slow.result(timeout=30)
        assert status == 200 and body.startswith("hello v1")
        assert server.wait_exit(30) == 0
        assert not (app_dir / ".warp" / "run" / "stats.sock").exists()


def test_int_stops_fast_with_status_0(app_dir):
    with Server(app_dir, "hello:application", "--workers", "2") as server:
        server.wait_serving(workers=2)
        server.signal(signal.SIGINT)
        assert server.wait_exit(30) == 0


def test_request_past_timeout_gets_504_and_its_traceback_is_logged(app_dir):
    with Server(app_dir, "hello:application", "--workers", "1", "--timeout", "1") as server:
        server.wait_serving(workers=1)
        victim = server.worker_pids().pop()
        status, body = server.get("/sleep?s=60", timeout=30)
        assert status == 504 and "Gateway Timeout" in body
        log = wait_for(lambda: "timeout: GET /sleep from 127.0.0.1" in server.log() and server.log(),
                       what="timeout logged")
        # the stack of the stuck request, innermost frame last
        assert 'hello.py", line' in log and "in stuck_in_the_app" in log
        wait_for(lambda: server.worker_pids() and victim not in server.worker_pids(), what="replacement worker")
        assert server.get("/")[0] == 200
        assert "unexpectedly" not in server.log()


def test_max_requests_recycles_workers(app_dir):
    with Server(app_dir, "hello:application", "--workers", "1", "--max-requests", "3") as server:
        server.wait_serving(workers=1)
        pids = []
        for _ in range(7):
            # The recycled worker is replaced; wait for its successor between rounds.
            wait_for(lambda: server.try_get("/"), what="an answer")
            pids.append(pid_of(server.get("/")[1]))
        # 1 request went to wait_serving's probe + each round makes 2: every worker
        # serves exactly 3, so the pid must change several times.
        assert len(set(pids)) >= 3
        assert "(max-requests 3): recycling" in server.log()
        stats = server.stats()
        assert all(w["requests"] <= 3 for w in stats["workers"])


def test_app_that_fails_to_import_stops_the_server(app_dir):
    server = Server(app_dir, "fail_import:application", "--workers", "3")
    try:
        assert server.wait_exit(30) == 4
    finally:
        server.stop()
    log = server.log()
    assert "the database settings are missing" in log
    assert "Traceback" in log and "fail_import.py" in log
    assert log.count("booting worker") <= 3  # no respawning


def test_missing_module_is_a_one_line_error(app_dir):
    server = Server(app_dir, "no_such_module:app", "--workers", "1")
    try:
        assert server.wait_exit(30) == 4
    finally:
        server.stop()
    assert "cannot import application module 'no_such_module'" in server.log()
    assert "Traceback" not in server.log()


def test_crash_loop_backs_off(app_dir):
    with Server(app_dir, "crash:application", "--workers", "2") as server:
        server.wait_listening()
        wait_for(lambda: "before the next spawn" in server.log(), timeout=20, what="backoff")
        assert server.proc.poll() is None  # still supervising, not spinning or dead


def test_ttin_ttou_change_the_worker_count(app_dir):
    with Server(app_dir, "hello:application", "--workers", "1") as server:
        server.wait_serving(workers=1)
        server.signal(signal.SIGTTIN)
        wait_for(lambda: len(server.worker_pids()) == 2, what="2 workers")
        server.signal(signal.SIGTTOU)
        wait_for(lambda: len(server.stats()["workers"]) == 1, what="1 worker")
        assert server.get("/")[0] == 200


def test_unix_socket_and_ipv6(app_dir, tmp_path):
    sock_path = tmp_path / "web.sock"
    with Server(app_dir, "hello:application", "--workers", "1", "--bind", "[::1]:0",
                bind=f"unix:{sock_path}") as server:
        server.wait_listening()
        wait_for(lambda: server.ready_workers() == 1, what="worker")
        import socket as _socket
        client = _socket.socket(_socket.AF_UNIX)
        client.settimeout(10)
        client.connect(str(sock_path))
        client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := client.recv(65536):
            data += chunk
        client.close()
        assert data.startswith(b"HTTP/1.1 200") and b"hello v1" in data
        stats = server.stats()
        assert any(b.startswith("[::1]:") for b in stats["bind"])
    assert not sock_path.exists()


def test_preload_imports_once_and_reload_imports_fresh_code(app_dir, tmp_path):
    import_log = tmp_path / "imports"
    with Server(app_dir, "preload_marker:application", "--workers", "2", "--preload",
                env={"IMPORT_LOG": str(import_log)}) as server:
        server.wait_serving(workers=2)
        assert import_log.read_text().split() == [str(server.proc.pid)]
        source = (app_dir / "preload_marker.py").read_text()
        (app_dir / "preload_marker.py").write_text(source.replace("VERSION = 1", "VERSION = 2"))
        server.signal(signal.SIGHUP)
        wait_for(lambda: "preloaded v2" in (server.try_get("/") or (0, ""))[1], what="new code")


def test_json_access_log(app_dir):
    with Server(app_dir, "hello:application", "--workers", "1", "--access-log-format", "json") as server:
        server.wait_serving(workers=1)
        server.get("/sleep?s=0")
        # The line is written once the response is sent, so possibly after we read it.
        line = wait_for(lambda: [line for line in server.access_log().splitlines() if '"/sleep"' in line],
                        what="access log line")[0]
        record = json.loads(line)
        assert record["method"] == "GET" and record["path"] == "/sleep" and record["status"] == 200
        assert record["pid"] in server.worker_pids() and record["bytes"] > 0


def test_warp_status_shows_the_workers(app_dir):
    with Server(app_dir, "hello:application", "--workers", "2") as server:
        server.wait_serving(workers=2)
        release = app_dir / "release"
        slow = ThreadPoolExecutor(1).submit(server.get, f"/wait?for={release}")
        wait_for(lambda: any(w["busy"] for w in server.stats()["workers"]), what="busy worker")
        result = warp("status", "--json", cwd=app_dir, timeout=60)
        assert result.returncode == 0, result.stderr
        doc = json.loads(result.stdout)
        assert doc["master_pid"] == server.proc.pid
        assert {w["pid"] for w in doc["workers"]} == server.worker_pids(("idle", "busy"))
        states = sorted(w["state"] for w in doc["workers"])
        assert states == ["busy", "idle"]
        busy = [w for w in doc["workers"] if w["state"] == "busy"][0]
        assert busy["busy"][0]["method"] == "GET" and busy["busy"][0]["path"] == "/wait"
        table = warp("status", cwd=app_dir, timeout=60)
        assert table.returncode == 0, table.stderr
        lines = table.stdout.splitlines()
        assert lines[0].startswith(f"master {server.proc.pid}") and "workers 2/2" in lines[0]
        for w in doc["workers"]:
            assert any(line.startswith(str(w["pid"])) and w["state"] in line for line in lines)
        assert any("GET /wait" in line for line in lines)
        release.touch()
        assert slow.result(timeout=30)[0] == 200


def test_warp_status_without_a_server_is_one_line_and_fails(tmp_path):
    result = warp("status", cwd=tmp_path, timeout=60)
    assert result.returncode == 1
    assert result.stderr.startswith("warp: error: no warp server answers for") and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_an_app_content_length_is_sent_once(app_dir):
    """Strict clients (wrk, proxies) reject a response with two Content-Length headers."""
    import socket as _socket
    with Server(app_dir, "hello:application", "--workers", "1") as server:
        server.wait_serving(workers=1)
        with _socket.create_connection((server.host, server.port), timeout=10) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        head = data.split(b"\r\n\r\n", 1)[0].lower()
        assert head.count(b"\r\ncontent-length:") == 1


def test_warp_status_finds_a_stats_socket_named_in_an_environment_file(app_dir, tmp_path):
    # warp start hands .s2i/environment's WARP_STATS to the server; warp status reads it the same way.
    sock = tmp_path / "elsewhere.sock"
    (app_dir / ".s2i").mkdir()
    (app_dir / ".s2i" / "environment").write_text(f"WARP_STATS={sock}\n")
    with Server(app_dir, "hello:application", "--workers", "1", env={"WARP_STATS": str(sock)}) as server:
        server.wait_serving()
        assert not (app_dir / ".warp" / "run" / "stats.sock").exists()
        result = warp("status", "--json", cwd=app_dir, timeout=60)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["master_pid"] == server.proc.pid
    (app_dir / ".s2i" / "environment").write_text("WARP_STATS=off\n")
    result = warp("status", cwd=app_dir, timeout=60)
    assert result.returncode == 2 and "stats=off from env WARP_STATS" in result.stderr, result.stderr
