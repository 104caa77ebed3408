"""hello-site."""
__version__ = "0.1"


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"src layout pyproject hello_site"]
