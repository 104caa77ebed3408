"""HTTP/1.1 and WSGI behaviour of warp's server, over real sockets with raw bytes."""

from __future__ import annotations

import json
import random
import socket
import time
from pathlib import Path

import pytest

from server_harness import SERVERS, Reader, connect, request


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
