"""Test app whose workers die half a second after they start: a crash loop."""

import os
import signal
import threading

threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGKILL)).start()


def application(environ, start_response):
    start_response("200 OK", [("Content-Length", "2")])
    return [b"ok"]
