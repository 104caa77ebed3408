"""warp's bundled prefork WSGI server.

Standard library only: it runs inside the application's interpreter and virtual
environment, where warp's own dependencies must not appear. Start it with
``python -m warp.runtime.server module:callable``; see ``config.py`` for every setting.

Modules: ``arbiter`` (master process), ``worker`` (accept loop), ``scoreboard``
(shared worker state), ``sockets`` (binding), ``app`` (loading the application),
``stats`` (stats socket), ``log`` (server and access logs), ``config`` (settings);
the HTTP side is ``connection`` and the modules it uses.
"""
