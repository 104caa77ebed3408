"""Entry point resolution: each rule on a tiny folder, in order, each explained."""

import textwrap

import pytest

from warp.app.entrypoint import ASGI, COMMAND, WSGI, NoEntryPoint, needs_shell, procfile_types, resolve
from warp.core.errors import ConfigError
from warp.core.project import open_project

from support import write


def make(tmp_path, files, environ=None, flags=None):
    write(tmp_path, files, dedent=False)
    for name in files:
        if name.endswith(".sh"):
            (tmp_path / name).chmod(0o755)
    return open_project(tmp_path, environ=environ or {}, flags=flags)


def entry(tmp_path, files, environ=None, flags=None):
    environ = environ or {}
    return resolve(make(tmp_path, files, environ, flags), environ=environ)


FLASK_APP = textwrap.dedent("""
    from flask import Flask
    app = Flask(__name__)
""")
PLAIN_WSGI = textwrap.dedent("""
    def application(environ, start_response):
        start_response("200 OK", [])
        return [b"hi"]
""")


# 1. the entrypoint setting

def test_setting_from_warp_yaml_wins_over_everything(tmp_path):
    e = entry(tmp_path, {"warp.yaml": "entrypoint: site.web:make\n", "site/web.py": "def make(e, s): pass\n",
                         "Procfile": "web: gunicorn x:y\n", "wsgi.py": PLAIN_WSGI})
    assert (e.kind, e.target, e.rule) == (WSGI, "site.web:make", "setting")
    assert "warp.yaml" in e.reason
    assert e.server == "bundled"


def test_app_module_environment_variable(tmp_path):
    e = entry(tmp_path, {"wsgi.py": PLAIN_WSGI, "other.py": PLAIN_WSGI}, environ={"APP_MODULE": "other:application"})
    assert (e.target, e.rule) == ("other:application", "setting")
    assert "APP_MODULE" in e.reason


def test_malformed_setting_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="not package.module:callable"):
        entry(tmp_path, {"warp.yaml": "entrypoint: just-a-file.py\n"})


def test_setting_pointing_at_asgi_callable_is_asgi_and_picks_uvicorn(tmp_path):
    e = entry(tmp_path, {"warp.yaml": "entrypoint: api:app\n", "api.py": "from fastapi import FastAPI\napp = FastAPI()\n"})
    assert e.kind == ASGI
    assert e.server == "uvicorn" and "ASGI" in e.server_reason


# 2. Procfile

def test_procfile_web_line_is_run_as_given(tmp_path):
    e = entry(tmp_path, {"Procfile": "# comment\nworker: python work.py\nweb: gunicorn app:app --bind 0.0.0.0:$PORT\n",
                         "app.py": FLASK_APP})
    assert (e.kind, e.target, e.rule) == (COMMAND, "gunicorn app:app --bind 0.0.0.0:$PORT", "procfile")
    assert e.server is None and not e.shell


def test_procfile_without_web_falls_through(tmp_path):
    e = entry(tmp_path, {"Procfile": "worker: python work.py\n", "wsgi.py": PLAIN_WSGI})
    assert e.rule == "convention"
    assert any("no web: line" in step for step in e.steps)


def test_procfile_parsing_and_shell_detection(tmp_path):
    (tmp_path / "Procfile").write_text("web: a $PORT\nrelease:   ./migrate.sh && echo ok\n\nbad line\n")
    assert procfile_types(tmp_path / "Procfile") == {"web": "a $PORT", "release": "./migrate.sh && echo ok"}
    assert needs_shell("./migrate.sh && echo ok") and not needs_shell("gunicorn -b :$PORT app:app")


# 3. s2i / warpdrive

def test_gunicorn_conf_wsgi_app(tmp_path):
    e = entry(tmp_path, {"gunicorn.conf.py": "wsgi_app = 'hello.main:application'\nworkers = 2\n",
                         "hello/main.py": PLAIN_WSGI, "wsgi.py": PLAIN_WSGI})
    assert (e.kind, e.target, e.rule) == (WSGI, "hello.main:application", "s2i")
    assert e.config_file.endswith("gunicorn.conf.py")


