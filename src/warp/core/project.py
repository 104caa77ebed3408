"""An application folder and warp's state inside it.

Everything warp keeps for an app lives under ``<app>/.warp/``: the virtual
environment (by default), the build record, the stats socket. Nothing here
creates anything; ``warp.build.venv`` and ``warp.build.pipeline`` do.
"""

from dataclasses import dataclass
from pathlib import Path
import os
import sys

from warp.core.errors import UsageError
from warp.core.settings import load_config

STATE_DIR = ".warp"
BUILD_RECORD = "build.json"


@dataclass(frozen=True)
class Project:
    root: Path
    config: object  # warp.core.settings.Config

    @property
    def state_dir(self):
        return self.root / STATE_DIR

    @property
    def venv(self):
        path = Path(self.config.venv)
        return path if path.is_absolute() else self.root / path

    @property
    def venv_bin(self):
        return self.venv / ("Scripts" if sys.platform == "win32" else "bin")

    @property
    def python(self):
        return self.venv_bin / "python"

    @property
    def build_record(self):
        return self.state_dir / BUILD_RECORD

    @property
    def run_dir(self):
        return self.state_dir / "run"


def open_project(path=".", environ=None, flags=None, detected=None):
    """The project in ``path`` with its effective configuration.

    Raises UsageError when the folder does not exist, so every verb reports a
    missing folder the same way.
    """
    root = Path(path).resolve()
    if not root.is_dir():
        raise UsageError(f"{path}: no such folder", "run warp inside the application's folder or pass --app DIR")
    config = load_config(root, environ=environ, flags=flags, detected=detected)
    return Project(root=root, config=config)


def venv_environ(project, base=None):
    """Environment variables that put the app's virtualenv first, as an activate script would."""
    env = dict(os.environ if base is None else base)
    env["VIRTUAL_ENV"] = str(project.venv)
    env["PATH"] = str(project.venv_bin) + os.pathsep + env.get("PATH", "")
    env.pop("PYTHONHOME", None)
    return env
