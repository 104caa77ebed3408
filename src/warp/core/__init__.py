"""What every layer shares: errors, the settings registry, the project folder and its state.

The registry (``warp.core.settings``) is standard library only, because the
bundled server and the in-app shim import it inside the application's
interpreter.
"""
