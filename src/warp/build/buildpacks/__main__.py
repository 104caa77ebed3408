"""``python -m warp.build.buildpacks detect|build NAME``: what a buildpack's bin/detect and bin/build run.

Cloud Native Buildpacks exit codes: detect exits 0 when the buildpack applies
and 100 when it does not; any other status is an error.
"""

import sys

from warp.core.errors import WarpError

DETECT_PASS = 0
DETECT_FAIL = 100
ERROR = 1


def main(argv):
    if len(argv) < 2 or argv[0] not in ("detect", "build"):
        print("usage: python -m warp.build.buildpacks detect|build NAME", file=sys.stderr)
        return 2
    verb, name = argv[0], argv[1]
    from warp.build.buildpacks import BuildContext, all_buildpacks
    from warp.app.detect import detect
    from warp.core.environment import venv_environ
    from warp.core.project import open_project

    try:
        project = open_project(".")
        packs = {pack.name: pack for pack in all_buildpacks()}
        if name not in packs:
            print(f"{name}: no such buildpack (have {', '.join(packs)})", file=sys.stderr)
            return 2
        pack = packs[name]
        detection = detect(project)
        reason = pack.detect(project, detection)
        if verb == "detect":
            print(reason or f"{name}: does not apply")
            return DETECT_PASS if reason else DETECT_FAIL
        if not reason:
            print(f"{name}: does not apply to this app", file=sys.stderr)
            return DETECT_FAIL
        ctx = BuildContext(project=project, python=project.python, environ=venv_environ(project),
                           installer=detection.installer.value, wheelhouse=project.config.wheelhouse,
                           no_index=project.config.no_index, progress=lambda line: print(f"-> {line}", file=sys.stderr),
                           detection=detection)
        pack.build(ctx)
        return 0
    except WarpError as exc:
        print(f"warp: error: {exc}", file=sys.stderr)
        return ERROR if verb == "build" else exc.exit_code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
