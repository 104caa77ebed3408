"""The app as a setuptools package (setup.py, setup.cfg), installed editable."""

from __future__ import annotations

from typing import Any

import warp.build.installer as installer
from warp.build.buildpacks import App, BuildContext, Buildpack, Recognition, applies, does_not_apply

FILES = ("setup.py", "setup.cfg")


class Setup(Buildpack):
    order = 14

    def detect(self, app: App) -> Recognition:
        found = app.present(*FILES)
        if not found:
            return does_not_apply("no setup.py or setup.cfg", FILES)
        return applies(f"{found[0]} makes the app a package; it is installed as one (pip install .)", found)

    def build(self, ctx: BuildContext) -> dict[str, Any]:
        # Editable, so the code runs from the app folder as it does in development.
        assert ctx.recognition is not None
        files = list(ctx.recognition.files)
        ctx.say(f"installing the app ({', '.join(files)}) with {ctx.installer}")
        installer.install(ctx, ["--editable", "."], what=files[0])
        return {"installed_from": files}


buildpack = Setup()
