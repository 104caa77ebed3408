"""The app as a package from its pyproject.toml (PEP 621 or a build backend), installed editable."""

from __future__ import annotations

from typing import Any

import warp.build.installer as installer
from warp.build.buildpacks import App, BuildContext, Buildpack, Recognition, applies, does_not_apply
from warp.core.toml import load_toml

FILE = "pyproject.toml"


class Pyproject(Buildpack):
    order = 12

    def detect(self, app: App) -> Recognition:
        if not app.present(FILE):
            return does_not_apply(f"no {FILE}", (FILE,))
        data = load_toml(app.root / FILE)
        if "project" not in data and "build-system" not in data:
            return does_not_apply(f"{FILE} has no [project] or [build-system]: it configures tools, it is not a package", (FILE,))
        return applies(f"{FILE} declares a project; it is installed as a package (pip install .)", (FILE,),
                       app.present("setup.py", "setup.cfg"))

    def build(self, ctx: BuildContext) -> dict[str, Any]:
        # Editable, so the code runs from the app folder as it does in development.
        assert ctx.recognition is not None
        files = list(ctx.recognition.files + ctx.recognition.companions)
        ctx.say(f"installing the app ({', '.join(files)}) with {ctx.installer}")
        installer.install(ctx, ["--editable", "."], what=FILE)
        return {"installed_from": files}


buildpack = Pyproject()
