"""Test app for the server process tests: who answered, with which code version.

Routes: /            "hello v<VERSION> pid <pid>"
        /sleep?s=N   sleeps N seconds first (a slow request)
        /grow?mb=N   keeps N MiB more allocated in this worker (memory ceiling tests)
        /exit        the worker process dies on the spot (os._exit)
"""

import os
import time

VERSION = 1
_hoard = []


def stuck_in_the_app(seconds):
    time.sleep(seconds)


def application(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    query = dict(p.partition("=")[::2] for p in environ.get("QUERY_STRING", "").split("&") if p)
    if path == "/sleep":
        stuck_in_the_app(float(query.get("s", "1")))
    elif path == "/grow":
        _hoard.append(bytearray(int(query.get("mb", "1")) * 1024 * 1024))
    elif path == "/exit":
        os._exit(17)
    body = f"hello v{VERSION} pid {os.getpid()}\n".encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
