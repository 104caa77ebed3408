"""HTTP/1.1 and WSGI behaviour of warp's server, over real sockets with raw bytes."""

from __future__ import annotations

import json
import random
import socket
import time
from pathlib import Path

import pytest

from support.harness import SERVERS, Reader, connect, request


def echo_app(environ, start_response):
    """Answers with the interesting parts of the environ and the request body as JSON."""
    body = environ["wsgi.input"].read()
    keys = ("REQUEST_METHOD", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING", "SERVER_NAME",
            "SERVER_PORT", "SERVER_PROTOCOL", "REMOTE_ADDR", "CONTENT_LENGTH", "CONTENT_TYPE",
            "HTTP_HOST", "wsgi.url_scheme", "HTTP_X_CUSTOM", "HTTP_COOKIE", "RAW_URI")
    data = {k: environ.get(k) for k in keys}
    data["body"] = body.decode("latin-1")
    data["wsgi.version"] = list(environ["wsgi.version"])
    data["errors"] = hasattr(environ["wsgi.errors"], "write")
    data["file_wrapper"] = callable(environ.get("wsgi.file_wrapper"))
    out = json.dumps(data).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(out)))])
    return [out]


@pytest.fixture(scope="module", params=sorted(SERVERS))
def echo_server(request):
    with SERVERS[request.param](echo_app) as server:
        yield server


def test_get_builds_pep3333_environ(echo_server):
    resp = request(echo_server.port,
                   b"GET /a%20b/%C3%A9?x=1&y=%20 HTTP/1.1\r\nHost: example.com:8000\r\n"
                   b"X-Custom: v\r\nCookie: a=1\r\nCookie: b=2\r\n\r\n")
    assert resp.status == 200
    env = json.loads(resp.body)
    assert env["REQUEST_METHOD"] == "GET"
    assert env["PATH_INFO"] == "/a b/\u00c3\u00a9"  # percent-decoded bytes, as latin-1
    assert env["QUERY_STRING"] == "x=1&y=%20"
    assert env["SERVER_NAME"] == "example.com" and env["SERVER_PORT"] == "8000"
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert env["REMOTE_ADDR"] == "127.0.0.1"
    assert env["HTTP_X_CUSTOM"] == "v"
    assert env["HTTP_COOKIE"] == "a=1; b=2"
    assert env["SCRIPT_NAME"] == ""
    assert env["CONTENT_LENGTH"] is None
    assert env["wsgi.url_scheme"] == "http"
    assert env["wsgi.version"] == [1, 0]
    assert env["errors"] and env["file_wrapper"]
    assert env["RAW_URI"] == "/a%20b/%C3%A9?x=1&y=%20"


def test_keep_alive_serves_several_requests_on_one_connection(echo_server):
    with connect(echo_server.port) as sock:
        reader = Reader(sock)
        for i in range(3):
            sock.sendall(b"GET /n%d HTTP/1.1\r\nHost: h\r\n\r\n" % i)
            resp = reader.response()
            assert resp.status == 200
            assert json.loads(resp.body)["PATH_INFO"] == "/n%d" % i
            assert resp.header("connection") is None


def test_post_body_with_content_length(echo_server):
    with connect(echo_server.port) as sock:
        reader = Reader(sock)
        sock.sendall(b"POST /p HTTP/1.1\r\nHost: h\r\nContent-Type: text/plain\r\n"
                     b"Content-Length: 11\r\n\r\nhello world")
        env = json.loads(reader.response().body)
        assert env["body"] == "hello world"
        assert env["CONTENT_LENGTH"] == "11" and env["CONTENT_TYPE"] == "text/plain"
        # the connection is still good for the next request
        sock.sendall(b"GET /after HTTP/1.1\r\nHost: h\r\n\r\n")
        assert json.loads(reader.response().body)["PATH_INFO"] == "/after"


def test_pipelined_requests_are_answered_in_order(echo_server):
    with connect(echo_server.port) as sock:
        sock.sendall(b"".join(
            b"POST /%d HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\n%d" % (i, i) for i in range(5)))
        reader = Reader(sock)
        for i in range(5):
            env = json.loads(reader.response().body)
            assert env["PATH_INFO"] == "/%d" % i and env["body"] == str(i)


