"""Code that runs inside the application's own interpreter.

Standard library only (plus ``warp.core.settings``, itself standard library
only): the app's virtualenv has none of warp's dependencies and must not. A
test walks these modules' imports and fails on anything else.
"""
