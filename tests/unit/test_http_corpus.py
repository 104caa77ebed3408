"""Replay tests/corpus/ through the sans-I/O request reader: whole, byte by byte and in
random chunks must all give the same requests and the same error."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from warp.runtime.server.body import RequestReader
from warp.runtime.server.config import ServerConfig
from warp.runtime.server.http import HTTPError, Limits

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
CASES = sorted(p.stem for p in CORPUS.glob("*.http"))


def default_limits() -> Limits:
    config = ServerConfig()
    return Limits(config.limit_request_line, config.limit_request_fields,
                  config.limit_request_field_size, config.limit_request_body)


def replay(chunks):
    """Feed chunks to a reader; return (requests as dicts, error status or None)."""
    reader = RequestReader(default_limits())
    requests = []
    try:
        for chunk in chunks:
            reader.feed(chunk)
            while True:
                ready = reader.next()
                if ready is None:
                    break
                req, body = ready
                requests.append({
                    "method": req.method, "target": req.target, "version": req.version,
                    "headers": [list(h) for h in req.headers],
                    "body": body.finish().read().decode("latin-1") if body is not None else "",
                })
    except HTTPError as error:
        return requests, error.status
    assert not reader.buf and not reader.in_body, "bytes left over after the last request"
    return requests, None


def split_randomly(raw: bytes, seed: int):
    rnd = random.Random(seed)
    pos = 0
    while pos < len(raw):
        size = rnd.randint(1, 17)
        yield raw[pos:pos + size]
        pos += size


def test_corpus_is_present():
    assert len(CASES) > 60
    for name in CASES:
        assert (CORPUS / f"{name}.json").is_file(), name


@pytest.mark.parametrize("name", CASES)
def test_corpus_case(name):
    raw = (CORPUS / f"{name}.http").read_bytes()
    expect = json.loads((CORPUS / f"{name}.json").read_text(encoding="utf-8"))
    wanted = (expect["requests"], expect["error"])
    assert replay([raw]) == wanted, expect["rule"]
    assert replay([raw[i:i + 1] for i in range(len(raw))]) == wanted, "byte by byte"
    for seed in range(3):
        assert replay(split_randomly(raw, seed)) == wanted, f"random chunks, seed {seed}"
