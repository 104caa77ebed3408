"""Real dependency environments and lock files for the buildpack tests.

Pipfile.lock and poetry.lock are written here the way pipenv and Poetry write
them, with the sha256 of the real wheels pip downloads from the index this
machine reaches (so the tests need neither pipenv nor Poetry, which is the
point of those buildpacks). uv.lock is made by the real ``uv lock``: uv is in
warp's test environment anyway, as the tool that installs uv.lock.
"""

from pathlib import Path
import hashlib
import json
import subprocess
import sys

from warp.app.python import choose_interpreter
from warp.app.requirements import canonical_name
from warp.build import venv as venvs
from warp.build.buildpacks import find, module_of

pipfile_hash = module_of(find("pipfile")).pipfile_hash

FLASK = "3.0.3"
DJANGO = "5.2.8"
# Packages whose markers are false on any Linux: they must never be installed.
WINDOWS_ONLY = "colorama==0.4.6"


def pip_download(dest, *args):
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:", "-d", str(dest), *args],
                   check=True, capture_output=True, text=True, timeout=600)


def wheels_in(folder):
    """{canonical name: (name, version, "sha256:...")} of the wheels in ``folder``."""
    found = {}
    for path in sorted(Path(folder).glob("*.whl")):
        name, version = path.name.split("-")[:2]
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        found[canonical_name(name)] = (name, version, f"sha256:{digest}")
    return found


def download_lock_wheels(dest):
    """Flask with its dependencies, iniconfig (a dev group), idna (an extra), colorama (Windows only)."""
    pip_download(dest, f"flask=={FLASK}", "iniconfig==2.0.0", "idna==3.10")
    pip_download(dest, "--no-deps", WINDOWS_ONLY)
    return wheels_in(dest)


MAIN = ("flask", "werkzeug", "jinja2", "markupsafe", "itsdangerous", "click", "blinker")


def write_pipfile_lock(root, wheels):
    def entry(key, marker=None):
        name, version, digest = wheels[key]
        data = {"hashes": [digest], "version": f"=={version}"}
        if marker:
            data["markers"] = marker
        return data

    default = {key: entry(key) for key in MAIN}
    default["colorama"] = entry("colorama", "sys_platform == 'win32'")
    # The Pipfile it was "locked" from, and pipenv's hash of it (warp's
    # pipfile_hash is checked against a real pipenv's in the unit tests).
    (root / "Pipfile").write_text(
        '[[source]]\nurl = "https://index.invalid/simple"\nverify_ssl = true\nname = "pypi"\n\n'
        f'[packages]\nflask = "=={FLASK}"\n\n[dev-packages]\niniconfig = "*"\n\n[requires]\npython_version = "3.11"\n')
    lock = {
        "_meta": {"hash": {"sha256": pipfile_hash(root / "Pipfile")}, "pipfile-spec": 6, "requires": {"python_version": "3.11"},
                  "sources": [{"name": "pypi", "url": "https://index.invalid/simple", "verify_ssl": True}]},
        "default": default,
        "develop": {"iniconfig": entry("iniconfig")},
    }
    (root / "Pipfile.lock").write_text(json.dumps(lock, indent=4))


def write_poetry_lock(root, wheels):
    """A lock-version 2.1 poetry.lock (Poetry 2): groups and markers recorded per package."""
    packages = []

    def package(key, groups=("main",), markers=None, optional=False, deps=None):
        name, version, digest = wheels[key]
        text = [f'[[package]]\nname = "{key}"\nversion = "{version}"\ndescription = ""\n'
                f'optional = {"true" if optional else "false"}\npython-versions = ">=3.8"\n'
                f'groups = {json.dumps(list(groups))}']
        if markers:
            text.append(f"markers = {json.dumps(markers)}")
        text.append(f'files = [\n    {{file = "{key}-{version}-py3-none-any.whl", hash = "{digest}"}},\n]')
        if deps:
            text.append("\n[package.dependencies]\n" + "\n".join(f'{k} = "{v}"' for k, v in deps.items()))
        packages.append("\n".join(text) + "\n")

    for key in MAIN:
        package(key, deps={"click": ">=8.1.3"} if key == "flask" else None)
    package("colorama", markers='platform_system == "Windows"')
    package("idna", markers='extra == "idn"', optional=True)
    package("iniconfig", groups=("dev",))
    tail = '\n[extras]\nidn = ["idna"]\n\n[metadata]\nlock-version = "2.1"\npython-versions = ">=3.9"\ncontent-hash = "' + "0" * 64 + '"\n'
    (root / "poetry.lock").write_text("# written by warp's tests in Poetry 2's format\n\n" + "\n".join(packages) + tail)
    (root / "pyproject.toml").write_text(
        f'[project]\nname = "lockapp"\nversion = "0.1.0"\nrequires-python = ">=3.9"\ndependencies = ["flask=={FLASK}"]\n\n'
        '[project.optional-dependencies]\nidn = ["idna==3.10"]\n\n[tool.poetry]\npackage-mode = false\n\n'
        '[tool.poetry.group.dev.dependencies]\niniconfig = "2.0.0"\n')


def write_uv_project(root):
    (root / "pyproject.toml").write_text(
        f'[project]\nname = "lockapp"\nversion = "0.1.0"\nrequires-python = ">=3.9"\ndependencies = ["flask=={FLASK}"]\n\n'
        '[project.optional-dependencies]\nidn = ["idna==3.10"]\n\n[dependency-groups]\ndev = ["iniconfig==2.0.0"]\n')


def make_env(path):
    """A fresh app environment made the way warp makes them (virtualenv, pip only)."""
    venvs.create_env(path, choose_interpreter())
    return Path(path) / "bin" / "python"
