"""What warp's tests share: run warp, make an app, find a free port, start and stop
a server, wait for something. Imported as ``support`` (pyproject puts tests/ on the
path); every test module takes these from here rather than keeping a copy.

    support.paths     REPO, SRC, APPS: where the code under test and the test apps are
    support.cli       warp(...) runs the CLI as a user would; warp_env(...) its environment
    support.apps      write(root, files) makes an app; copy_apps(dest) copies tests/apps
    support.net       free_port, fetch, wait_for, connect_refused
    support.server    Server: the bundled server as a subprocess
    support.harness   the server's protocol code on a socket in this process, raw HTTP reader
    support.start     `warp start` in the background, shared app environments per server
    support.lockfiles real wheels and lock files for the buildpack tests
"""

from support.apps import copy_apps, write
from support.cli import error_lines, one_error_line, warp, warp_command, warp_env
from support.net import connect_refused, fetch, free_port, wait_for
from support.paths import APPS, REPO, SRC

__all__ = [
    "APPS", "REPO", "SRC", "connect_refused", "copy_apps", "error_lines", "fetch", "free_port", "wait_for",
    "one_error_line", "warp", "warp_command", "warp_env", "write",
]
