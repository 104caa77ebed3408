"""Test app that records, per import, which process imported it (preload tests)."""

import os

VERSION = 1
with open(os.environ["IMPORT_LOG"], "a") as fh:
    fh.write(f"{os.getpid()}\n")


def application(environ, start_response):
    body = f"preloaded v{VERSION} pid {os.getpid()}\n".encode()
    start_response("200 OK", [("Content-Length", str(len(body)))])
    return [body]
