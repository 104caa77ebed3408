"""``python -m warp.build.buildpacks detect|build FOLDER``: what a buildpack's bin/detect and bin/build run.

warp's own convention for trying one buildpack from a shell, in the app's
folder: ``detect`` prints why and exits 0 when the buildpack runs for the app,
100 when it does not; ``build`` does its work into the app's environment
(``.warp/venv``, made by ``warp project`` or ``warp build``) and exits 100 when
the buildpack does not run for the app. Any other status is an error, said in
one line. The decision is ``warp detect``'s, with every buildpack found
(``FOLDER``'s own included, even when it is not on ``buildpacks_path``).
"""

from __future__ import annotations

import sys

from warp.core.errors import EXIT_USAGE, WarpError

RUNS = 0
DOES_NOT_RUN = 100
ERROR = 1


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("detect", "build"):
        print("usage: python -m warp.build.buildpacks detect|build BUILDPACK_FOLDER", file=sys.stderr)
        return EXIT_USAGE
    verb, folder = argv
    from warp.build.buildpacks import BuildContext, all_buildpacks, load
    from warp.build.recognise import recognise
    from warp.core.environment import venv_environ
    from warp.core.project import open_project

    try:
        project = open_project(".")
        pack = load(folder)
        packs = [p for p in all_buildpacks(project) if p.name != pack.name] + [pack]
        packs.sort(key=lambda p: (p.order, p.name))
        recognised = recognise(project, packs)
        verdict = next(v for v in recognised.verdicts if v.buildpack is pack)
        if verb == "detect":
            print(f"{pack.name}: {verdict.reason}")
            return RUNS if verdict.runs else DOES_NOT_RUN
        if not verdict.runs:
            print(f"{pack.name}: does not run for this app: {verdict.reason}", file=sys.stderr)
            return DOES_NOT_RUN
        detection = recognised.detection
        ctx = BuildContext(project=project, python=project.python, environ=venv_environ(project),
                           installer=str(detection.installer.value), wheelhouse=project.config.wheelhouse,
                           no_index=project.config.no_index, progress=lambda line: print(f"-> {line}", file=sys.stderr),
                           detection=detection, recognition=verdict.recognition)
        pack.build(ctx)
        return RUNS
    except WarpError as exc:
        print(f"warp: error: {exc}", file=sys.stderr)
        return ERROR if verb == "build" else exc.exit_code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
