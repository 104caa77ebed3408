"""The bundled server's metrics against what was really sent (issue 13): real server,
2 workers, loopback, bounded traffic. Figures are checked against the requests the test
made, never against a speed."""

from __future__ import annotations

import http.client
import json
import os
import pty
import select
import signal
import socket
import struct
import subprocess
import termios
import fcntl
import threading
import urllib.request

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_prometheus

from support import copy_apps
from support.cli import warp, warp_command, warp_env
from support.net import free_port, wait_for
from support.server import Server


@pytest.fixture
def app_dir(tmp_path):
    return copy_apps(tmp_path / "app")


def scrape(port: int, openmetrics: bool = False) -> str:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/metrics")
    if openmetrics:
        request.add_header("Accept", "application/openmetrics-text; version=1.0.0")
    with urllib.request.urlopen(request, timeout=10) as resp:
        assert resp.status == 200
        kind = resp.headers["Content-Type"]
        assert kind.startswith("application/openmetrics-text" if openmetrics else "text/plain; version=0.0.4")
        return resp.read().decode()


def samples(text: str, openmetrics: bool = False) -> dict:
    """{(sample name, frozenset of labels): value}, through prometheus_client's own parser."""
    parse = parse_openmetrics if openmetrics else parse_prometheus
    return {(s.name, frozenset(s.labels.items())): s.value for family in parse(text) for s in family.samples}


def value(found: dict, name: str, **labels) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


def status_json(app_dir) -> dict:
    result = warp("status", "--json", "--app", str(app_dir), timeout=30)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def keep_alive_gets(server: Server, path: str, count: int) -> None:
    conn = http.client.HTTPConnection(server.host, server.port, timeout=30)
    try:
        for _ in range(count):
            conn.request("GET", path)
            resp = conn.getresponse()
            resp.read()
            assert resp.status == 200
    finally:
        conn.close()


def test_counts_histograms_and_exposition_match_what_was_sent(app_dir):
    port = free_port()
    with Server(app_dir, "hostile:application", "--workers", "2", "--metrics", f"127.0.0.1:{port}",
                "--slow-request", "0.1") as server:
        server.wait_serving(workers=2)

        def settled_baseline():
            # The metrics count a request before the scoreboard does: equal counts mean
            # the requests of wait_serving are all in.
            found = samples(scrape(port))
            return found if value(found, "warp_http_requests_total", method="GET", code="2xx") == \
                server.stats()["requests"] else None
        before = wait_for(settled_baseline, 10, what="the start-up requests counted")
        base_get = value(before, "warp_http_requests_total", method="GET", code="2xx")
        base_fast = value(before, "warp_http_request_duration_seconds_bucket", le="0.1")
        base_slow = value(before, "warp_http_request_duration_seconds_bucket", le="0.25")
        base_bytes = value(before, "warp_http_response_bytes_total")

        keep_alive_gets(server, "/", 40)
        conn = http.client.HTTPConnection(server.host, server.port, timeout=30)
        conn.request("POST", "/", body=b"x" * 10, headers={"Content-Type": "text/plain"})
        assert conn.getresponse().read().startswith(b"ok pid")
        conn.close()
        assert server.get("/sleep?s=0.2")[0] == 200

        def settled():
            found = samples(scrape(port))
            return found if value(found, "warp_http_requests_total", method="GET", code="2xx") == base_get + 41 \
                and value(found, "warp_http_requests_total", method="POST", code="2xx") == 1 else None
        after = wait_for(settled, 10, what="41 GETs and 1 POST counted")
        # The known 200 ms request sits above the 100 ms bucket and inside the 250 ms one.
        assert value(after, "warp_http_request_duration_seconds_bucket", le="0.1") == base_fast + 41
        assert value(after, "warp_http_request_duration_seconds_bucket", le="0.25") == base_slow + 42
        assert value(after, "warp_http_request_duration_seconds_count") == \
            value(after, "warp_http_request_duration_seconds_bucket", le="+Inf")
        assert value(after, "warp_http_request_duration_seconds_sum") >= 0.2
        body = len(b"ok pid ") + len(str(server.stats()["workers"][0]["pid"]))
        assert value(after, "warp_http_response_bytes_total") - base_bytes == 42 * body
        assert sum(value(after, "warp_worker_requests_total", worker=str(w)) for w in (0, 1)) == \
            sum(v for (name, _), v in after.items() if name == "warp_http_requests_total")
        assert value(after, "warp_workers_target") == 2
        assert value(after, "warp_listen_backlog_limit", listener=f"127.0.0.1:{server.port}") > 0
        # The same figures in OpenMetrics, and through the stats socket for `warp metrics`.
        assert value(samples(scrape(port, openmetrics=True), openmetrics=True),
                     "warp_http_requests_total", method="POST", code="2xx") == 1
        printed = warp("metrics", "--app", str(app_dir), timeout=30)
        assert printed.returncode == 0, printed.stderr
        assert value(samples(printed.stdout), "warp_http_requests_total", method="GET", code="2xx") == base_get + 41
        # The slow-request line names method, path, duration, worker and queue time.
        line = wait_for(lambda: next((x for x in server.log().splitlines() if "slow request" in x), None), 10)
        assert "GET /sleep 200 took 0.2" in line and "worker " in line and "queued 0." in line
        assert not any("slow request: GET / " in x for x in server.log().splitlines())
        doc = status_json(app_dir)
        assert doc["totals"]["requests_total"] >= 42 and doc["totals"]["p99"] is not None


