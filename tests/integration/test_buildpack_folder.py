"""Adding a package manager is one buildpack folder: a toy PDM buildpack, dropped into a folder on
buildpacks_path, is recognised by `warp detect` and installs the app in `warp build`, with no other edit."""

import json
import textwrap

from support import lockfiles, warp, write

# A PDM-like buildpack, written as a user would: its recognition and its build, nothing else.
PDM_BUILDPACK = '''
"""pdm.lock: the default group, hashes required, without PDM."""

from typing import Any

from warp.app.package_manager import PROJECT_FILES
from warp.app.requirements import canonical_name
from warp.build.buildpacks import App, BuildContext, Buildpack, Recognition, applies, does_not_apply
import warp.build.buildpacks.lockfile as lockfile
from warp.core.toml import load_toml

LOCK = "pdm.lock"


class Pdm(Buildpack):
    order = 50

    def detect(self, app: App) -> Recognition:
        if not app.present(LOCK):
            return does_not_apply(f"no {LOCK}", (LOCK,))
        return applies(f"{LOCK} names the dependencies", (LOCK,), app.present(*PROJECT_FILES))

    def declared_names(self, app: App, recognition: Recognition) -> set:
        return {canonical_name(p["name"]) for p in load_toml(app.root / LOCK).get("package", [])}

    def build(self, ctx: BuildContext) -> dict:
        reqs = lockfile.Requirements()
        for package in load_toml(ctx.project.root / LOCK).get("package", []):
            if "default" in package.get("groups", ["default"]):
                hashes = [f["hash"] for f in package.get("files", [])]
                reqs.hashed.append(lockfile.requirement_line(package["name"], package["version"], hashes))
        ctx.say(f"installing {LOCK} ({len(reqs.hashed)} packages, hashes required) with {ctx.installer}")
        lockfile.install(ctx, reqs, LOCK)
        return {"installed_from": [LOCK], "packages": reqs.names()}


buildpack = Pdm()
'''

FLASK_APP = "from flask import Flask\n\napp = Flask(__name__)\n\n\n@app.route('/')\ndef index():\n    return 'hi'\n"


def pdm_lock(wheels):
    entries = []
    for key in lockfiles.MAIN:
        name, version, digest = wheels[key]
        entries.append(f'[[package]]\nname = "{key}"\nversion = "{version}"\ngroups = ["default"]\n'
                       f'files = [\n    {{file = "{key}-{version}-py3-none-any.whl", hash = "{digest}"}},\n]\n')
    name, version, digest = wheels["iniconfig"]
    entries.append(f'[[package]]\nname = "iniconfig"\nversion = "{version}"\ngroups = ["dev"]\n'
                   f'files = [\n    {{file = "iniconfig-{version}-py3-none-any.whl", hash = "{digest}"}},\n]\n')
    return '[metadata]\ngroups = ["default", "dev"]\nlock_version = "4.5.0"\n\n' + "\n".join(entries)


def make(tmp_path, wheels):
    plugins = tmp_path / "plugins"
    write(plugins, {"pdm/buildpack.py": textwrap.dedent(PDM_BUILDPACK).lstrip()}, dedent=False)
    app = tmp_path / "app"
    write(app, {
        "pdm.lock": pdm_lock(wheels),
        "pyproject.toml": f'[project]\nname = "pdmapp"\nversion = "0.1.0"\ndependencies = ["flask=={lockfiles.FLASK}"]\n',
        "app.py": FLASK_APP,
    }, dedent=False)
    return plugins, app


def test_a_new_buildpack_folder_is_detected_and_builds(tmp_path, lock_wheels):
    plugins, app = make(tmp_path, lock_wheels)
    env = {"WARP_BUILDPACKS_PATH": str(plugins)}

    # Without the folder warp does not know pdm.lock: pyproject.toml is all it sees.
    plain = warp("detect", "--json", cwd=app)
    assert plain.returncode == 0, plain.stderr
    assert json.loads(plain.stdout)["package_manager"]["value"] == "pyproject"

    detected = warp("detect", "--json", cwd=app, env=env)
    assert detected.returncode == 0, detected.stderr
    data = json.loads(detected.stdout)
    assert data["package_manager"]["value"] == "pdm"
    assert data["package_manager"]["files"] == ["pdm.lock", "pyproject.toml"]
    # Its declared names are what the framework is read from.
    assert data["framework"]["value"] == "flask"
    verdicts = {pack["name"]: pack for pack in data["buildpacks"]}
    assert verdicts["pdm"]["runs"] and verdicts["pdm"]["path"] == str(plugins / "pdm")
    assert verdicts["pyproject"]["applies"] and not verdicts["pyproject"]["runs"]
    assert "yields to pdm" in verdicts["pyproject"]["decision"]
    text = warp("detect", cwd=app, env=env).stdout
    assert "pdm           runs: pdm.lock names the dependencies" in text

    built = warp("build", "--json", cwd=app, env=env)
    assert built.returncode == 0, built.stderr
    record = json.loads(built.stdout)
    assert [pack["name"] for pack in record["buildpacks"]] == ["pdm"]
    assert record["buildpacks"][0]["result"]["installed_from"] == ["pdm.lock"]
    installed = {name.lower(): version for name, version in record["packages"].items()}
    assert installed["flask"] == lockfiles.FLASK
    assert "iniconfig" not in installed  # the dev group stays out
    imported = warp("exec", "python", "-c", "import flask, importlib.metadata as m; print(m.version('flask'))",
                    cwd=app, env=env)
    assert imported.stdout.strip() == lockfiles.FLASK

    # The buildpack's code is an input of the build: unchanged, nothing to do; changed, a real build.
    again = warp("build", "--json", cwd=app, env=env)
    assert again.returncode == 0 and json.loads(again.stdout)["noop"] is True
    code = plugins / "pdm" / "buildpack.py"
    code.write_text(code.read_text() + "\n# a changed buildpack\n")
    changed = warp("build", "--json", cwd=app, env=env)
    assert changed.returncode == 0, changed.stderr
    assert json.loads(changed.stdout)["noop"] is False


def test_package_manager_setting_takes_the_new_name_only_when_the_folder_is_found(tmp_path, lock_wheels):
    plugins, app = make(tmp_path, lock_wheels)
    (app / "requirements.txt").write_text(f"flask=={lockfiles.FLASK}\n")
    refused = warp("detect", cwd=app, env={"WARP_PACKAGE_MANAGER": "pdm"})
    assert refused.returncode == 2
    assert len(refused.stderr.strip().splitlines()) == 1
    assert "package_manager=pdm" in refused.stderr and "not a package-manager buildpack" in refused.stderr
    # Two package managers apply: the one-line error names both files and the setting.
    (app / "warp.yaml").write_text("buildpacks_path: [../plugins]\n")
    both = warp("detect", cwd=app)
    assert both.returncode == 2
    assert "requirements.txt, pdm.lock" in both.stderr and "package_manager" in both.stderr
    chosen = warp("detect", "--json", cwd=app, env={"WARP_PACKAGE_MANAGER": "pdm"})
    assert chosen.returncode == 0, chosen.stderr
    assert json.loads(chosen.stdout)["package_manager"]["reason"] == "package_manager=pdm from env WARP_PACKAGE_MANAGER"
