"""Static files served by the worker, over real sockets."""

from __future__ import annotations

import gzip
import os

import pytest

from support import copy_apps, wait_for
from support.harness import SERVERS, Reader, connect, request
from support.server import Server

CSS = b"body { color: red; }\n" * 200


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "3")])
    return [b"app"]


@pytest.fixture(scope="module")
def static_root(tmp_path_factory):
    base = tmp_path_factory.mktemp("static")
    root = base / "static"
    (root / "css").mkdir(parents=True)
    (root / "css" / "site.css").write_bytes(CSS)
    (root / "css" / "site.css.gz").write_bytes(gzip.compress(CSS))
    (root / "css" / "site.css.br").write_bytes(b"pretend-brotli")
    (root / "app.js").write_bytes(b"console.log(1)\n")
    (root / "logo.png").write_bytes(b"\x89PNG" + bytes(range(256)) * 40)
    (root / "caf\u00e9 menu.txt").write_bytes(b"menu\n")
    (root / "sub").mkdir()
    (base / "secret.txt").write_bytes(b"top secret\n")
    os.symlink(base / "secret.txt", root / "escape.txt")
    return root


@pytest.fixture(scope="module", params=sorted(SERVERS))
def server(request, static_root):
    with SERVERS[request.param](app, static=(f"/static/={static_root}",)) as srv:
        yield srv


def get(server, path, *headers, method=b"GET"):
    raw = method + b" " + path + b" HTTP/1.1\r\nHost: h\r\n" + b"".join(h + b"\r\n" for h in headers) + b"\r\n"
    return request(server.port, raw, head_request=method == b"HEAD")


def test_file_is_served_with_type_length_and_validators(server):
    resp = get(server, b"/static/css/site.css")
    assert resp.status == 200 and resp.body == CSS
    assert resp.header("content-type") == "text/css; charset=utf-8"
    assert resp.header("content-length") == str(len(CSS))
    assert resp.header("etag").startswith('"') and resp.header("last-modified").endswith("GMT")
    assert resp.header("vary") == "Accept-Encoding" and resp.header("content-encoding") is None
    assert get(server, b"/static/app.js").header("content-type") == "text/javascript; charset=utf-8"
    assert get(server, b"/static/logo.png").header("content-type") == "image/png"
    assert get(server, b"/static/caf%C3%A9%20menu.txt").body == b"menu\n"


def test_outside_the_prefix_goes_to_the_app(server):
    assert get(server, b"/other").body == b"app"
    assert get(server, b"/static").body == b"app"


def test_conditional_requests_get_304(server):
    first = get(server, b"/static/app.js")
    etag, modified = first.header("etag"), first.header("last-modified")
    resp = get(server, b"/static/app.js", b"If-None-Match: " + etag.encode())
    assert resp.status == 304 and resp.body == b"" and resp.header("etag") == etag
    assert get(server, b"/static/app.js", b'If-None-Match: "other", W/' + etag.encode()).status == 304
    assert get(server, b"/static/app.js", b"If-Modified-Since: " + modified.encode()).status == 304
    assert get(server, b"/static/app.js", b'If-None-Match: "other"').status == 200
    assert get(server, b"/static/app.js", b"If-Modified-Since: Thu, 01 Jan 1998 00:00:00 GMT").status == 200