def test_capacity_is_full_while_both_workers_run_long_requests_and_empty_when_idle(app_dir):
    with Server(app_dir, "hostile:application", "--workers", "2") as server:
        server.wait_serving(workers=2)
        results = []
        threads = [threading.Thread(target=lambda: results.append(server.get("/sleep?s=8")[0])) for _ in range(2)]
        for thread in threads:
            thread.start()
        try:
            wait_for(lambda: all(w["state"] == "busy" for w in server.stats()["workers"]), 10, what="both busy")
            full = wait_for(lambda: (lambda d: d if d["totals"]["capacity"] >= 0.9 else None)(status_json(app_dir)),
                            15, interval=0.5, what="capacity near 100%")
            assert all(w["capacity"] >= 0.9 for w in full["workers"])
            assert full["totals"]["in_flight"] == 2
            assert all(len(w["busy"]) == 1 and w["busy"][0]["path"] == "/sleep" for w in full["workers"])
        finally:
            for thread in threads:
                thread.join(30)
        assert results == [200, 200]
        idle = wait_for(lambda: (lambda d: d if d["totals"]["capacity"] <= 0.05 else None)(status_json(app_dir)),
                        15, interval=0.5, what="capacity near 0% once idle")
        assert idle["totals"]["in_flight"] == 0
        assert all(w["capacity"] <= 0.05 for w in idle["workers"])


def test_connection_states_during_a_slowloris(app_dir):
    with Server(app_dir, "hostile:application", "--workers", "2", "--header-timeout", "60",
                "--keepalive-timeout", "60") as server:
        server.wait_serving(workers=2)
        socks = []
        try:
            for _ in range(3):   # a head that never ends
                s = socket.create_connection((server.host, server.port))
                s.sendall(b"GET / HTTP/1.1\r\nHost: h\r\nX-Slow: ")
                socks.append(s)
            for _ in range(2):   # a body that never ends
                s = socket.create_connection((server.host, server.port))
                s.sendall(b"POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 100000\r\n\r\nabc")
                socks.append(s)
            for _ in range(2):   # answered, then quiet on keep-alive
                s = socket.create_connection((server.host, server.port))
                s.sendall(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
                assert s.recv(65536).startswith(b"HTTP/1.1 200")
                socks.append(s)
            s = socket.create_connection((server.host, server.port))  # one in the app
            s.sendall(b"GET /sleep?s=10 HTTP/1.1\r\nHost: h\r\n\r\n")
            socks.append(s)

            def states():
                totals = status_json(app_dir)["totals"]["connections"]
                return totals if (totals["head"], totals["body"], totals["idle"], totals["app"]) == (3, 2, 2, 1) \
                    else None
            seen = wait_for(states, 10, interval=0.3, what="3 head, 2 body, 2 idle, 1 app")
            assert seen["writing"] == 0
            text = warp("status", "--app", str(app_dir), timeout=30).stdout
            assert "connections 8 (2 idle, 3 head, 2 body, 1 app)" in text
        finally:
            for s in socks:
                s.close()


def test_restarts_are_counted_by_cause(app_dir):
    with Server(app_dir, "hostile:application", "--workers", "2", "--max-requests", "15",
                "--timeout", "1") as server:
        server.wait_serving(workers=2)
        assert server.get("/sleep?s=4")[0] == 504       # timeout: 504 and the worker is replaced
        wait_for(lambda: status_json(app_dir)["restarts"]["timeout"] == 1, 20, interval=0.3, what="timeout restart")
        with pytest.raises((OSError, http.client.HTTPException)):
            server.get("/crash")                         # crash: the worker dies with SIGSEGV
        wait_for(lambda: status_json(app_dir)["restarts"]["crash"] == 1, 20, interval=0.3, what="crash restart")
        for _ in range(40):                              # max-requests: 2 workers x 15 requests
            assert server.get("/")[0] == 200
        doc = wait_for(lambda: (lambda d: d if d["restarts"]["max-requests"] >= 1 else None)(status_json(app_dir)),
                       20, interval=0.3, what="max-requests restart")
        assert doc["restarts"]["timeout"] == 1 and doc["restarts"]["crash"] == 1
        assert doc["restarts"]["reload"] == 0 and doc["timeouts"]["request"] == 1
        assert doc["metrics"]["requests"]["GET"]["5xx"] >= 1   # the 504
        server.signal(signal.SIGHUP)                     # reload: both workers replaced
        doc = wait_for(lambda: (lambda d: d if d["restarts"]["reload"] == 2 else None)(status_json(app_dir)),
                       30, interval=0.3, what="two reload restarts")
        assert doc["generation"] == 2 and doc["restarts"]["crash"] == 1


def test_warp_top_draws_in_a_terminal_and_quits_on_q(app_dir):
    with Server(app_dir, "hostile:application", "--workers", "2") as server:
        server.wait_serving(workers=2)
        pids = {str(w["pid"]) for w in server.stats()["workers"]}
        sleeper = threading.Thread(target=lambda: server.get("/sleep?s=8"))
        sleeper.start()
        wait_for(lambda: any(w["busy"] for w in server.stats()["workers"]), 10, what="a busy worker")
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 140, 0, 0))
        proc = subprocess.Popen(warp_command("top", "--app", str(app_dir)), stdin=slave, stdout=slave,
                                stderr=slave, env=warp_env(TERM="xterm"), start_new_session=True)
        os.close(slave)
        screen = b""
        try:
            def drawn():
                nonlocal screen
                ready, _, _ = select.select([master], [], [], 0.5)
                if ready:
                    try:
                        screen += os.read(master, 65536)
                    except OSError:
                        pass
                return all(p.encode() in screen for p in pids) and b"/sleep" in screen and b"q quits" in screen
            wait_for(drawn, 20, interval=0, what="the first frame")
            assert b"warp top" in screen and b"CAPACITY" in screen and b"\x1b[" in screen  # curses drew it
            os.write(master, b"q")
            assert proc.wait(10) == 0
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            os.close(master)
            sleeper.join(30)


