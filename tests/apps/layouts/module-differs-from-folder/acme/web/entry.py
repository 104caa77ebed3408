def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"acme.web.entry in folder module-differs-from-folder"]
