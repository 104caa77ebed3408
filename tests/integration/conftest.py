"""Session fixtures shared by the buildpack and build tests: downloads and environments made once."""

import os
import subprocess
import sys

import pytest

from warp.app.installer import find_uv
from warp.build import installer

from support import lockfiles


@pytest.fixture(scope="session")
def lock_wheels(tmp_path_factory):
    return lockfiles.download_lock_wheels(tmp_path_factory.mktemp("lock-wheels"))


@pytest.fixture(scope="session")
def uv_lock(tmp_path_factory):
    """A uv.lock made by the real uv for a Flask app (once per session)."""
    root = tmp_path_factory.mktemp("uv-lock")
    lockfiles.write_uv_project(root)
    env = installer.uv_environ(sys.executable, os.environ)
    result = subprocess.run([find_uv(), "lock"], cwd=root, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    return (root / "uv.lock").read_text()


@pytest.fixture(scope="session")
def flask_wheelhouse(tmp_path_factory):
    folder = tmp_path_factory.mktemp("flask-wheelhouse")
    lockfiles.pip_download(folder, f"flask=={lockfiles.FLASK}")
    return folder


@pytest.fixture(scope="session")
def django_env(tmp_path_factory):
    """(python, project template): one environment with Django, one fresh startproject."""
    base = tmp_path_factory.mktemp("django")
    python = lockfiles.make_env(base / "env")
    subprocess.run([str(python), "-m", "pip", "install", "-q", f"Django=={lockfiles.DJANGO}"], check=True,
                   capture_output=True, timeout=600)
    template = base / "template"
    template.mkdir()
    subprocess.run([str(python.parent / "django-admin"), "startproject", "mysite", str(template)], check=True,
                   capture_output=True, timeout=120)
    (template / "requirements.txt").write_text(f"Django=={lockfiles.DJANGO}\n")
    (template / "mysite" / "static").mkdir()
    (template / "mysite" / "static" / "site.css").write_text("body { color: #333 }\n")
    return python, template
