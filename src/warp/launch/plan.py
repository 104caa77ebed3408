"""What every server module receives (Launch) and returns (Command), and the Plan they make.

``Launch`` is warp's settings after resolution: one value per setting, the same
for every server, with paths made absolute. Each ``launch/<server>.py`` turns it
into a ``Command`` in that server's native flags; ``warp.launch.plan_start``
wraps that into a ``Plan`` (the complete argv and environment, the files to
write first, the startup facts) which ``--print`` shows and ``run`` execs.
"""

from dataclasses import dataclass, field
from pathlib import Path

from warp.core.errors import StartError


@dataclass(frozen=True)
class Launch:
    root: Path  # the app folder, the server's working directory
    python: Path  # the app venv's interpreter
    venv_bin: Path
    entry: object  # warp.app.entrypoint.EntryPoint
    app_target: str  # what the server loads: the entry point, or warp.runtime.shim wrapping it
    host: str
    port: int
    workers: int
    threads: int
    timeout: int
    graceful_timeout: int
    max_requests: int
    max_requests_jitter: int
    static: tuple  # ((url prefix ending in "/", absolute folder), ...)
    trusted_proxies: tuple
    server_args: tuple  # extra native flags, appended as they are
    log_level: str
    access_log_format: str
    pythonpath: Path  # folder holding only a `warp` symlink (see pythonpath.py)
    run_dir: Path  # writable folder for generated files (server root, ...)
    explicit: frozenset = frozenset()  # settings the user set (not defaults)

    @property
    def bind(self):
        """host:port, with brackets around an IPv6 host."""
        host = f"[{self.host}]" if ":" in self.host and not self.host.startswith("[") else self.host
        return f"{host}:{self.port}"

    def tool(self, name):
        """Path of a console script installed in the app's venv."""
        return self.venv_bin / name

    def require_tool(self, name, hint=None):
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
    server: str  # None for a command run as given
    argv: tuple
    env: dict  # the complete environment to exec with
    changed: dict  # the variables warp set or changed (what --print shows)
    cwd: Path
    files: dict
    facts: tuple  # ((label, value), ...) printed one per line at startup
    entry: object
    process_type: str = "web"

    def to_dict(self):
        return {
            "server": self.server,
            "process_type": self.process_type,
            "argv": list(self.argv),
            "env": dict(self.changed),
            "cwd": str(self.cwd),
            "files": sorted(str(path) for path in self.files),
            "facts": [{"label": label, "value": value} for label, value in self.facts],
            "entrypoint": self.entry.to_dict() if self.entry is not None else None,
        }
