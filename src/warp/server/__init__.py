"""warp's bundled prefork WSGI server.

Standard library only: it runs inside the application's own interpreter and virtualenv,
where warp's dependencies are absent.  Run it as ``python -m warp.server module:callable``.
"""
