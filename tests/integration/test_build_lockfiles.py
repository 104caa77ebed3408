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