def test_connection_close_is_honoured(echo_server):
    with connect(echo_server.port) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
        reader = Reader(sock)
        resp = reader.response()
        assert resp.status == 200 and resp.header("connection") == "close"
        assert reader.at_eof()


def test_http10_closes_unless_keep_alive_asked(echo_server):
    with connect(echo_server.port) as sock:
        sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
        reader = Reader(sock)
        assert reader.response().status == 200
        assert reader.at_eof()
    with connect(echo_server.port) as sock:
        sock.sendall(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        reader = Reader(sock)
        resp = reader.response()
        assert resp.header("connection") == "keep-alive"
        sock.sendall(b"GET /again HTTP/1.0\r\n\r\n")
        assert json.loads(reader.response().body)["PATH_INFO"] == "/again"
        assert reader.at_eof()


def test_tracker_hears_about_each_request(echo_server):
    before = len(echo_server.tracker.finished)
    request(echo_server.port, b"GET /tracked HTTP/1.1\r\nHost: h\r\n\r\n")
    assert ("GET", "/tracked") in echo_server.tracker.started
    # request_finished comes right after the last byte is sent: poll, do not sleep blindly
    deadline = time.monotonic() + 5
    while len(echo_server.tracker.finished) <= before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert echo_server.tracker.finished[before][0] == 200


def test_a_quick_request_runs_unseen_and_a_slow_one_is_shown_while_it_runs():
    # The event loop runs a complete request on its I/O thread and leaves it out of the
    # scoreboard and busy metrics (deferred); the watcher shows it once it runs long.
    def app(environ, start_response):
        if environ["PATH_INFO"] == "/slow":
            time.sleep(0.5)
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]

    with SERVERS["loop"](app) as server:
        for path in (b"/quick", b"/slow"):
            assert request(server.port, b"GET %s HTTP/1.1\r\nHost: h\r\n\r\n" % path).status == 200
        deadline = time.monotonic() + 5
        while len(server.tracker.finished) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert server.tracker.started == [("GET", "/quick"), ("GET", "/slow")]
        assert server.tracker.deferred == [True, True]
        assert ("GET", "/slow") in server.tracker.shown
        assert [status for status, _ in server.tracker.finished] == [200, 200]


# --- the request corpus, replayed over real sockets -------------------------------------

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
CORPUS_CASES = sorted(p.stem for p in CORPUS.glob("*.http"))


def parse_echo_app(environ, start_response):
    data = {k: v for k, v in environ.items() if k.startswith("HTTP_")}
    data.update(method=environ["REQUEST_METHOD"], target=environ["RAW_URI"],
                version=environ["SERVER_PROTOCOL"],
                body=environ["wsgi.input"].read().decode("latin-1"))
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(data).encode()]


@pytest.fixture(scope="module", params=sorted(SERVERS))
def parse_server(request):
    with SERVERS[request.param](parse_echo_app) as server:
        yield server


def _send_in_chunks(sock, raw, seed):
    rnd = random.Random(seed)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    pos = 0
    try:
        while pos < len(raw):
            size = len(raw) if seed is None else rnd.randint(1, 17)
            sock.sendall(raw[pos:pos + size])
            pos += size
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server answered and closed early (e.g. 431 mid-head); read its answer


@pytest.mark.parametrize("seed", [None, 1], ids=["whole", "chunks"])
@pytest.mark.parametrize("name", CORPUS_CASES)
def test_corpus_over_socket(parse_server, name, seed):
    raw = (CORPUS / f"{name}.http").read_bytes()
    expect = json.loads((CORPUS / f"{name}.json").read_text(encoding="utf-8"))
    with connect(parse_server.port) as sock:
        _send_in_chunks(sock, raw, seed)
        reader = Reader(sock)
        for wanted in expect["requests"]:
            resp = reader.response()
            assert resp.status == 200, (expect["rule"], resp)
            got = json.loads(resp.body)
            for key in ("method", "target", "version", "body"):
                assert got[key] == wanted[key], (key, expect["rule"])
            names = [n.lower() for n, _ in wanted["headers"]]
            for name_, value in wanted["headers"]:
                lname = name_.lower()
                if lname in ("host", "content-length", "content-type") or names.count(lname) > 1:
                    continue
                assert got["HTTP_" + name_.upper().replace("-", "_")] == value
        if expect["error"] is not None:
            resp = reader.response()
            assert resp.status == expect["error"], (expect["rule"], resp)
            assert resp.header("connection") == "close"
            assert reader.at_eof(), "connection must close after an error"