def test_executable_app_sh_is_run_as_is(tmp_path):
    e = entry(tmp_path, {"app.sh": "#!/bin/sh\nexec python -m http.server $PORT\n", "wsgi.py": PLAIN_WSGI})
    assert (e.kind, e.rule) == (COMMAND, "s2i") and e.target.endswith("app.sh")


def test_non_executable_app_sh_is_ignored(tmp_path):
    project = make(tmp_path, {"app.sh": "#!/bin/sh\n", "wsgi.py": PLAIN_WSGI})
    (tmp_path / "app.sh").chmod(0o644)
    assert resolve(project, environ={}).rule == "convention"


def test_app_script_variable(tmp_path):
    e = entry(tmp_path, {"run/go.sh": "#!/bin/sh\n"}, environ={"APP_SCRIPT": "run/go.sh"})
    assert e.kind == COMMAND and e.target.endswith("run/go.sh") and "APP_SCRIPT" in e.reason


def test_app_file_variable_runs_it_with_python(tmp_path):
    e = entry(tmp_path, {"server.py": "print('hi')\n"}, environ={"APP_FILE": "server.py"})
    assert (e.kind, e.target) == (COMMAND, "python server.py")


def test_app_py_that_starts_a_server_is_run(tmp_path):
    e = entry(tmp_path, {"app.py": "from wsgiref.simple_server import make_server\n" + PLAIN_WSGI.strip()
                         + "\nmake_server('', 8080, application).serve_forever()\n"})
    assert (e.kind, e.target, e.rule) == (COMMAND, "python app.py", "s2i")


def test_app_py_without_callable_is_run(tmp_path):
    e = entry(tmp_path, {"app.py": "import time\nwhile True:\n    time.sleep(1)\n"})
    assert (e.kind, e.target) == (COMMAND, "python app.py")


def test_app_py_that_only_defines_app_is_served(tmp_path):
    e = entry(tmp_path, {"app.py": FLASK_APP + "\nif __name__ == '__main__':\n    app.run()\n"})
    assert (e.kind, e.target, e.rule) == (WSGI, "app:app", "convention")
    assert any("served, not run" in step for step in e.steps)


# 4. Django

def test_django_wsgi_from_manage_py(tmp_path):
    e = entry(tmp_path, {
        "manage.py": "import os\nos.environ.setdefault('DJANGO_SETTINGS_MODULE', 'mysite.settings')\n",
        "mysite/settings.py": "WSGI_APPLICATION = 'mysite.wsgi.application'\n",
        "mysite/wsgi.py": "from django.core.wsgi import get_wsgi_application\napplication = get_wsgi_application()\n",
        "mysite/asgi.py": "from django.core.asgi import get_asgi_application\napplication = get_asgi_application()\n",
    })
    assert (e.kind, e.target, e.rule) == (WSGI, "mysite.wsgi:application", "django")
    assert "DJANGO_SETTINGS_MODULE=mysite.settings" in e.reason


def test_django_settings_package_finds_parent_wsgi(tmp_path):
    e = entry(tmp_path, {
        "manage.py": 'os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")\n',
        "config/settings/local.py": "",
        "config/wsgi.py": "application = None\n",
    })
    assert e.target == "config.wsgi:application"


def test_django_under_uvicorn_serves_asgi(tmp_path):
    e = entry(tmp_path, {
        "manage.py": "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'mysite.settings')\n",
        "mysite/settings.py": "",
        "mysite/wsgi.py": "application = get_wsgi_application()\n",
        "mysite/asgi.py": "from django.core.asgi import get_asgi_application\napplication = get_asgi_application()\n",
    }, flags={"server": "uvicorn"})
    assert (e.kind, e.target, e.server) == (ASGI, "mysite.asgi:application", "uvicorn")


