"""Serves the page itself on $PORT with the standard library, as an app run by a script does."""
import os
from wsgiref.simple_server import make_server


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return ['warpdrive executable app.sh'.encode()]


if __name__ == "__main__":
    make_server("0.0.0.0", int(os.environ["PORT"]), application).serve_forever()
