"""`warp build` end to end on each lock-file kind and on a real `django-admin startproject` project."""

import json
import shutil
import sys

import pytest

from support import lockfiles, warp


def app_imports(root, code):
    return warp("exec", "python", "-c", code, cwd=root)


def record(root):
    return json.loads((root / ".warp" / "build.json").read_text())


@pytest.mark.parametrize("kind", ["pipfile", "poetry", "uv"])
def test_warp_build_installs_each_lock_kind(tmp_path, kind, lock_wheels, uv_lock):
    if kind == "pipfile":
        lockfiles.write_pipfile_lock(tmp_path, lock_wheels)
    elif kind == "poetry":
        lockfiles.write_poetry_lock(tmp_path, lock_wheels)
    else:
        lockfiles.write_uv_project(tmp_path)
        (tmp_path / "uv.lock").write_text(uv_lock)
    (tmp_path / "app.py").write_text("from flask import Flask\napp = Flask(__name__)\n")
    result = warp("build", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert kind in [pack["name"] for pack in record(tmp_path)["buildpacks"]]
    check = app_imports(tmp_path, "import flask, importlib.metadata as m; print(m.version('flask'))")
    assert check.stdout.strip() == lockfiles.FLASK, check.stderr
    # Neither the lock's tool nor warp's own dependencies are in the app's environment.
    for absent in ("pipenv", "poetry", "uv", "yaml", "iniconfig"):
        assert app_imports(tmp_path, f"import {absent}").returncode != 0, absent


def test_warp_build_stops_on_conflicting_locks_and_names_the_setting(tmp_path, lock_wheels):
    lockfiles.write_pipfile_lock(tmp_path, lock_wheels)
    lockfiles.write_poetry_lock(tmp_path, lock_wheels)
    result = warp("build", cwd=tmp_path)
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("warp: error")]
    assert len(errors) == 1 and "Pipfile.lock" in errors[0] and "poetry.lock" in errors[0] and "package_manager" in errors[0]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / ".warp" / "build.json").exists()


def test_warp_build_django_startproject_collects_static(django_env, tmp_path):
    _, template = django_env
    root = tmp_path / "site"
    shutil.copytree(template, root)
    result = warp("build", cwd=root)
    assert result.returncode == 0, result.stderr
    assert (root / "staticfiles" / "admin" / "css" / "base.css").is_file()
    assert "django" in [pack["name"] for pack in record(root)["buildpacks"]]
    from warp.launch.static import static_map
    from warp.core.project import open_project

    # What `warp start` serves comes from what collectstatic recorded.
    entries, reasons = static_map(open_project(root, environ={}), sys.executable, {})
    assert entries == (("/static/", str(root / "staticfiles")),) and "build record" in reasons[0]
    shutil.rmtree(root / "staticfiles")
    (root / "requirements.txt").write_text(f"Django=={lockfiles.DJANGO}\nsix==1.16.0\n")
    result = warp("build", cwd=root, env={"DISABLE_COLLECTSTATIC": "1"})
    assert result.returncode == 0, result.stderr
    assert not (root / "staticfiles").exists()


# The app's own project, and local packages, in its lock: path/editable/directory/workspace entries carry no
# hashes; pipenv, micropipenv, Poetry and uv install them so, and check the hashes of everything else.

LIB = {
    "libs/lib/pyproject.toml": '[project]\nname = "lib"\nversion = "0.1"\ndescription = "a local package"\n\n'
                               '[build-system]\nrequires = ["flit_core<4"]\nbuild-backend = "flit_core.buildapi"\n',
    "libs/lib/lib.py": '"""A local package."""\nVALUE = "from the local lib"\n',
}
OWN = {
    "pyproject.toml": '[project]\nname = "myapp"\nversion = "0.1"\ndescription = "the app itself"\n'
                      f'dependencies = ["flask=={lockfiles.FLASK}"]\n\n'
                      '[build-system]\nrequires = ["flit_core<4"]\nbuild-backend = "flit_core.buildapi"\n',
    "myapp.py": '"""The app."""\nfrom flask import Flask\n\nfrom lib import VALUE\n\napp = Flask(__name__)\n',
}


