"""requirements.txt, installed with the app environment's own pip (or uv)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
import re

from warp.app.package_manager import PROJECT_FILES, requirement_names
from warp.app.requirements import read_requirements, requirement_files
import warp.build.installer as installer
from warp.build.buildpacks import App, BuildContext, Buildpack, Recognition, applies, does_not_apply
from warp.core.errors import BuildError

FILE = "requirements.txt"
# Names people give requirements files; said when requirements.txt is missing.
_NEAR = re.compile(r"(?i)requirements?[._-]?\w*\.(txt|text|pip|in)")


class Requirements(Buildpack):
    order = 10

    def detect(self, app: App) -> Recognition:
        if app.present(FILE):
            # It often installs the app itself ("-e ."), so the package files are read with it.
            return applies(f"{FILE} names the dependencies", (FILE,), app.present(*PROJECT_FILES))
        near = sorted(path.name for path in app.root.glob("*") if _NEAR.fullmatch(path.name) and path.is_file())
        if near:
            return does_not_apply(f"found {', '.join(near)} but no {FILE}", (FILE, *near),
                                  hint=f"name the file warp should install {FILE} (it may include others with -r)")
        return does_not_apply(f"no {FILE}", (FILE,))

    def inputs(self, app: App, recognition: Recognition) -> list[Path]:
        return super().inputs(app, recognition) + requirement_files(app.root / FILE)

    def declared_names(self, app: App, recognition: Recognition) -> set[str]:
        names: set[str] = set()
        for entry in read_requirements(app.root / FILE):
            if not entry.constraint:  # a constraints file declares nothing
                names |= requirement_names(entry.lines)
        return names

    def build(self, ctx: BuildContext) -> dict[str, Any]:
        path = ctx.project.root / FILE
        try:
            path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise BuildError(f"{path}: cannot read: {exc}", f"make {FILE} a readable UTF-8 file") from None
        ctx.say(f"installing {FILE} with {ctx.installer}")
        installer.install(ctx, ["-r", FILE], what=FILE)
        return {"installed_from": [FILE]}


buildpack = Requirements()
