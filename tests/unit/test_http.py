"""The sans-I/O request-head parser and body receivers (see also tests/corpus/)."""

from __future__ import annotations

import pytest

from warp.runtime.server.body import ChunkedReceiver, FixedReceiver
from warp.runtime.server.http import (BadRequest, ContentTooLarge, FieldsTooLarge, HeadReader, Limits,
                              URITooLong)


def parse(raw: bytes, **limits):
    return HeadReader(Limits(**limits)).parse(raw)


def test_complete_head_is_parsed_and_its_length_reported():
    raw = b"GET /x?y=1 HTTP/1.1\r\nHost: a\r\nX-A:  b c \r\n\r\nrest"
    req, used = parse(raw)
    assert raw[used:] == b"rest"
    assert (req.method, req.path, req.query, req.version) == ("GET", "/x", "y=1", "HTTP/1.1")
    assert req.headers == [("Host", "a"), ("X-A", "b c")]
    assert req.keep_alive and not req.has_body


def test_incomplete_head_needs_more():
    assert parse(b"GET / HTTP/1.1\r\nHost: a\r\n") is None


@pytest.mark.parametrize("raw, error", [
    (b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", BadRequest),
    (b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n", BadRequest),
    (b"GET / HTTP/1.1\n\n", BadRequest),
    (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n", URITooLong),
])
def test_invalid_heads_raise(raw, error):
    with pytest.raises(error):
        parse(raw)


def test_limits_give_431_and_413():
    with pytest.raises(FieldsTooLarge):
        parse(b"GET / HTTP/1.1\r\nHost: a\r\n" + b"X: y\r\n" * 5 + b"\r\n", max_fields=3)
    with pytest.raises(ContentTooLarge):
        parse(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n", max_body=10)


def test_fixed_receiver_stops_at_content_length():
    rx = FixedReceiver(5)
    assert rx.feed(b"hel") == 3 and not rx.done
    assert rx.feed(b"loEXTRA") == 2 and rx.done
    assert rx.body.finish().read() == b"hello"


def test_chunked_receiver_decodes_and_drops_trailers():
    rx = ChunkedReceiver(Limits())
    data = b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: x\r\n\r\nNEXT"
    assert rx.feed(data) == len(data) - 4 and rx.done
    assert rx.body.finish().read() == b"hello world"
