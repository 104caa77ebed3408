"""warp: from a Python web application's source folder to a running service.

This module must stay importable by the application's own interpreter with
nothing but the standard library: the bundled server (``warp.runtime.server``) runs
there, and importing it imports this file first.
"""

__version__ = "0.1.0"
