"""Django: collectstatic after the dependencies, with a STATIC_ROOT when the settings lack one.

A project made by ``django-admin startproject`` sets STATIC_URL but no
STATIC_ROOT, and collectstatic refuses to run without one. warp then runs it
with a small settings module that imports the app's settings and adds
``STATIC_ROOT = <app>/staticfiles`` (the conventional folder), leaving the
app's files untouched. ``DISABLE_COLLECTSTATIC=1`` (or the
disable_collectstatic setting) skips the step.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
import json
import os
import subprocess
import tempfile

from warp.app.django import DEFAULT_STATIC_ROOT
from warp.build.buildpacks import KIND_FRAMEWORK, App, BuildContext, Buildpack, Recognition, applies, does_not_apply
from warp.build.installer import clean_environ, error_line
from warp.core.errors import BuildError
WRAPPER = "warp_collectstatic_settings"

_WRAPPER_TEXT = '''\
# Written by warp for collectstatic only: the app's settings plus a STATIC_ROOT.
import json as _json
import os as _os
from {module} import *  # noqa: F401,F403
import {module} as _app_settings

_defaulted = not getattr(_app_settings, "STATIC_ROOT", None)
if _defaulted:
    STATIC_ROOT = {default!r}
with open(_os.environ["WARP_STATIC_REPORT"], "w") as _fh:
    _json.dump({{
        "static_root": str(STATIC_ROOT),
        "static_url": str(globals().get("STATIC_URL") or ""),
        "static_root_defaulted": _defaulted,
        "staticfiles_installed": "django.contrib.staticfiles" in list(globals().get("INSTALLED_APPS", [])),
    }}, _fh)
'''


def _static_inputs(root: Path, module: str | None) -> list[Path]:
    """The settings module and the apps' static/ folders: what collectstatic copies."""
    found = []
    if module:
        found.append(root / (module.replace(".", "/") + ".py"))
    for folder in sorted(root.glob("*/static")) + sorted(root.glob("static")):
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                found.append(path)
    return found


def _collectstatic(ctx: BuildContext) -> dict[str, Any]:
    project = ctx.project
    if project.config.disable_collectstatic:
        ctx.say(f"collectstatic skipped ({project.config.source('disable_collectstatic')})")
        return {"collectstatic": "skipped", "reason": f"disable_collectstatic from {project.config.source('disable_collectstatic')}"}
    detection = ctx.detection
    module = detection.django_settings.value
    if not module:
        return {"collectstatic": "skipped", "reason": detection.django_settings.reason}
    root = project.app_dir
    with tempfile.TemporaryDirectory(prefix="warp-django-") as tmp:
        (Path(tmp) / f"{WRAPPER}.py").write_text(
            _WRAPPER_TEXT.format(module=module, default=str(root / DEFAULT_STATIC_ROOT)), encoding="utf-8")
        report = Path(tmp) / "report.json"
        env = clean_environ(ctx.environ)
        env["PYTHONPATH"] = os.pathsep.join([tmp, str(root)])
        env["DJANGO_SETTINGS_MODULE"] = f"{WRAPPER}"
        env["WARP_STATIC_REPORT"] = str(report)
        # Import the settings first: when staticfiles is not installed there
        # is no collectstatic command, and that is not an error.
        probe = subprocess.run([str(ctx.python), "-c", f"import {WRAPPER}"], cwd=root, env=env,
                               capture_output=True, text=True)
        if probe.returncode != 0:
            raise BuildError(f"Django settings {module} failed to import: {error_line(probe.stderr)}",
                             "fix the settings, or set DISABLE_COLLECTSTATIC=1 to skip collectstatic")
        facts = json.loads(report.read_text())
        if not facts["staticfiles_installed"]:
            ctx.say("collectstatic skipped: django.contrib.staticfiles is not in INSTALLED_APPS")
            return {"collectstatic": "skipped", "reason": "django.contrib.staticfiles is not installed", **facts}
        where = "a default" if facts["static_root_defaulted"] else f"{module}"
        ctx.say(f"collectstatic into {facts['static_root']} (STATIC_ROOT from {where})")
        manage = root / "manage.py"
        # --clear: collectstatic skips a file whose copy is not older than its source, compared
        # to the second, so an edit in the same second as the last build would be served stale.
        argv = [str(ctx.python), str(manage) if manage.is_file() else "-m", *([] if manage.is_file() else ["django"]),
                "collectstatic", "--noinput", "--clear"]
        result = subprocess.run(argv, cwd=root, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            raise BuildError(f"collectstatic failed (exit status {result.returncode}): {error_line(result.stderr or result.stdout)}",
                             "fix the error above, or set DISABLE_COLLECTSTATIC=1 to skip collectstatic")
    summary = (result.stdout.strip().splitlines() or [""])[-1]
    return {"collectstatic": "ran", "summary": summary, **facts}


class Django(Buildpack):
    kind = KIND_FRAMEWORK
    order = 100

    def detect(self, app: App) -> Recognition:
        framework = app.detection.framework
        if framework.value != "django":
            found = f"the framework is {framework.value}" if framework.value else "no framework found"
            return does_not_apply(f"{found} ({framework.reason}), not Django", ("manage.py",))
        module = app.detection.django_settings.value
        settings = (module.replace(".", "/") + ".py",) if module else ()
        return applies(f"Django project ({framework.reason}): collectstatic", app.present("manage.py", *settings))

    def inputs(self, app: App, recognition: Recognition) -> list[Path]:
        return super().inputs(app, recognition) + _static_inputs(app.root, app.detection.django_settings.value)

    def build(self, ctx: BuildContext) -> dict[str, Any]:
        return _collectstatic(ctx)


buildpack = Django()
