"""Which hook files the app has.

A hook is an executable run at a fixed point: ``pre-build`` (before the
dependencies are installed), ``build`` (after), ``deploy`` (before each
start), ``alive`` and ``ready`` (health checks, run by the launcher).

The app's hooks are looked up in this order, first found wins, and
``warp detect`` names the file used:

1. ``.warp/hooks/<name>``
2. ``.warpdrive/action_hooks/<name>`` (warpdrive's layout, same names)
3. Heroku's ``bin/pre_compile`` (as pre-build) and ``bin/post_compile`` (as build)

Running them is ``warp.build.hooks``'s job.
"""

from pathlib import Path
from typing import Any, Dict

HOOK_NAMES = ("pre-build", "build", "deploy", "alive", "ready")

_HEROKU = {"pre-build": "bin/pre_compile", "build": "bin/post_compile"}


def find_hooks(project: Any) -> Dict[str, Path]:
    """{hook name: Path} of the application's own hooks."""
    found = {}
    for name in HOOK_NAMES:
        candidates = [
            project.root / ".warp" / "hooks" / name,
            project.root / ".warpdrive" / "action_hooks" / name,
        ]
        if name in _HEROKU:
            candidates.append(project.root / _HEROKU[name])
        for path in candidates:
            if path.is_file():
                found[name] = path
                break
    return found
