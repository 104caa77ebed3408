"""Test app that answers with the names of every module loaded in the worker."""

import json
import sys


def application(environ, start_response):
    body = json.dumps(sorted(sys.modules)).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