def test_warp_top_prints_plain_frames_off_a_terminal(app_dir):
    with Server(app_dir, "hostile:application", "--workers", "2") as server:
        server.wait_serving(workers=2)
        result = warp("top", "--app", str(app_dir), "--count", "2", "--interval", "0.2", timeout=30)
        assert result.returncode == 0, result.stderr
        assert result.stdout.count("warp top - hostile:application") == 2
        assert "\x1b" not in result.stdout
        for pid in {w["pid"] for w in server.stats()["workers"]}:
            assert str(pid) in result.stdout


@pytest.mark.parametrize("server, words", [("gunicorn", ("gunicorn", "statsd")), ("uwsgi", ("uWSGI", "--stats")),
                                           ("waitress", ("waitress", "server: bundled"))])
def test_other_servers_say_what_they_offer_instead(tmp_path, server, words):
    (tmp_path / "app.py").write_text("def application(environ, start_response):\n    pass\n")
    (tmp_path / "warp.yaml").write_text(f"server: {server}\n")
    for verb in ("status", "metrics"):
        result = warp(verb, "--app", str(tmp_path), timeout=60)
        assert result.returncode == 1, result.stderr
        assert "Traceback" not in result.stderr
        text = result.stderr
        assert f"runs under {server}" in text
        for word in words:
            assert word in text, text


def test_a_head_timeout_is_counted_by_phase_and_as_a_refused_request(app_dir):
    with Server(app_dir, "hostile:application", "--workers", "2", "--header-timeout", "1") as server:
        server.wait_serving(workers=2)
        with socket.create_connection((server.host, server.port)) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: h\r\nX-Slow: ")
            sock.settimeout(15)
            assert sock.recv(65536).startswith(b"HTTP/1.1 408")
        doc = wait_for(lambda: (lambda d: d if d["timeouts"]["head"] == 1 else None)(status_json(app_dir)),
                       10, interval=0.3, what="one head timeout")
        assert doc["metrics"]["requests"]["other"]["4xx"] == 1
        assert doc["timeouts"]["body"] == doc["timeouts"]["write"] == doc["timeouts"]["request"] == 0


def test_warp_start_passes_metrics_and_refuses_them_for_another_server(tmp_path):
    (tmp_path / "wsgi.py").write_text("def application(e, r):\n    r('200 OK', [])\n    return [b'ok']\n")
    (tmp_path / "requirements.txt").write_text("")
    (tmp_path / "warp.yaml").write_text("metrics: 127.0.0.1:9464\nslow_request: 2\n")
    assert warp("build", cwd=tmp_path).returncode == 0
    plan = json.loads(warp("start", "--print", "--json", cwd=tmp_path).stdout)
    argv = plan["argv"]
    assert argv[argv.index("--metrics") + 1] == "127.0.0.1:9464"
    assert argv[argv.index("--slow-request") + 1] == "2"
    bad = warp("start", "--print", "--server", "gunicorn", cwd=tmp_path)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert "metrics and slow_request belong to the bundled server" in bad.stderr and "statsd" in bad.stderr
