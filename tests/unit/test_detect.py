"""warp.app.detect: each fact with the file or setting that decided it (read through warp.build.recognise,
which gives it the package manager the buildpacks chose)."""

import json

import pytest

from warp.app.detect import NoAppError
from warp.build.recognise import recognise
from warp.core.errors import EXIT_FAILURE
from warp.core.project import open_project

from support import write


def recognised(tmp_path, files, environ=None):
    write(tmp_path, files, dedent=False)
    return recognise(open_project(tmp_path, environ=environ or {}))


def app(tmp_path, files, environ=None):
    return recognised(tmp_path, files, environ).detection


def detect(project):
    return recognise(project).detection


def planned(result):
    return [verdict.name for verdict in result.running]


WSGI = "def application(environ, start_response):\n    start_response('200 OK', [])\n    return [b'hi']\n"


def test_empty_folder_is_one_line_and_exit_1(tmp_path):
    with pytest.raises(NoAppError) as info:
        detect(open_project(tmp_path, environ={}))
    assert info.value.exit_code == EXIT_FAILURE
    assert "no Python application" in str(info.value) and "\n" not in str(info.value)


def test_folder_of_other_files_is_not_an_app(tmp_path):
    with pytest.raises(NoAppError):
        app(tmp_path, {"README.md": "# hi\n", "index.html": "<p>"})


@pytest.mark.parametrize("files, value, reason", [
    ({".python-version": "3.12\n"}, "3.12", ".python-version"),
    ({"runtime.txt": "python-3.10.4\n"}, "3.10.4", "runtime.txt"),
    ({"pyproject.toml": '[project]\nname="a"\nversion="1"\nrequires-python=">=3.9"\n'}, ">=3.9", "requires-python"),
    ({"pyproject.toml": '[tool.poetry.dependencies]\npython="^3.10"\n'}, ">=3.10,<4", "tool.poetry"),
    ({".python-version": "3.12\n", "runtime.txt": "python-3.10.4\n"}, "3.12", ".python-version"),
])
def test_python_version_wanted_and_why(tmp_path, files, value, reason):
    detection = app(tmp_path, {"wsgi.py": WSGI, **files})
    assert detection.python.value == value
    assert reason in detection.python.reason


def test_python_setting_wins_over_files(tmp_path):
    detection = app(tmp_path, {"wsgi.py": WSGI, ".python-version": "3.12\n"}, environ={"WARP_PYTHON": "3.11"})
    assert detection.python.value == "3.11"
    assert "WARP_PYTHON" in detection.python.reason


def test_python_version_the_host_lacks_says_what_it_found(tmp_path):
    detection = app(tmp_path, {"wsgi.py": WSGI, ".python-version": "2.5\n"})
    assert detection.interpreter.value is None
    assert "2.5" in detection.interpreter.reason and "this host has" in detection.interpreter.reason


def test_plain_wsgi_app(tmp_path):
    result = recognised(tmp_path, {"wsgi.py": WSGI})
    detection = result.detection
    assert detection.framework.value == "wsgi"
    assert "wsgi.py" in detection.framework.reason
    assert detection.package_manager.value is None
    assert planned(result) == []


def test_flask_by_dependency(tmp_path):
    result = recognised(tmp_path, {"requirements.txt": "Flask==3.0.0\n", "app.py": "from flask import Flask\napp = Flask(__name__)\n"})
    detection = result.detection
    assert (detection.framework.value, detection.framework.reason) == ("flask", "flask is a declared dependency")
    assert planned(result) == ["requirements"]
    assert detection.installer.value == "pip"


def test_flask_by_code(tmp_path):
    detection = app(tmp_path, {"app.py": "from flask import Flask\napp = Flask(__name__)\n"})
    assert detection.framework.value == "flask" and "app.py imports flask" in detection.framework.reason


def test_asgi_by_code_and_by_dependency(tmp_path):
    detection = app(tmp_path / "a", {"main.py": "async def app(scope, receive, send):\n    pass\n"})
    assert detection.framework.value == "asgi"
    detection = app(tmp_path / "b", {"requirements.txt": "fastapi\n", "main.py": "import fastapi\n"})
    assert (detection.framework.value, detection.framework.reason) == ("asgi", "fastapi is a declared dependency")


def test_django_by_manage_py(tmp_path):
    manage = "import os\nos.environ.setdefault('DJANGO_SETTINGS_MODULE', 'mysite.settings')\n"
    result = recognised(tmp_path, {"manage.py": manage, "requirements.txt": "Django\n", "mysite/settings.py": "INSTALLED_APPS = []\n"})
    detection = result.detection
    assert detection.framework.value == "django"
    assert detection.django_settings.value == "mysite.settings"
    assert planned(result) == ["requirements", "django"]


def test_uv_lock_chooses_uv_installer(tmp_path):
    result = recognised(tmp_path, {"uv.lock": 'version = 1\n[[package]]\nname = "flask"\nversion = "3.0.0"\n',
                               "pyproject.toml": '[project]\nname="a"\nversion="1"\n', "app.py": "x = 1\n"})
    detection = result.detection
    assert detection.package_manager.value == "uv"
    assert detection.installer.value == "uv"
    assert detection.framework.value == "flask"
    assert planned(result) == ["uv"]


def test_installer_setting_is_reported(tmp_path):
    detection = app(tmp_path, {"requirements.txt": "six\n"}, environ={"WARP_INSTALLER": "uv"})
    assert detection.installer.value == "uv" and "WARP_INSTALLER" in detection.installer.reason


def test_broken_toml_names_file_and_line(tmp_path):
    with pytest.raises(Exception) as info:
        app(tmp_path, {"pyproject.toml": "[project]\nname = \n", "app.py": ""})
    assert "pyproject.toml:2" in str(info.value)


def test_to_dict_is_json(tmp_path):
    detection = app(tmp_path, {"requirements.txt": "Flask\n", "app.py": "from flask import Flask\napp = Flask(__name__)\n"})
    data = json.loads(json.dumps(detection.to_dict()))
    for key in ("python", "interpreter", "package_manager", "framework", "installer", "entrypoint", "server", "hooks"):
        assert set(data[key]) >= {"value", "reason"}
    assert data["package_manager"]["files"] == ["requirements.txt"]


def test_hooks_present_are_listed_with_their_files(tmp_path):
    hook = tmp_path / ".warp" / "hooks" / "build"
    hook.parent.mkdir(parents=True)
    hook.write_text("#!/bin/sh\necho built\n")
    hook.chmod(0o755)
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "pre_compile").write_text("#!/bin/sh\n")
    (tmp_path / "bin" / "pre_compile").chmod(0o755)
    detection = app(tmp_path, {"wsgi.py": WSGI})
    assert detection.hooks.value["build"] == ".warp/hooks/build"
    assert detection.hooks.value["pre-build"] == "bin/pre_compile"


def test_detect_warns_when_uv_is_needed_but_missing(tmp_path, monkeypatch):
    from warp.app import installer
    from warp.core.errors import BuildError

    def missing(environ=None):
        raise BuildError("uv is needed but was not found", "pip install 'warp[uv]'")

    monkeypatch.setattr(installer, "find_uv", missing)
    detection = app(tmp_path, {"requirements.txt": "six\n"}, environ={"WARP_INSTALLER": "uv"})
    assert detection.installer.value == "uv"
    assert "not found" in detection.installer.reason and "warp[uv]" in detection.installer.reason