def _write(root, files):
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def test_pipfile_lock_with_the_app_itself_editable_and_a_local_path(tmp_path, lock_wheels):
    lockfiles.write_pipfile_lock(tmp_path, lock_wheels)
    _write(tmp_path, {**OWN, **LIB})
    lock = json.loads((tmp_path / "Pipfile.lock").read_text())
    # As `pipenv install -e .` and `pipenv install ./libs/lib` lock them: no version, no hashes.
    lock["default"]["myapp"] = {"editable": True, "path": "."}
    lock["default"]["lib"] = {"path": "./libs/lib"}
    (tmp_path / "Pipfile.lock").write_text(json.dumps(lock, indent=4))
    result = warp("build", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    check = app_imports(tmp_path, "import myapp, importlib.metadata as m; print(myapp.VALUE, m.version('flask'))")
    assert check.stdout.split() == ["from", "the", "local", "lib", lockfiles.FLASK], check.stderr


def test_pipfile_lock_entry_without_hashes_is_still_refused(tmp_path, lock_wheels):
    lockfiles.write_pipfile_lock(tmp_path, lock_wheels)
    lock = json.loads((tmp_path / "Pipfile.lock").read_text())
    lock["default"]["click"]["hashes"] = []
    (tmp_path / "Pipfile.lock").write_text(json.dumps(lock, indent=4))
    result = warp("build", cwd=tmp_path)
    assert result.returncode != 0 and "click has no hashes" in result.stderr and "pipenv lock" in result.stderr


def test_poetry_lock_with_a_directory_dependency(tmp_path, lock_wheels):
    lockfiles.write_poetry_lock(tmp_path, lock_wheels)
    _write(tmp_path, LIB)
    (tmp_path / "myapp.py").write_text(OWN["myapp.py"])
    # As Poetry locks `lib = {path = "libs/lib", develop = true}`: a directory source, no files, no hashes.
    with open(tmp_path / "poetry.lock", "a") as lock:
        lock.write('\n[[package]]\nname = "lib"\nversion = "0.1"\ndescription = "a local package"\noptional = false\n'
                   'python-versions = "*"\ngroups = ["main"]\nfiles = []\ndevelop = true\n\n'
                   '[package.source]\ntype = "directory"\nurl = "libs/lib"\n')
    result = warp("build", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    check = app_imports(tmp_path, "import myapp; print(myapp.VALUE)")
    assert check.stdout.strip() == "from the local lib", check.stderr


@pytest.mark.parametrize("installer", ["uv", "pip"])
def test_uv_lock_with_a_workspace_member(tmp_path, installer):
    import os
    import subprocess

    from warp.app.installer import find_uv
    from warp.build import installer as installers

    _write(tmp_path, {
        "pyproject.toml": '[project]\nname = "myapp"\nversion = "0.1"\nrequires-python = ">=3.9"\n'
                          f'dependencies = ["flask=={lockfiles.FLASK}", "lib"]\n\n'
                          '[tool.uv.sources]\nlib = { workspace = true }\n\n[tool.uv.workspace]\nmembers = ["libs/*"]\n',
        "myapp.py": OWN["myapp.py"],
        **LIB,
    })
    env = installers.uv_environ(sys.executable, os.environ)
    made = subprocess.run([find_uv(), "lock"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert made.returncode == 0, made.stderr
    assert 'source = { editable = "libs/lib" }' in (tmp_path / "uv.lock").read_text()
    result = warp("build", cwd=tmp_path, env={"WARP_INSTALLER": installer})
    assert result.returncode == 0, result.stderr
    check = app_imports(tmp_path, "import myapp, importlib.metadata as m; print(myapp.VALUE, m.version('flask'))")
    assert check.stdout.split() == ["from", "the", "local", "lib", lockfiles.FLASK], check.stderr