# 5. conventional files

def test_wsgi_py_application(tmp_path):
    e = entry(tmp_path, {"wsgi.py": PLAIN_WSGI, "application.py": PLAIN_WSGI})
    assert (e.kind, e.target, e.rule) == (WSGI, "wsgi:application", "convention")


def test_application_py_app(tmp_path):
    e = entry(tmp_path, {"application.py": FLASK_APP})
    assert e.target == "application:app"


def test_application_preferred_over_app(tmp_path):
    e = entry(tmp_path, {"wsgi.py": FLASK_APP + "\napplication = app\n"})
    assert e.target == "wsgi:application"


# 6. ASGI

def test_fastapi_main_py_is_asgi_served_by_uvicorn(tmp_path):
    e = entry(tmp_path, {"main.py": "from fastapi import FastAPI\napp = FastAPI()\n"})
    assert (e.kind, e.target, e.rule) == (ASGI, "main:app", "asgi-convention")
    assert e.server == "uvicorn"


def test_async_def_is_asgi(tmp_path):
    e = entry(tmp_path, {"asgi.py": "async def application(scope, receive, send):\n    pass\n"})
    assert e.kind == ASGI


def test_starlette_in_app_py_is_asgi(tmp_path):
    e = entry(tmp_path, {"app.py": "from starlette.applications import Starlette\napp = Starlette()\n"})
    assert (e.kind, e.target) == (ASGI, "app:app")


def test_explicit_server_is_kept_even_for_asgi(tmp_path):
    # The launcher refuses it with a clear line; detection reports what was asked.
    e = entry(tmp_path, {"main.py": "async def app(scope, receive, send): pass\n"}, flags={"server": "bundled"})
    assert e.kind == ASGI and e.server == "bundled"


def test_interface_setting_overrides_the_guess(tmp_path):
    e = entry(tmp_path, {"wsgi.py": "from somewhere import thing\napplication = thing()\n", "warp.yaml": "interface: asgi\n"})
    assert e.kind == ASGI


# nothing found

def test_nothing_found_lists_what_was_looked_for(tmp_path):
    (tmp_path / "README").write_text("hello")
    with pytest.raises(NoEntryPoint) as info:
        resolve(open_project(tmp_path, environ={}), environ={})
    message = str(info.value)
    assert info.value.exit_code == 2
    assert "\n" not in message
    for looked_for in ("entrypoint", "Procfile", "gunicorn.conf.py", "app.sh", "manage.py", "wsgi.py"):
        assert looked_for in message


def test_steps_explain_every_rule_tried(tmp_path):
    e = entry(tmp_path, {"application.py": PLAIN_WSGI})
    rules = [step.split(":", 1)[0] for step in e.steps]
    assert rules[:1] == ["setting"] and "procfile" in rules and "s2i" in rules and "django" in rules
    assert rules[-1] == "convention"
    assert e.to_dict()["steps"] == list(e.steps)


# s2i's run script, the rest of it: module-only APP_MODULE, APP_HOME, setup.py projects, gunicorn configuration

def test_app_module_naming_a_module_serves_its_application(tmp_path):
    found = entry(tmp_path, {"wsgi.py": PLAIN_WSGI, "app.py": "print('not me')\n"}, environ={"APP_MODULE": "wsgi"})
    assert (found.kind, found.target, found.rule) == (WSGI, "wsgi:application", "setting")


def test_app_home_is_where_the_entry_point_is_looked_for(tmp_path):
    project = make(tmp_path, {"requirements.txt": "", "project/wsgi.py": PLAIN_WSGI,
                              ".s2i/environment": "APP_HOME=project\n"})
    assert project.app_dir == (tmp_path / "project").resolve()
    found = resolve(project)
    assert (found.target, found.source) == ("wsgi:application", "wsgi.py")


