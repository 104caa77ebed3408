#!/usr/bin/env python3
"""Micro-benchmark of the bundled server's request parser (the hot path of every request).

    python benchmarks/server_parser.py

Prints microseconds per parse for a minimal request (what wrk sends), a browser-like
request with a dozen headers, and a chunked POST (head + body decoding).
"""

from __future__ import annotations

import sys
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from warp.runtime.server.body import RequestReader  # noqa: E402
from warp.runtime.server.http import Limits  # noqa: E402

CASES = {
    "minimal GET": b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n",
    "browser GET (12 headers)": (
        b"GET /static/css/site.css?v=3 HTTP/1.1\r\nHost: www.example.com\r\n"
        b"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0\r\n"
        b"Accept: text/css,*/*;q=0.1\r\nAccept-Language: en-GB,en;q=0.5\r\n"
        b"Accept-Encoding: gzip, deflate, br\r\nReferer: https://www.example.com/\r\n"
        b"Connection: keep-alive\r\nCookie: sessionid=abcdef0123456789; csrftoken=0123456789abcdef\r\n"
        b"Sec-Fetch-Dest: style\r\nSec-Fetch-Mode: no-cors\r\nSec-Fetch-Site: same-origin\r\n"
        b"If-None-Match: \"1a2b3c-4d5e\"\r\n\r\n"),
    "chunked POST (3 chunks)": (
        b"POST /api HTTP/1.1\r\nHost: api.example.com\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
        b"10\r\n{\"a\": 1, \"b\": 2,\r\n10\r\n \"c\": [1, 2, 3],\r\n9\r\n \"d\": 4}\n\r\n0\r\n\r\n"),
}


def main() -> int:
    limits = Limits()
    print("| request | us per parse |")
    print("|---|---|")
    for name, raw in CASES.items():
        def parse(raw: bytes = raw) -> None:
            reader = RequestReader(limits)
            reader.feed(raw)
            assert reader.next() is not None
        number = 20000
        best = min(timeit.repeat(parse, number=number, repeat=5)) / number
        print(f"| {name} | {best * 1e6:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