def test_range_requests(server):
    data = b"\x89PNG" + bytes(range(256)) * 40
    resp = get(server, b"/static/logo.png", b"Range: bytes=10-19")
    assert resp.status == 206 and resp.body == data[10:20]
    assert resp.header("content-range") == f"bytes 10-19/{len(data)}"
    assert get(server, b"/static/logo.png", b"Range: bytes=-5").body == data[-5:]
    assert get(server, b"/static/logo.png", b"Range: bytes=10000-").body == data[10000:]
    resp = get(server, b"/static/logo.png", b"Range: bytes=999999-")
    assert resp.status == 416 and resp.header("content-range") == f"bytes */{len(data)}"
    # several ranges or nonsense: the whole file
    assert get(server, b"/static/logo.png", b"Range: bytes=0-1,5-6").status == 200
    assert get(server, b"/static/logo.png", b"Range: pages=1").status == 200
    # If-Range with a stale validator: the whole file
    resp = get(server, b"/static/logo.png", b"Range: bytes=0-3", b'If-Range: "stale"')
    assert resp.status == 200 and resp.body == data
    etag = get(server, b"/static/logo.png").header("etag")
    assert get(server, b"/static/logo.png", b"Range: bytes=0-3", b"If-Range: " + etag.encode()).status == 206


def test_precompressed_siblings_follow_accept_encoding(server):
    resp = get(server, b"/static/css/site.css", b"Accept-Encoding: gzip, deflate")
    assert resp.header("content-encoding") == "gzip" and gzip.decompress(resp.body) == CSS
    assert resp.header("content-type") == "text/css; charset=utf-8"
    resp = get(server, b"/static/css/site.css", b"Accept-Encoding: gzip, br")
    assert resp.header("content-encoding") == "br" and resp.body == b"pretend-brotli"
    resp = get(server, b"/static/css/site.css", b"Accept-Encoding: br;q=0, gzip;q=0.5")
    assert resp.header("content-encoding") == "gzip"
    plain = get(server, b"/static/css/site.css", b"Accept-Encoding: identity")
    assert plain.header("content-encoding") is None and plain.body == CSS
    assert resp.header("etag") != plain.header("etag")  # different representations


@pytest.mark.parametrize("path", [
    b"/static/../secret.txt", b"/static/%2e%2e/secret.txt", b"/static/css/..%2f..%2fsecret.txt",
    b"/static/escape.txt", b"/static/css%5c..%5c..%5csecret.txt", b"/static/%00", b"/static/sub",
    b"/static/sub/", b"/static/missing.txt", b"/static//etc/passwd", b"/static/./app.js",
])
def test_path_traversal_and_non_files_are_404(server, path):
    resp = get(server, path)
    assert resp.status in (400, 404), resp
    assert b"secret" not in resp.body


def test_head_and_other_methods(server):
    resp = get(server, b"/static/app.js", method=b"HEAD")
    assert resp.status == 200 and resp.header("content-length") == "15"
    resp = get(server, b"/static/app.js", method=b"POST")
    assert resp.status == 405 and resp.header("allow") == "GET, HEAD"


def test_keep_alive_across_static_and_app_requests(server):
    with connect(server.port) as sock:
        reader = Reader(sock)
        for path in (b"/static/app.js", b"/x", b"/static/missing", b"/static/css/site.css", b"/y"):
            sock.sendall(b"GET " + path + b" HTTP/1.1\r\nHost: h\r\n\r\n")
            assert reader.response().status in (200, 404)
    started = [p for _, p in server.tracker.started]
    assert "/static/app.js" in started  # static requests are reported to the tracker too


def test_real_server_serves_the_static_map_from_its_flag(tmp_path, static_root):
    app_dir = copy_apps(tmp_path / "app")
    with Server(app_dir, "hello:application", "--workers", "1", "--static",
                f"/assets/={static_root}") as server:
        server.wait_serving(workers=1)
        resp = request(server.port, b"GET /assets/app.js HTTP/1.1\r\nHost: h\r\n\r\n")
        assert resp.status == 200 and resp.body == b"console.log(1)\n"
        assert request(server.port, b"GET / HTTP/1.1\r\nHost: h\r\n\r\n").body.startswith(b"hello v1")
        assert '"GET /assets/app.js HTTP/1.1" 200' in wait_for_access(server, "/assets/app.js")


def wait_for_access(server, path):
    return wait_for(lambda: path in server.access_log() and server.access_log(), what="access log line")