def test_app_home_that_is_not_a_folder_is_one_clear_error(tmp_path):
    with pytest.raises(ConfigError, match=r"APP_HOME=nowhere \(from an environment file\): no such folder"):
        make(tmp_path, {"wsgi.py": PLAIN_WSGI, ".s2i/environment": "APP_HOME=nowhere\n"})
    with pytest.raises(ConfigError, match="outside the app folder"):
        make(tmp_path, {".s2i/environment": "APP_HOME=../..\n"})


@pytest.mark.parametrize("files", [
    {"setup.py": "from setuptools import setup\nsetup(name='testapp', py_modules=['testapp'])\n"},
    {"setup.cfg": "[metadata]\nname = testapp\nversion = 0.1\n"},
    {"pyproject.toml": "[project]\nname = 'testapp'\nversion = '0.1'\n"},
])
def test_module_named_after_the_project_serves_its_application(tmp_path, files):
    found = entry(tmp_path, {**files, "testapp.py": PLAIN_WSGI})
    assert (found.kind, found.target, found.rule) == (WSGI, "testapp:application", "project")
    assert "names the project testapp" in found.reason


def test_project_name_with_dashes_is_a_module_with_underscores_in_src(tmp_path):
    found = entry(tmp_path, {"setup.cfg": "[metadata]\nname = my-site\n", "src/my_site/__init__.py": PLAIN_WSGI})
    assert found.target == "my_site:application"


def test_project_module_without_a_callable_is_not_an_entry_point(tmp_path):
    with pytest.raises(NoEntryPoint, match="named after the project"):
        entry(tmp_path, {"setup.py": "from setuptools import setup\nsetup(name='lib')\n", "lib.py": "X = 1\n"})


GUNICORN_CONF = "bind = '0.0.0.0:8085'\nworkers = 2\n"


def test_app_that_configured_gunicorn_and_lists_it_runs_gunicorn(tmp_path):
    found = entry(tmp_path, {"requirements.txt": "gunicorn\n", "wsgi.py": PLAIN_WSGI, "gunicorn.conf.py": GUNICORN_CONF})
    assert found.server == "gunicorn"
    assert found.config_file == str(tmp_path.resolve() / "gunicorn.conf.py")
    assert "gunicorn.conf.py sets bind" in found.server_reason and "lists gunicorn" in found.server_reason


def test_app_config_names_the_configuration(tmp_path):
    found = resolve(make(tmp_path, {"requirements.txt": "gunicorn==23.0.0\n", "app.py": PLAIN_WSGI, "conf/web.py": "workers = 2\n",
                                    ".s2i/environment": "APP_MODULE=app:application\nAPP_CONFIG=conf/web.py\n"}))
    assert (found.target, found.server) == ("app:application", "gunicorn")
    assert found.config_file.endswith("conf/web.py") and "APP_CONFIG=conf/web.py" in found.server_reason


@pytest.mark.parametrize("files, environ, server", [
    # gunicorn not declared: warp's default stands
    ({"requirements.txt": "", "wsgi.py": PLAIN_WSGI, "gunicorn.conf.py": GUNICORN_CONF}, {}, "bundled"),
    # a configuration that only tunes gunicorn chooses nothing
    ({"requirements.txt": "gunicorn\n", "wsgi.py": PLAIN_WSGI, "gunicorn.conf.py": "workers = 2\n"}, {}, "bundled"),
    # the server setting wins over the app's choice
    ({"requirements.txt": "gunicorn\n", "wsgi.py": PLAIN_WSGI, "gunicorn.conf.py": GUNICORN_CONF}, {"WARP_SERVER": "waitress"}, "waitress"),
])
def test_app_server_choice_needs_gunicorn_declared_a_choosing_config_and_no_setting(tmp_path, files, environ, server):
    assert entry(tmp_path, files, environ=environ).server == server


def test_app_config_naming_no_file_is_one_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="APP_CONFIG=missing.py: no such file"):
        entry(tmp_path, {"wsgi.py": PLAIN_WSGI}, environ={"APP_CONFIG": "missing.py"})
