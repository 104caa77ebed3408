"""Commands run as given: a Procfile process type, an app.sh / APP_SCRIPT, an app.py / APP_FILE.

``$PORT`` and other ``$VAR`` / ``${VAR}`` references are expanded from the
runtime environment. A line that needs a shell (pipes, ``&&``, redirections)
runs through ``/bin/sh -c``, as Heroku runs Procfile lines; a simple one is
exec'd directly so the process gets signals itself.
"""

from pathlib import Path
from typing import Mapping, Optional
import re
import shlex

from warp.core.errors import ConfigError
from warp.launch.plan import Command

_VAR = re.compile(r"\$(\w+)|\$\{(\w+)\}")


def expand(text: str, environ: Mapping[str, str]) -> str:
    return _VAR.sub(lambda m: environ.get(m.group(1) or m.group(2), ""), text)


def command(line: str, environ: Mapping[str, str], python: Optional[Path] = None, shell: bool = False) -> Command:
    if shell:
        return Command(argv=("/bin/sh", "-c", line))
    try:
        words = [expand(word, environ) for word in shlex.split(line)]
    except ValueError as exc:
        raise ConfigError(f"cannot parse command {line!r}: {exc}", "fix its quoting") from None
    if not words:
        raise ConfigError("empty command", "give the process type a command")
    if words[0] == "python" and python is not None:
        # "run with the app's Python", whatever python PATH would find first.
        words[0] = str(python)
    return Command(argv=tuple(words))