# --- responses: framing, HEAD, write(), errors, file_wrapper -----------------------------

def routes_app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/chunked":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return (part for part in [b"one ", b"", b"two ", b"three"])
    if path == "/write":
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"written ")
        write(b"then ")
        return [b"returned"]
    if path == "/empty":
        start_response("204 No Content", [])
        return []
    if path == "/not-modified":
        start_response("304 Not Modified", [("ETag", '"x"')])
        return [b""]
    if path == "/error-before":
        raise RuntimeError("boom before the response started")
    if path == "/error-after":
        def gen():
            yield b"partial"
            raise RuntimeError("boom in the middle")
        start_response("200 OK", [("Content-Type", "text/plain")])
        return gen()
    if path == "/short":
        start_response("200 OK", [("Content-Length", "10")])
        return [b"12345"]
    if path == "/not-bytes":
        start_response("200 OK", [])
        return ["text is not bytes"]
    if path == "/file":
        f = open(environ["QUERY_STRING"], "rb")
        f.seek(3)
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return environ["wsgi.file_wrapper"](f, 4096)
    if path == "/readline":
        lines = list(environ["wsgi.input"])
        start_response("200 OK", [])
        return [b"%d lines, last %s" % (len(lines), lines[-1] if lines else b"")]
    if path == "/app-close":
        start_response("200 OK", [("Connection", "close"), ("Content-Length", "2")])
        return [b"ok"]
    return echo_app(environ, start_response)


@pytest.fixture(scope="module", params=sorted(SERVERS))
def routes_server(request):
    with SERVERS[request.param](routes_app) as server:
        yield server


def test_response_without_length_is_chunked_for_http11(routes_server):
    with connect(routes_server.port) as sock:
        sock.sendall(b"GET /chunked HTTP/1.1\r\nHost: h\r\n\r\n")
        reader = Reader(sock)
        resp = reader.response()
        assert resp.header("transfer-encoding") == "chunked"
        assert resp.body == b"one two three"
        sock.sendall(b"GET /chunked HTTP/1.1\r\nHost: h\r\n\r\n")  # still alive
        assert reader.response().body == b"one two three"


