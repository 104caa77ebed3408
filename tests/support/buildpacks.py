"""Run buildpacks the way `warp build` does, into a fresh environment, and see what they installed."""

import os

from warp.app.detect import detect
from warp.build import installer
from warp.build.buildpacks import BuildContext, plan
from warp.core.project import open_project

from support import lockfiles


def build(root, environ=None, python=None):
    """Run the planned buildpacks for the app in ``root`` into a new environment; {name: version} after."""
    environ = {**os.environ, **(environ or {})}
    project = open_project(root, environ=environ)
    detection = detect(project)
    python = python or lockfiles.make_env(root / ".env")
    ctx = BuildContext(project=project, python=python, environ=environ, installer=detection.installer.value,
                       wheelhouse=project.config.wheelhouse, no_index=project.config.no_index,
                       progress=None, detection=detection)
    results = [pack.build(ctx) for pack in plan(project, detection)]
    return {name.lower(): version for name, version in installer.installed(python).items()}, results
