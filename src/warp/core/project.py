"""An application folder, the environment it is opened with, and warp's state inside it.

``open_project`` is the one way every verb opens an app (build, start, image,
exec, env, shell, config, detect, health): it applies the app's environment
files (``.s2i/environment``, ``.warpdrive/environment``) once, to the
environment it is given, and reads the settings from the result, so a
``WARP_SERVER`` or ``PORT`` in those files means the same to every verb.

Everything warp keeps for an app lives under ``<app>/.warp/``: the virtual
environment (by default), the build record, the stats socket. Nothing here
creates anything; ``warp.build.venv`` and ``warp.build.pipeline`` do.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Optional
import os
import sys

from warp.core.environment import with_environment_files
from warp.core.errors import ConfigError, UsageError
from warp.core.config import Config, load_config

STATE_DIR = ".warp"
BUILD_RECORD = "build.json"


@dataclass(frozen=True)
class Project:
    root: Path
    config: Config
    # The environment the project was opened with, its environment files applied.
    environ: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)
    # s2i's APP_HOME: the subfolder holding the app's code (entry point, manage.py); None for the root.
    home: Optional[Path] = None

    @property
    def app_dir(self) -> Path:
        """Where the app's code is and where it starts: APP_HOME's folder, else the root.

        Dependency files, hooks and .warp/ stay at the root, as s2i installs from
        the root and runs from APP_HOME."""
        return self.home or self.root

    @property
    def state_dir(self) -> Path:
        return self.root / STATE_DIR

    @property
    def venv(self) -> Path:
        path = Path(self.config.venv)
        return path if path.is_absolute() else self.root / path

    @property
    def venv_bin(self) -> Path:
        return self.venv / ("Scripts" if sys.platform == "win32" else "bin")

    @property
    def python(self) -> Path:
        return self.venv_bin / "python"

    @property
    def build_record(self) -> Path:
        return self.state_dir / BUILD_RECORD

    @property
    def run_dir(self) -> Path:
        return self.state_dir / "run"


def open_project(path: "str | os.PathLike[str]" = ".", environ: Optional[Mapping[str, str]] = None,
                 flags: Optional[dict] = None, detected: Optional[dict] = None) -> Project:
    """The project in ``path``: ``environ`` (default: this process's) with the
    app's environment files applied, and the settings read from that.

    Raises UsageError when the folder does not exist, so every verb reports a
    missing folder the same way, and ConfigError (file:line) for a bad
    environment file.
    """
    root = Path(path).resolve()
    if not root.is_dir():
        raise UsageError(f"{path}: no such folder", "run warp inside the application's folder or pass --app DIR")
    base = os.environ if environ is None else environ
    env = with_environment_files(root, base)
    config = load_config(root, environ=env, flags=flags, detected=detected)
    return Project(root=root, config=config, environ=env, home=_app_home(root, env, base))


def _app_home(root: Path, env: Mapping[str, str], base: Mapping[str, str]) -> Optional[Path]:
    """The folder s2i's APP_HOME names, inside ``root``; None when unset or the root itself."""
    value = env.get("APP_HOME", "").strip()
    if not value:
        return None
    where = "the environment" if base.get("APP_HOME") == env.get("APP_HOME") else "an environment file"
    folder = Path(value) if Path(value).is_absolute() else root / value
    folder = folder.resolve()
    if folder != root and root not in folder.parents:
        raise ConfigError(f"APP_HOME={value} (from {where}) is outside the app folder {root}",
                          "write APP_HOME relative to the app folder, e.g. APP_HOME=project")
    if not folder.is_dir():
        raise ConfigError(f"APP_HOME={value} (from {where}): no such folder in {root}",
                          "point APP_HOME at the subfolder holding wsgi.py or manage.py")
    return None if folder == root else folder
