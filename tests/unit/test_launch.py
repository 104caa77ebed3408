"""Launcher pieces one function at a time: commands, static map, PYTHONPATH folder, requirements."""

import io
import json
import os
import sys

import pytest

from warp.core.errors import BuildError, ConfigError
from warp.launch import read_server_args, server_requirements, WHITENOISE
from warp.launch.command import command, expand
from warp.launch.mod_wsgi import check_build_tools
from warp.launch.pythonpath import warp_pythonpath, PACKAGE_DIR
from warp.launch.static import _from_build_record, static_map
from warp.core.project import open_project


# -- commands run as given

def test_command_expands_port_and_uses_the_apps_python():
    cmd = command("python app.py --port $PORT --name ${NAME}", {"PORT": "8080", "NAME": "x"}, python="/venv/bin/python")
    assert cmd.argv == ("/venv/bin/python", "app.py", "--port", "8080", "--name", "x")
    assert expand("0.0.0.0:$PORT", {"PORT": "1"}) == "0.0.0.0:1"


def test_command_needing_a_shell_goes_through_sh():
    assert command("migrate && serve", {}, shell=True).argv == ("/bin/sh", "-c", "migrate && serve")


def test_bad_quoting_is_a_config_error():
    with pytest.raises(ConfigError, match="cannot parse"):
        command("run 'unclosed", {})


# -- static map

def test_build_record_static_values_are_used(tmp_path):
    record = tmp_path / "build.json"
    record.write_text(json.dumps({"buildpacks": [
        {"name": "requirements", "result": {}},
        {"name": "django", "result": {"collectstatic": "ran", "static_url": "/assets/", "static_root": "/srv/static"}},
    ]}))
    assert _from_build_record(record) == {"static_url": "/assets/", "static_root": "/srv/static"}
    record.write_text(json.dumps({"buildpacks": [{"name": "django", "result": {"collectstatic": "skipped"}}]}))
    assert _from_build_record(record) is None
    record.write_text("not json")
    assert _from_build_record(record) is None


def test_static_setting_is_made_absolute(tmp_path):
    (tmp_path / "warp.yaml").write_text("static:\n  /files: public\n")
    project = open_project(tmp_path, environ={})
    entries, reasons = static_map(project, sys.executable, {})
    assert entries == (("/files/", str(tmp_path / "public")),)
    assert reasons == ["static setting from warp.yaml"]


def test_django_static_from_build_record_with_a_relative_root(tmp_path):
    (tmp_path / "manage.py").write_text("os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'site.settings')\n")
    (tmp_path / ".warp").mkdir()
    (tmp_path / ".warp" / "build.json").write_text(json.dumps({"buildpacks": [
        {"name": "django", "result": {"collectstatic": "ran", "static_url": "static/", "static_root": "collected"}}]}))
    project = open_project(tmp_path, environ={})
    entries, reasons = static_map(project, sys.executable, {})
    assert entries == (("/static/", str(tmp_path / "collected")),)
    assert "build record" in reasons[0]


# -- the PYTHONPATH folder

def test_pythonpath_folder_holds_only_the_warp_link(tmp_path):
    run_dir = tmp_path / "run"
    folder = warp_pythonpath(run_dir)
    assert folder == run_dir / "pythonpath"
    assert [entry.name for entry in folder.iterdir()] == ["warp"]
    assert (folder / "warp").resolve() == PACKAGE_DIR
    (folder / "stray.py").write_text("")
    assert [entry.name for entry in warp_pythonpath(run_dir).iterdir()] == ["warp"]


def test_pythonpath_falls_back_to_temp_when_the_app_folder_cannot_hold_it(tmp_path):
    # A file where .warp/run should be: as unusable as a read-only image layer, even for root.
    (tmp_path / "blocked").write_text("")
    folder = warp_pythonpath(tmp_path / "blocked" / "run")
    assert not str(folder).startswith(str(tmp_path)) and (folder / "warp").resolve() == PACKAGE_DIR
    assert [entry.name for entry in folder.iterdir()] == ["warp"]


# -- server arguments and requirements

def test_server_args_join_setting_and_warpdrive_file(tmp_path):
    (tmp_path / ".warpdrive").mkdir()
    (tmp_path / ".warpdrive" / "server_args").write_text("# comment\n--a 1\n--b 'two words'\n")
    project = open_project(tmp_path, environ={"WARP_SERVER_ARGS": "--z"})
    assert read_server_args(project) == ("--z", "--a", "1", "--b", "two words")


def test_server_requirements(tmp_path):
    (tmp_path / "wsgi.py").write_text("def application(e, s): pass\n")
    assert server_requirements(open_project(tmp_path, environ={})) == []
    gunicorn = server_requirements(open_project(tmp_path, environ={"WARP_SERVER": "gunicorn"}))
    assert gunicorn == ['gunicorn==27.0.1; python_version >= "3.10"', 'gunicorn==23.0.0; python_version < "3.10"']
    (tmp_path / "warp.yaml").write_text("static:\n  /s/: public\n")
    assert server_requirements(open_project(tmp_path, environ={"WARP_SERVER": "gunicorn"})) == gunicorn + list(WHITENOISE)
    # uWSGI serves files itself: no WhiteNoise.
    assert server_requirements(open_project(tmp_path, environ={"WARP_SERVER": "uwsgi"})) == ["pyuwsgi==2.0.30.post1"]


def test_asgi_app_gets_uvicorn_by_default(tmp_path):
    (tmp_path / "main.py").write_text("async def app(scope, receive, send): pass\n")
    assert [r.split(";")[0] for r in server_requirements(open_project(tmp_path, environ={}))] == ["uvicorn==0.54.0", "uvicorn==0.33.0"]


def test_procfile_app_needs_no_server_unless_one_is_chosen(tmp_path):
    (tmp_path / "Procfile").write_text("web: gunicorn app:app\n")
    assert server_requirements(open_project(tmp_path, environ={})) == []


def test_mod_wsgi_without_apxs_is_one_line():
    with pytest.raises(BuildError) as info:
        check_build_tools(which=lambda name: None)
    assert "apache2-dev" in str(info.value) and "\n" not in str(info.value)


# -- warp.runtime.shim's access log (waitress has none of its own)

def test_access_log_writes_one_common_line_per_response():
    from warp.runtime.shim import AccessLog

    def app(environ, start_response):
        start_response("201 Created", [])
        return [b"ab", b"cde"]

    stream = io.StringIO()
    logged = AccessLog(app, "common", stream)
    body = logged({"REQUEST_METHOD": "POST", "PATH_INFO": "/x", "QUERY_STRING": "q=1", "REMOTE_ADDR": "10.0.0.1",
                   "SERVER_PROTOCOL": "HTTP/1.1"}, lambda status, headers: None)
    assert b"".join(body) == b"abcde"
    body.close()
    line = stream.getvalue()
    assert line.startswith("10.0.0.1 - - [") and '"POST /x?q=1 HTTP/1.1" 201 5 ' in line
    assert line.endswith(f"s pid={os.getpid()}\n")
    stream = io.StringIO()
    body = AccessLog(app, "json", stream)({"REQUEST_METHOD": "GET", "PATH_INFO": "/"}, lambda s, h: None)
    list(body)
    body.close()
    record = json.loads(stream.getvalue())
    assert (record["status"], record["path"], record["query"], record["bytes"]) == (201, "/", "", 5)
