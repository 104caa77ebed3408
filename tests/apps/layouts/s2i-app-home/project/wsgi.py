from greeting import TEXT


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [TEXT.encode()]
