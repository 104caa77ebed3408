"""Run buildpacks the way `warp build` does, into a fresh environment, and see what they installed."""

from dataclasses import replace
import os

from warp.build import installer
from warp.build.buildpacks import BuildContext
from warp.build.recognise import recognise
from warp.core.project import open_project

from support import lockfiles


def build(root, environ=None, python=None):
    """Run the buildpacks that run for the app in ``root`` into a new environment; ({name: version}, results)."""
    environ = {**os.environ, **(environ or {})}
    project = open_project(root, environ=environ)
    recognised = recognise(project)
    detection = recognised.detection
    python = python or lockfiles.make_env(root / ".env")
    ctx = BuildContext(project=project, python=python, environ=environ, installer=detection.installer.value,
                       wheelhouse=project.config.wheelhouse, no_index=project.config.no_index,
                       progress=None, detection=detection)
    results = [verdict.buildpack.build(replace(ctx, recognition=verdict.recognition)) for verdict in recognised.running]
    return {name.lower(): version for name, version in installer.installed(python).items()}, results
