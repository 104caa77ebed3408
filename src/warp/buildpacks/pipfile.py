"""pipfile lock file buildpack."""

from ..errors import BuildError

LOCK = {"pipfile": "Pipfile.lock", "poetry": "poetry.lock", "uv": "uv.lock"}["pipfile"]


def detect(project, detection):
    if detection.package_manager.value == "pipfile":
        return detection.package_manager.reason
    return None


def inputs(project, detection):
    return [project.root / name for name in detection.dependency_files]


def build(ctx):
    raise BuildError(f"installing {LOCK} is not implemented yet in this warp", "use requirements.txt for now")
