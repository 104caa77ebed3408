"""Test app whose import never finishes in time (a hung connection at import, say)."""

import time


def waiting_for_the_database():
    time.sleep(600)


waiting_for_the_database()


def application(environ, start_response):  # never reached
    start_response("200 OK", [])
    return [b""]
