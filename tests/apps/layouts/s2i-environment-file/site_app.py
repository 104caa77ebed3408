import os


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [(os.environ["GREETING"] + " " + os.environ["LITERAL"]).encode()]
