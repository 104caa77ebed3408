"""What the application is: detection facts, its package manager, its entry point, its Python.

Reads the app folder; installs and starts nothing.
"""
