"""Hostile and merely slow clients against the real bundled server (2 workers, loopback):
no client and no single request can stop it serving (issue 12).

Every test bounds its traffic in time and count. Where a latency is asserted, the bound
is one a broken design cannot meet (a fast request waiting behind a 1 s one, or behind
a slow client), not a benchmark figure."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from support import copy_apps
from support.harness import Reader
from support.net import wait_for
from support.server import Server
from support.net import read_until_close

# "Did not wait behind the slow thing": the slow things here take 1 s or more.
NOT_BLOCKED = 0.8


@pytest.fixture
def app_dir(tmp_path):
    return copy_apps(tmp_path / "app")


class Client:
    """One keep-alive connection."""

    def __init__(self, server: Server, rcvbuf: int = 0) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(30)
        self.sock.connect((server.host, server.port))
        self.reader = Reader(self.sock)

    def send(self, path: str, extra: bytes = b"") -> None:
        self.sock.sendall(b"GET %s HTTP/1.1\r\nHost: h\r\n%s\r\n" % (path.encode(), extra))

    def get(self, path: str = "/"):
        started = time.monotonic()
        self.send(path)
        resp = self.reader.response()
        return resp, time.monotonic() - started

    def pid(self) -> int:
        resp, _ = self.get("/")
        return int(resp.body.rsplit(b" ", 1)[1])

    def close(self) -> None:
        self.sock.close()


def spread(server: Server, count: int, both: bool = True) -> dict:
    """`count` keep-alive clients, grouped by the worker serving them; both workers
    hold some unless `both` is false (new connections go to whichever worker accepts
    first: with several threads an idle worker may well take them all)."""
    by_pid: dict = {}
    clients = []
    for _ in range(60):
        client = Client(server)
        clients.append(client)
        by_pid.setdefault(client.pid(), []).append(client)
        if len(clients) >= count and (len(by_pid) == 2 or not both):
            break
    assert len(by_pid) == 2 or not both, "connections did not spread over both workers"
    return by_pid


def fresh_get(server: Server, path: str = "/"):
    started = time.monotonic()
    status, body = server.get(path, timeout=30)
    return status, time.monotonic() - started


def worker_fds(pid: int) -> list:
    names = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            names.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:
            pass
    return names


# --- head-of-line blocking ------------------------------------------------------------------

@pytest.mark.parametrize("threads", ["1", "4"])
def test_no_fast_request_waits_behind_a_slow_one_while_a_sibling_is_idle(app_dir, threads):
    with Server(app_dir, "hostile:application", "--workers", "2", "--threads", threads) as server:
        server.wait_serving(workers=2)
        groups = spread(server, 8, both=threads == "1")
        # The slow client shares its worker with fast ones.
        slow_pid = max(groups, key=lambda pid: len(groups[pid]))
        slow = groups[slow_pid].pop(0)
        fast = [c for cs in groups.values() for c in cs]
        assert any(c in groups[slow_pid] for c in fast)
        stop = threading.Event()
        slow_answers = []

        def loop_slow():
            while not stop.is_set() and len(slow_answers) < 5:
                slow_answers.append(slow.get("/sleep?s=1")[0].status)

        thread = threading.Thread(target=loop_slow)
        thread.start()
        waits = []
        try:
            wait_for(lambda: server.stats()["workers"] and any(w["busy"] for w in server.stats()["workers"]),
                     what="the slow request running")
            deadline = time.monotonic() + 10
            while len(slow_answers) < 3 and time.monotonic() < deadline:
                for client in fast:
                    resp, elapsed = client.get("/")
                    assert resp.status == 200
                    waits.append(elapsed)
                time.sleep(0.01)
        finally:
            stop.set()
            thread.join(30)
        assert slow_answers and set(slow_answers) == {200}
        assert len(slow_answers) >= 2, "the test must overlap several slow requests"
        assert max(waits) < NOT_BLOCKED, f"a fast request waited {max(waits):.2f}s behind the 1 s one"


# --- slow readers ---------------------------------------------------------------------------

def _slow_reader(server: Server, path: str, stop: threading.Event, got: list) -> None:
    client = Client(server, rcvbuf=4096)
    try:
        client.send(path)
        total = 0
        while not stop.is_set():
            data = client.sock.recv(1024)  # 1 KiB a second
            if not data:
                break
            total += len(data)
            stop.wait(1.0)
        got.append(total)
    finally:
        client.close()


@pytest.mark.parametrize("threads", ["1", "4"])
def test_slow_readers_cost_buffers_and_disk_never_a_request_thread(app_dir, tmp_path, threads):
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(1 << 20) * 20)
    with Server(app_dir, "hostile:application", "--workers", "2", "--threads", threads,
                "--response-buffer", "262144", "--response-buffer-total", "4194304") as server:
        server.wait_serving(workers=2)
        stop = threading.Event()
        got: list = []
        paths = ["/big?mb=20"] * 10 + [f"/file?path={big}"] * 4
        readers = [threading.Thread(target=_slow_reader, args=(server, p, stop, got)) for p in paths]
        for t in readers:
            t.start()
        try:
            # every slow response was produced: the apps are done with them
            wait_for(lambda: server.access_log().count('"GET /big') == 10, timeout=60,
                     what="the app finished all 10 big responses")
            waits = []
            for _ in range(40):
                status, elapsed = fresh_get(server, "/")
                assert status == 200
                waits.append(elapsed)
            assert max(waits) < NOT_BLOCKED, f"a request waited {max(waits):.2f}s behind slow readers"
            workers = server.stats()["workers"]
            fds = [name for w in workers for name in worker_fds(w["pid"])]
            # What the clients have not read waits in bounded memory, then on disk...
            assert any("warp-response-" in name for name in fds)
            assert all(w["rss"] < 120 * 1024 * 1024 for w in workers), [w["rss"] for w in workers]
            # ...and file_wrapper responses go out from the file itself (sendfile).
            assert sum(1 for name in fds if name == str(big)) == 4
        finally:
            stop.set()
            for t in readers:
                t.join(30)
        assert len(got) == 14


# --- deadlines ------------------------------------------------------------------------------



def _drip(server: Server, head: bytes, piece: bytes, every: float, limit: float) -> bytes:
    """Send `head`, then `piece` every `every` seconds until the server answers."""
    sock = socket.create_connection((server.host, server.port), timeout=20)
    try:
        sock.sendall(head)
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            sock.settimeout(every)
            try:
                data = sock.recv(65536)
            except socket.timeout:
                try:
                    sock.sendall(piece)
                except OSError:
                    break
                continue
            except ConnectionResetError:
                return b""
            return data + read_until_close(sock, limit=20.0)
        return b""
    finally:
        sock.close()


def _slow_read(server: Server, path: str, per_tick: int, tick: float, limit: float):
    """Read a response `per_tick` bytes per `tick`; (bytes read, closed by the server)."""
    client = Client(server, rcvbuf=4096)
    try:
        client.send(path)
        total, deadline = 0, time.monotonic() + limit
        while time.monotonic() < deadline:
            try:
                data = client.sock.recv(per_tick)
            except ConnectionResetError:
                return total, True
            if not data:
                return total, True
            total += len(data)
            time.sleep(tick)
        return total, False
    finally:
        client.close()


def test_every_phase_of_a_request_has_a_deadline(app_dir):
    with Server(app_dir, "hostile:application", "--workers", "2", "--header-timeout", "1",
                "--body-min-rate", "1000", "--body-max-time", "3", "--write-timeout", "1",
                "--write-min-rate", "50000", "--write-max-time", "3") as server:
        server.wait_serving(workers=2)
        with ThreadPoolExecutor(5) as pool:
            head = pool.submit(_drip, server, b"GET / HTTP/1.1\r\nHost: h\r\nX-A: ", b"a", 0.2, 15)
            post = b"POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 1000000\r\n\r\n"
            drip = pool.submit(_drip, server, post, b"b" * 10, 0.3, 15)      # 33 B/s < 1000
            steady = pool.submit(_drip, server, post, b"c" * 400, 0.2, 15)   # 2000 B/s, too long
            slow = pool.submit(_slow_read, server, "/big?mb=20", 1024, 0.1, 15)      # 10 KB/s
            long = pool.submit(_slow_read, server, "/big?mb=20", 32768, 0.05, 15)    # 640 KB/s
            assert head.result().startswith(b"HTTP/1.1 408 ")
            assert drip.result().startswith(b"HTTP/1.1 408 ")
            assert steady.result().startswith(b"HTTP/1.1 408 ")
            slow_read, slow_closed = slow.result()
            long_read, long_closed = long.result()
        assert slow_closed and slow_read < 20 << 20
        assert long_closed and long_read < 20 << 20
        log = server.log()
        assert "request head not received within 1s" in log
        assert "request body slower than 1000 bytes/s" in log
        assert "request body not received within 3s" in log
        assert "client reads slower than 50000 bytes/s" in log
        assert "response not taken within 3s" in log
        assert server.get("/")[0] == 200


@pytest.mark.parametrize("threads", ["1", "4"])
def test_at_the_connection_cap_new_clients_are_served_and_the_log_says_so(app_dir, threads):
    with Server(app_dir, "hostile:application", "--workers", "2", "--threads", threads,
                "--worker-connections", "20", "--header-timeout", "30") as server:
        server.wait_serving(workers=2)
        drips = []
        try:
            for _ in range(60):  # 1.5 x every slot of both workers
                sock = socket.create_connection((server.host, server.port), timeout=10)
                sock.sendall(b"POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\nx")
                drips.append(sock)
            for _ in range(10):
                status, elapsed = fresh_get(server, "/")
                # served long before the 30 s header timeout would have freed a slot
                assert status == 200 and elapsed < 10
        finally:
            for sock in drips:
                sock.close()
        assert "connection cap reached (20 per worker" in server.log()


# --- uploads ----------------------------------------------------------------------------------

def test_uploads_stream_to_the_app(app_dir):
    with Server(app_dir, "hostile:application", "--workers", "2",
                "--limit-request-body", str(1 << 30)) as server:
        server.wait_serving(workers=2)
        # Content-Length: the app answers after its first 64 KiB, 49 MiB still unsent.
        with socket.create_connection((server.host, server.port), timeout=20) as sock:
            sock.sendall(b"POST /first HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n" % (50 << 20))
            sock.sendall(b"x" * (1 << 20))
            resp = Reader(sock).response()
            assert resp.status == 200 and resp.body == b"first 65536"
        # chunked: the same, while the body is still coming
        with socket.create_connection((server.host, server.port), timeout=20) as sock:
            sock.sendall(b"POST /first HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n")
            sock.sendall(b"10000\r\n" + b"y" * 0x10000 + b"\r\n" + b"10000\r\n" + b"y" * 100)
            resp = Reader(sock).response()
            assert resp.status == 200 and resp.body == b"first 65536"
        # A 200 MiB upload goes through in bounded memory, without a temporary file.
        pids = server.worker_pids()
        peak = []
        with socket.create_connection((server.host, server.port), timeout=60) as sock:
            sock.sendall(b"POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n" % (200 << 20))
            piece = b"z" * (1 << 20)
            for i in range(200):
                sock.sendall(piece)
                if i % 20 == 10:
                    peak.append(max(w["rss"] for w in server.stats()["workers"]))
                    fds = [n for pid in pids for n in worker_fds(pid)]
                    assert not any("(deleted)" in n for n in fds), fds
            data = json.loads(Reader(sock).response().body)
        assert data["bytes"] == 200 << 20
        assert max(peak) < 100 * 1024 * 1024, peak


def test_body_limit_and_expect_continue(app_dir):
    with Server(app_dir, "hostile:application", "--workers", "2",
                "--limit-request-body", "1000000") as server:
        server.wait_serving(workers=2)
        with socket.create_connection((server.host, server.port), timeout=20) as sock:
            sock.sendall(b"POST /upload HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n"
                         b"Content-Length: 1000001\r\n\r\n")
            assert Reader(sock).response(skip_interim=False).status == 413  # no 100 first
        # An app that does not read the body: no 100 Continue, just its answer.
        with socket.create_connection((server.host, server.port), timeout=20) as sock:
            sock.sendall(b"POST /no-read HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n"
                         b"Content-Length: 10\r\n\r\n")
            assert Reader(sock).response(skip_interim=False).status == 200
        # An app that reads: 100 Continue when it first reads, then its answer.
        with socket.create_connection((server.host, server.port), timeout=20) as sock:
            sock.sendall(b"POST /upload HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n"
                         b"Content-Length: 10\r\n\r\n")
            reader = Reader(sock)
            assert reader.response(skip_interim=False).status == 100
            sock.sendall(b"0123456789")
            assert json.loads(reader.response().body)["bytes"] == 10


def test_chunked_body_environ_has_transfer_encoding_and_no_content_length(app_dir):
    with Server(app_dir, "hostile:application", "--workers", "2") as server:
        server.wait_serving(workers=2)
        with socket.create_connection((server.host, server.port), timeout=20) as sock:
            sock.sendall(b"POST /env HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                         b"5\r\nhello\r\n0\r\n\r\n")
            env = json.loads(Reader(sock).response().body)
        assert env == {"CONTENT_LENGTH": None, "HTTP_TRANSFER_ENCODING": "chunked",
                       "wsgi.input_terminated": True, "body": "hello"}


# --- queue timeout --------------------------------------------------------------------------

def test_queue_timeout_answers_503_without_calling_the_app(app_dir, tmp_path):
    mark = tmp_path / "called"
    with Server(app_dir, "hostile:application", "--workers", "2", "--queue-timeout", "1") as server:
        server.wait_serving(workers=2)
        with ThreadPoolExecutor(3) as pool:
            sleepers = [pool.submit(server.get, "/sleep?s=3") for _ in range(2)]
            wait_for(lambda: sum(len(w["busy"]) for w in server.stats()["workers"]) == 2,
                     what="both workers busy")
            status, body = server.get(f"/mark?path={mark}")
            assert status == 503 and "queue timeout" in body
            assert [s.result()[0] for s in sleepers] == [200, 200]
        assert not mark.exists()
        # A trusted proxy says the request has already waited 10 s: 503 at once.
        started = int((time.time() - 10) * 1e6)
        with socket.create_connection((server.host, server.port), timeout=20) as sock:
            sock.sendall(b"GET /mark?path=%s HTTP/1.1\r\nHost: h\r\nX-Request-Start: t=%d\r\n\r\n"
                         % (str(mark).encode(), started))
            assert Reader(sock).response().status == 503
        assert not mark.exists()
        assert "queue timeout: GET /mark" in server.log()
        assert server.get(f"/mark?path={mark}")[0] == 200 and mark.exists()


# --- request timeout ------------------------------------------------------------------------

def test_request_timeout_answers_504_and_spares_the_workers_other_connections(app_dir):
    with Server(app_dir, "hostile:application", "--workers", "2", "--timeout", "2") as server:
        server.wait_serving(workers=2)
        groups = spread(server, 8)
        victim = max(groups, key=lambda pid: len(groups[pid]))
        stuck = groups[victim][0]
        # Every other connection, on either worker (requests may move between workers).
        bystanders = [c for cs in groups.values() for c in cs if c is not stuck]
        assert len(groups[victim]) > 1
        stuck.send("/sleep?s=60")

        def sleeping():
            for w in server.stats()["workers"]:
                if any(r["path"] == "/sleep" for r in w["busy"]):
                    return w["pid"]
            return None
        victim = wait_for(sleeping, what="the stuck request running")
        answers, errors = [], []
        deadline = time.monotonic() + 5  # across the 2 s timeout and the replacement
        while time.monotonic() < deadline:
            for client in bystanders:
                try:
                    resp, _ = client.get("/")
                    answers.append(resp.status)
                except OSError as exc:  # a reset or EOF of a request in flight
                    errors.append(repr(exc))
            time.sleep(0.05)
        resp = stuck.reader.response()
        assert resp.status == 504
        assert errors == [] and set(answers) == {200}
        wait_for(lambda: victim not in server.worker_pids(("idle", "busy", "stopping", "starting")),
                 what="the stuck worker gone")
        log = server.log()
        assert "timeout: GET /sleep" in log and "time.sleep" in log
        # its replacement booted before it was told to go, and it was not killed
        assert log.index("booting worker", log.index("timeout: GET /sleep")) < \
            log.index(f"worker {victim} replaced after a request timeout")
        assert f"worker {victim} killed" not in log and "unexpectedly" not in log


# --- crashes ----------------------------------------------------------------------------------

def test_a_worker_that_crashes_in_a_request_is_replaced_at_once(app_dir):
    with Server(app_dir, "hostile:application", "--workers", "2") as server:
        server.wait_serving(workers=2)
        probes = []
        for _ in range(15):
            with pytest.raises((OSError, http.client.HTTPException)):
                server.get("/crash", timeout=10)
            for _ in range(2):
                probes.append(fresh_get(server, "/")[0])
        assert probes == [200] * 30
        log = server.log()
        assert log.count("killed by SIGSEGV") >= 10
        assert "before the next spawn" not in log


# --- stopping ---------------------------------------------------------------------------------

def test_graceful_stop_serves_the_connections_queued_in_the_backlog(app_dir, tmp_path):
    release = tmp_path / "release"
    with Server(app_dir, "hello:application", "--workers", "2", "--worker-connections", "1") as server:
        server.wait_serving(workers=2)
        with ThreadPoolExecutor(32) as pool:
            busy = [pool.submit(server.get, f"/wait?for={release}") for _ in range(2)]
            wait_for(lambda: sum(len(w["busy"]) for w in server.stats()["workers"]) == 2,
                     what="both workers busy")
            queued = []
            for _ in range(30):  # each worker is at its one connection: these wait in the backlog
                sock = socket.create_connection((server.host, server.port), timeout=30)
                sock.sendall(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
                queued.append(sock)
            server.signal(signal.SIGTERM)
            wait_for(lambda: "TERM: stopping" in server.log(), what="TERM handled")
            release.touch()
            answers = [Reader(sock).response().status for sock in queued]
            assert [b.result()[0] for b in busy] == [200, 200]
        assert answers == [200] * 30
        assert server.wait_exit(30) == 0
        for sock in queued:
            sock.close()
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((server.host, server.port), timeout=5)


def test_term_to_the_process_group_stops_cleanly(app_dir):
    for _ in range(3):
        server = Server(app_dir, "hostile:application", "--workers", "2", new_session=True)
        try:
            server.wait_serving(workers=2)
            os.killpg(server.proc.pid, signal.SIGTERM)
            assert server.wait_exit(30) == 0
        finally:
            server.stop()
        log = server.log()
        assert "unexpectedly" not in log and "before the next spawn" not in log
        assert "replacing it" not in log
