"""Test app for the hostile-client tests: big, streamed and stuck responses, uploads.

Routes: /                 "ok pid <pid>"
        /sleep?s=N        answers after N seconds
        /big?mb=N         N MiB of response body (one bytes object per MiB)
        /file?path=P      the file P through wsgi.file_wrapper
        /upload           reads wsgi.input 64 KiB at a time; answers the byte count and
                          how many seconds after the call the first byte came
        /first            reads only the first 64 KiB of the body, answers at once
        /no-read          answers without reading the body
        /env              the body-related environ keys, as JSON
        /mark?path=P      creates file P (shows whether the app was called), then "ok"
        /crash            the worker dies on the spot with SIGSEGV
"""

import json
import os
import signal
import threading
import time


def application(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    query = dict(p.partition("=")[::2] for p in environ.get("QUERY_STRING", "").split("&") if p)
    stream = environ["wsgi.input"]
    if path == "/sleep":
        time.sleep(float(query.get("s", "1")))
    elif path == "/big":
        mib = int(query.get("mb", "1"))
        start_response("200 OK", [("Content-Length", str(mib << 20))])
        return (b"x" * (1 << 20) for _ in range(mib))  # 1 MiB at a time, as it is made
    elif path == "/file":
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return environ["wsgi.file_wrapper"](open(query["path"], "rb"), 65536)
    elif path == "/upload":
        called = time.monotonic()
        total, first = 0, None
        while True:
            data = stream.read(65536)
            if not data:
                break
            if first is None:
                first = time.monotonic() - called
            total += len(data)
        body = json.dumps({"bytes": total, "first": first}).encode()
        start_response("200 OK", [("Content-Length", str(len(body)))])
        return [body]
    elif path == "/first":
        data = stream.read(65536)
        body = f"first {len(data)}".encode()
        start_response("200 OK", [("Content-Length", str(len(body)))])
        return [body]
    elif path == "/env":
        keys = ("CONTENT_LENGTH", "HTTP_TRANSFER_ENCODING", "wsgi.input_terminated")
        data = {k: environ.get(k) for k in keys}
        data["body"] = stream.read().decode("latin-1")
        body = json.dumps(data).encode()
        start_response("200 OK", [("Content-Length", str(len(body)))])
        return [body]
    elif path == "/mark":
        open(query["path"], "w").close()
    elif path == "/crash":
        signal.pthread_kill(threading.get_ident(), signal.SIGSEGV)
    body = f"ok pid {os.getpid()}".encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
