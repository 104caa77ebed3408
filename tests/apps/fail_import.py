"""Test app that cannot be imported: the server must stop, not respawn forever."""

raise RuntimeError("the database settings are missing (test app fail_import)")


def application(environ, start_response):  # never reached
    start_response("200 OK", [])
    return [b""]