def test_response_without_length_closes_for_http10(routes_server):
    with connect(routes_server.port) as sock:
        sock.sendall(b"GET /chunked HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        reader = Reader(sock)
        resp = reader.response()
        assert resp.header("transfer-encoding") is None and resp.header("content-length") is None
        assert resp.header("connection") == "close"
        assert resp.body == b"one two three"  # read until the server closed


def test_write_callable_and_returned_body_are_both_sent(routes_server):
    resp = request(routes_server.port, b"GET /write HTTP/1.1\r\nHost: h\r\n\r\n")
    assert resp.body == b"written then returned"


def test_head_never_sends_a_body(routes_server):
    with connect(routes_server.port) as sock:
        reader = Reader(sock)
        for path in (b"/", b"/chunked", b"/write"):
            sock.sendall(b"HEAD " + path + b" HTTP/1.1\r\nHost: h\r\n\r\n")
            resp = reader.response(head_request=True)
            assert resp.status == 200 and resp.header("transfer-encoding") is None
        # had a body been sent, this response would start with it
        sock.sendall(b"GET /write HTTP/1.1\r\nHost: h\r\n\r\n")
        assert reader.response().body == b"written then returned"
    # a HEAD for a known-length body announces that length
    resp = request(routes_server.port, b"HEAD / HTTP/1.1\r\nHost: h\r\n\r\n", head_request=True)
    assert int(resp.header("content-length")) > 0


def test_204_and_304_have_no_body_and_keep_alive(routes_server):
    with connect(routes_server.port) as sock:
        reader = Reader(sock)
        for path in (b"/empty", b"/not-modified", b"/empty"):
            sock.sendall(b"GET " + path + b" HTTP/1.1\r\nHost: h\r\n\r\n")
            resp = reader.response()
            assert resp.status in (204, 304)
            assert resp.header("content-length") is None and resp.header("transfer-encoding") is None


def test_app_error_before_start_gives_500_and_close(routes_server):
    with connect(routes_server.port) as sock:
        sock.sendall(b"GET /error-before HTTP/1.1\r\nHost: h\r\n\r\n")
        reader = Reader(sock)
        resp = reader.response()
        assert resp.status == 500 and resp.header("connection") == "close"
        assert b"boom" not in resp.body  # no traceback leaks to the client
        assert reader.at_eof()


@pytest.mark.parametrize("path", [b"/error-after", b"/short"])
def test_broken_response_body_drops_the_connection(routes_server, path):
    with connect(routes_server.port) as sock:
        sock.sendall(b"GET " + path + b" HTTP/1.1\r\nHost: h\r\n\r\n")
        reader = Reader(sock)
        with pytest.raises(EOFError):
            reader.response()  # truncated: the client sees the connection end mid-body


def test_non_bytes_body_is_a_500(routes_server):
    resp = request(routes_server.port, b"GET /not-bytes HTTP/1.1\r\nHost: h\r\n\r\n")
    assert resp.status == 500


def test_app_connection_close_header_closes(routes_server):
    with connect(routes_server.port) as sock:
        sock.sendall(b"GET /app-close HTTP/1.1\r\nHost: h\r\n\r\n")
        reader = Reader(sock)
        resp = reader.response()
        assert resp.body == b"ok" and resp.header("connection") == "close"
        assert reader.at_eof()


def test_file_wrapper_sends_the_rest_of_the_file(routes_server, tmp_path):
    data = bytes(range(256)) * 1000
    target = tmp_path / "blob.bin"
    target.write_bytes(data)
    with connect(routes_server.port) as sock:
        reader = Reader(sock)
        for method in (b"GET", b"HEAD"):
            sock.sendall(method + b" /file?" + str(target).encode() + b" HTTP/1.1\r\nHost: h\r\n\r\n")
            resp = reader.response(head_request=method == b"HEAD")
            assert resp.header("content-length") == str(len(data) - 3)
            if method == b"GET":
                assert resp.body == data[3:]
        sock.sendall(b"GET /write HTTP/1.1\r\nHost: h\r\n\r\n")
        assert reader.response().body == b"written then returned"


def test_wsgi_input_iterates_lines_of_a_chunked_body(routes_server):
    resp = request(routes_server.port,
                   b"POST /readline HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                   b"4\r\na\nb\n\r\n3\r\nc\nd\r\n0\r\n\r\n")
    assert resp.body == b"4 lines, last d"


def test_expect_100_continue_gets_interim_response_before_body(routes_server):
    with connect(routes_server.port) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
        reader = Reader(sock)
        interim = reader.response(skip_interim=False)
        assert interim.status == 100
        sock.sendall(b"hello")
        resp = reader.response()
        assert resp.status == 200 and json.loads(resp.body)["body"] == "hello"


def test_expect_100_continue_refused_body_gets_413_without_100(routes_server):
    with connect(routes_server.port) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n"
                     b"Content-Length: 999999999999\r\n\r\n")
        resp = Reader(sock).response(skip_interim=False)
        assert resp.status == 413


@pytest.mark.parametrize("kind", sorted(SERVERS))
def test_should_close_finishes_the_request_then_closes(kind):
    holder = []

    def app(environ, start_response):
        holder[0].tracker.closing = True  # e.g. max-requests reached during this request
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]

    with SERVERS[kind](app) as server:
        holder.append(server)
        with connect(server.port) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: h\r\n\r\nGET /never HTTP/1.1\r\nHost: h\r\n\r\n")
            reader = Reader(sock)
            resp = reader.response()
            assert resp.status == 200 and resp.header("connection") == "close"
            assert reader.at_eof()  # the pipelined second request is not served


