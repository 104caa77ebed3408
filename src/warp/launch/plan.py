"""What every server module receives (Launch) and returns (Command), and the Plan they make.

``Launch`` is warp's settings after resolution: one value per setting, the same
for every server, with paths made absolute. Each ``launch/<server>.py`` turns it
into a ``Command`` in that server's native flags; ``warp.launch.plan_start``
wraps that into a ``Plan`` (the complete argv and environment, the files to
write first, the startup facts) which ``--print`` shows and ``run`` execs.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, FrozenSet, List, Mapping, Optional
import math

from warp.core.errors import StartError
from warp.core.settings import SETTINGS, Setting


def launch_settings() -> List[Setting]:
    """The settings a server module reads: every setting of ``warp start``."""
    return [s for s in SETTINGS if "start" in s.commands]


def whole_seconds(value: Any) -> str:
    """A timeout for servers whose flags take whole seconds; rounded up so 0.5 s is not 0 (never)."""
    return str(math.ceil(value))


@dataclass(frozen=True)
class Launch:
    """Paths warp found, plus ``settings``: the value of every ``warp start`` setting
    (from the registry), read as attributes (``launch.timeout``). ``workers`` is the
    count computed when unset, ``static`` a tuple of (URL prefix, absolute folder),
    ``server_args`` joined with ``.warpdrive/server_args``."""

    root: Path  # the app folder, the server's working directory
    python: Path  # the app venv's interpreter
    venv_bin: Path
    entry: Any  # warp.app.entrypoint.EntryPoint
    app_target: str  # what the server loads: the entry point, or warp.runtime.shim wrapping it
    pythonpath: Path  # folder holding only a `warp` symlink (see pythonpath.py)
    run_dir: Path  # writable folder for generated files (server root, ...)
    settings: Mapping[str, Any] = field(default_factory=dict)
    explicit: FrozenSet[str] = frozenset()  # settings the user set (not defaults)

    def __getattr__(self, name: str) -> Any:
        settings = self.__dict__.get("settings", {})
        if name in settings:
            return settings[name]
        raise AttributeError(name)

    @property
    def bind(self) -> str:
        """host:port, with brackets around an IPv6 host."""
        host = f"[{self.host}]" if ":" in self.host and not self.host.startswith("[") else self.host
        return f"{host}:{self.port}"

    def tool(self, name: str) -> Path:
        """Path of a console script installed in the app's venv."""
        return self.venv_bin / name

    def require_tool(self, name: str, hint: Optional[str] = None) -> Path:
        """``tool(name)``, or a StartError saying the build did not install the server."""
        path = self.tool(name)
        if not path.exists():
            raise StartError(
                f"{self.entry.server} is not installed in the application environment ({path} is missing)",
                hint or f"run `warp build` with server: {self.entry.server}",
            )
        return path


@dataclass(frozen=True)
class Command:
    argv: tuple
    env: dict = field(default_factory=dict)  # variables to set on top of the runtime environment
    files: dict = field(default_factory=dict)  # {Path: text} written before exec
    notes: tuple = ()  # facts worth a startup line (what a setting becomes for this server)


@dataclass(frozen=True)
class Plan:
    server: Optional[str]  # None for a command run as given
    argv: tuple
    env: dict  # the complete environment to exec with
    changed: dict  # the variables warp set or changed (what --print shows)
    cwd: Path
    files: dict
    facts: tuple  # ((label, value), ...) printed one per line at startup
    entry: Any  # warp.app.entrypoint.EntryPoint, or None for a Procfile command
    process_type: str = "web"
    # What the server was given: each start setting's value and where it came from.
    settings: Mapping[str, Any] = field(default_factory=dict)
    sources: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> Dict[str, Any]:
        return {
            "settings": dict(self.settings),
            "sources": dict(self.sources),
            "server": self.server,
            "process_type": self.process_type,
            "argv": list(self.argv),
            "env": dict(self.changed),
            "cwd": str(self.cwd),
            "files": sorted(str(path) for path in self.files),
            "facts": [{"label": label, "value": value} for label, value in self.facts],
            "entrypoint": self.entry.to_dict() if self.entry is not None else None,
        }
