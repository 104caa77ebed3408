"""Buildpacks: the folders under buildpacks/, each saying whether it applies and doing its part.

Each ``buildpacks/<name>/`` holds a ``buildpack.toml`` and the Cloud Native
Buildpacks executables ``bin/detect`` (exit 0: applies, 100: does not) and
``bin/build``, so a buildpack can be tried on its own from a shell. warp itself
runs the same logic in-process (the module named in ``[metadata] module``),
which keeps ``warp detect`` and a no-op ``warp build`` instant.

Planning: buildpacks are tried in their ``order``; the first package-manager
buildpack that detects installs the dependencies, then every framework
buildpack that detects (Django: collectstatic) runs after it. All analysis
happens in ``warp.app.detect`` before anything is installed.
"""

from dataclasses import dataclass
from pathlib import Path
import importlib
from typing import Optional

from warp.core.toml import load_toml
from warp.core.errors import BuildError
from warp.core.data import data_path

KIND_PACKAGE_MANAGER = "package-manager"
KIND_FRAMEWORK = "framework"


@dataclass
class BuildContext:
    """What a buildpack's build needs: where to install and how."""

    project: object  # warp.core.project.Project
    python: Path  # the app environment's interpreter to install into
    environ: dict  # environment for every command run (venv first on PATH)
    installer: str = "pip"  # "pip" or "uv"
    wheelhouse: Optional[Path] = None
    no_index: bool = False
    progress: object = None  # callable(line) for short progress lines
    detection: object = None  # warp.app.detect.Detection; detected again when None

    def say(self, line):
        if self.progress:
            self.progress(line)

    def get_detection(self):
        if self.detection is None:
            from warp.app.detect import detect

            self.detection = detect(self.project)
        return self.detection


@dataclass(frozen=True)
class Buildpack:
    name: str
    path: Path
    id: str
    kind: str
    order: int
    module: str
    description: str = ""
    reason: str = ""  # why it detected, set by plan()

    @property
    def impl(self):
        return importlib.import_module(self.module)

    def detect(self, project, detection):
        """Why this buildpack applies to the app, or None when it does not."""
        return self.impl.detect(project, detection)

    def inputs(self, project, detection):
        """Files whose content decides what this buildpack's build does."""
        return list(self.impl.inputs(project, detection))

    def build(self, ctx):
        """Do the work; returns a dict for the build record. Raises BuildError."""
        return self.impl.build(ctx)


def buildpacks_dir():
    return data_path("buildpacks")


def load_buildpack(folder):
    folder = Path(folder)
    data = load_toml(folder / "buildpack.toml", error=BuildError)
    meta = data.get("metadata", {})
    info = data.get("buildpack", {})
    return Buildpack(
        name=folder.name,
        path=folder,
        id=info.get("id", folder.name),
        kind=meta.get("kind", KIND_PACKAGE_MANAGER),
        order=int(meta.get("order", 100)),
        module=meta["module"],
        description=info.get("name", folder.name),
    )


def all_buildpacks(folder=None):
    """Every buildpack warp ships, in the order they are tried."""
    folder = Path(folder) if folder else buildpacks_dir()
    packs = [load_buildpack(child) for child in sorted(folder.iterdir()) if (child / "buildpack.toml").is_file()]
    return sorted(packs, key=lambda pack: (pack.order, pack.name))


def plan(project, detection):
    """The buildpacks that will run for this app, in order, each with why it detected."""
    chosen = []
    have_package_manager = False
    for pack in all_buildpacks():
        if pack.kind == KIND_PACKAGE_MANAGER and have_package_manager:
            continue
        reason = pack.detect(project, detection)
        if reason:
            chosen.append(Buildpack(**{**pack.__dict__, "reason": reason}))
            have_package_manager = have_package_manager or pack.kind == KIND_PACKAGE_MANAGER
    return chosen


def inputs(project, detection):
    """The files whose hashes key a build: dependency files, lock files, version files."""
    seen = []
    for path in [project.root / name for name in (".python-version", "runtime.txt", "warp.yaml")]:
        if path.is_file():
            seen.append(path)
    for pack in plan(project, detection):
        for path in pack.inputs(project, detection):
            path = Path(path)
            if path.is_file() and path not in seen:
                seen.append(path)
    return seen