def test_date_header_is_present(routes_server):
    resp = request(routes_server.port, b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
    assert resp.header("date", "").endswith(" GMT")


# --- mount prefix and proxy headers --------------------------------------------------------

def test_script_name_mount_prefix():
    with SERVERS["loop"](echo_app, script_name="/app/") as server:
        env = json.loads(request(server.port, b"GET /app/x/y HTTP/1.1\r\nHost: h\r\n\r\n").body)
        assert env["SCRIPT_NAME"] == "/app" and env["PATH_INFO"] == "/x/y"
        env = json.loads(request(server.port, b"GET /app HTTP/1.1\r\nHost: h\r\n\r\n").body)
        assert env["SCRIPT_NAME"] == "/app" and env["PATH_INFO"] == ""
        assert request(server.port, b"GET /application HTTP/1.1\r\nHost: h\r\n\r\n").status == 404
        assert request(server.port, b"GET /other HTTP/1.1\r\nHost: h\r\n\r\n").status == 404


PROXIED = (b"GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 203.0.113.9, 198.51.100.2\r\n"
           b"X-Forwarded-Proto: https\r\n\r\n")


def test_forwarded_headers_trusted_from_loopback_by_default(echo_server):
    env = json.loads(request(echo_server.port, PROXIED).body)
    assert env["REMOTE_ADDR"] == "198.51.100.2"  # the address the trusted proxy saw
    assert env["wsgi.url_scheme"] == "https"
    env = json.loads(request(echo_server.port,
                             b"GET / HTTP/1.1\r\nHost: h\r\n"
                             b"Forwarded: for=192.0.2.60;proto=https, for=\"[2001:db8::1]:4711\"\r\n\r\n").body)
    assert env["REMOTE_ADDR"] == "2001:db8::1" and env["wsgi.url_scheme"] == "https"


def test_forwarded_headers_ignored_from_untrusted_peer():
    with SERVERS["loop"](echo_app, forwarded_allow_ips=("192.0.2.1",)) as server:
        env = json.loads(request(server.port, PROXIED).body)
        assert env["REMOTE_ADDR"] == "127.0.0.1" and env["wsgi.url_scheme"] == "http"


def test_header_with_underscore_cannot_spoof_a_dashed_one(echo_server):
    env = json.loads(request(echo_server.port,
                             b"GET / HTTP/1.1\r\nHost: h\r\nX_Custom: spoofed\r\n\r\n").body)
    assert env["HTTP_X_CUSTOM"] is None


def digest_app(environ, start_response):
    import hashlib
    data = environ["wsgi.input"].read()
    body = b"%d %s" % (len(data), hashlib.sha256(data).hexdigest().encode())
    start_response("200 OK", [("Content-Length", str(len(body)))])
    return [body]


@pytest.mark.parametrize("kind", sorted(SERVERS))
def test_large_bodies_spill_to_disk_and_arrive_whole(kind):
    import hashlib
    data = bytes(range(256)) * (3 * 4096)  # 3 MiB
    expect = b"%d %s" % (len(data), hashlib.sha256(data).hexdigest().encode())
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(data[i:i + 70000]), data[i:i + 70000])
                       for i in range(0, len(data), 70000)) + b"0\r\n\r\n"
    with SERVERS[kind](digest_app) as server, connect(server.port) as sock:
        reader = Reader(sock)
        sock.sendall(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n" % len(data) + data)
        assert reader.response().body == expect
        sock.sendall(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked)
        assert reader.response().body == expect


def greedy_reader_app(environ, start_response):
    """Asks wsgi.input for far more than the body holds, in every way PEP 3333 allows."""
    stream = environ["wsgi.input"]
    first = stream.read(1 << 20)
    rest = stream.readline(1 << 20) + stream.read()
    body = b"%s|%s" % (first, rest)
    start_response("200 OK", [("Content-Length", str(len(body)))])
    return [body]


@pytest.mark.parametrize("kind", sorted(SERVERS))
def test_wsgi_input_never_reads_past_the_body(kind):
    with SERVERS[kind](greedy_reader_app) as server, connect(server.port) as sock:
        sock.sendall(b"POST /1 HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"
                     b"POST /2 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nbye")
        reader = Reader(sock)
        assert reader.response().body == b"hello|"
        assert reader.response().body == b"bye|"  # the next request was left intact
