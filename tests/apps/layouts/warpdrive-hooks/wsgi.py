from pathlib import Path


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [(Path(__file__).with_name("generated.txt")).read_bytes()]
