"""Test app for the server process tests: who answered, with which code version.

Routes: /            "hello v<VERSION> pid <pid>"
        /sleep?s=N   sleeps N seconds first (a slow request)
        /wait?for=P  a slow request the test ends: waits until file P exists (60 s at most)
        /grow?mb=N   keeps N MiB more allocated in this worker (memory ceiling tests)
        /exit        the worker process dies on the spot (os._exit)
        /wedge       a background thread holds the GIL for minutes: the worker is
                     idle but wedged (its accept loop cannot run)
        /hog         holds the GIL from its first moment until the worker is killed
                     (the request itself runs a regex that backtracks for ever)
        /orphan      leaves a grandchild process that outlives its parent (it gets
                     reparented to PID 1, which must reap it)
"""

import os
import re
import threading
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
    elif path == "/wait":
        deadline = time.monotonic() + 60
        while not os.path.exists(query["for"]) and time.monotonic() < deadline:
            time.sleep(0.05)
    elif path == "/grow":
        _hoard.append(bytearray(int(query.get("mb", "1")) * 1024 * 1024))
    elif path == "/exit":
        os._exit(17)
    elif path == "/wedge":
        # Catastrophic backtracking runs inside the regex engine without releasing
        # the GIL; start it a moment later so this response still goes out.
        threading.Timer(0.3, lambda: re.match(r"(a+)+$", "a" * 64 + "b")).start()
    elif path == "/hog":
        re.match(r"(a+)+$", "a" * 64 + "b")
    elif path == "/orphan":
        child = os.fork()
        if child == 0:
            if os.fork() == 0:
                time.sleep(0.5)
                os._exit(0)
            os._exit(0)
        os.waitpid(child, 0)
    body = f"hello v{VERSION} pid {os.getpid()}\n".encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
