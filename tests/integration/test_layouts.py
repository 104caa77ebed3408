"""The layout corpus: apps laid out as each tool's documentation tells its users, built and served unchanged.

tests/apps/layouts/ holds one small app per convention (s2i, warpdrive, Heroku,
Cloud Native Buildpacks, Flask's and Django's tutorial shapes, src layouts,
module names that differ from their folder). Each is copied, built with
`warp build` and started with `warp start`, and must answer the page it
serves. The apps warp refuses on purpose fail with one line naming the file
and the fix. Most apps need nothing from a package index; the few that need a
framework or gunicorn install it from pip's cache like any build.
"""

import shutil

import pytest

from support import free_port, one_error_line, warp, warp_env
from support.paths import APPS
from support.start import Started

LAYOUTS = APPS / "layouts"

# name: (path, text the page holds, a startup line expected)
SERVED = {
    "s2i-app-module": ("/", b"s2i APP_MODULE app:application", "-> app: app:application"),
    "s2i-app-module-only": ("/", b"s2i APP_MODULE names a module", "-> app: hello:application"),
    "s2i-app-file": ("/", b"s2i APP_FILE server.py", "APP_FILE=server.py"),
    "s2i-app-script": ("/", b"s2i APP_SCRIPT scripts/run.sh", "APP_SCRIPT=scripts/run.sh"),
    "s2i-app-home": ("/", b"s2i APP_HOME project, root importable", "-> app: wsgi:application"),
    "s2i-app-config": ("/", b"s2i APP_CONFIG under gunicorn", "-> server: gunicorn (APP_CONFIG=./gunicorn.conf.py"),
    "s2i-gunicorn-conf": ("/", b"s2i gunicorn.conf.py wsgi_app", "-> server: gunicorn (gunicorn.conf.py sets wsgi_app and bind"),
    "s2i-setup-py": ("/", b"s2i setup.py project testapp", "setup.py names the project testapp"),
    "s2i-setup-cfg": ("/", b"s2i setup.cfg project testapp", "setup.cfg names the project testapp"),
    "s2i-environment-file": ("/", b"hello from .s2i/environment ${NOT_EXPANDED}", "-> app: site_app:application"),
    "warpdrive-hooks": ("/", b"built by the build hook for warpdrive", "-> app: wsgi:application"),
    "warpdrive-server-args": ("/files/page.txt", b"warpdrive server_args static page", "-> app: wsgi:application"),
    "warpdrive-app-sh": ("/", b"warpdrive executable app.sh", "executable app.sh"),
    "warpdrive-app-py": ("/", b"warpdrive app.py run with python", "app.py defines no application/app, run with the app's Python"),
    "heroku-procfile": ("/", b"heroku Procfile web", "Procfile web: python serve.py"),
    "heroku-post-compile": ("/", b"compiled by bin/post_compile", "-> app: wsgi:application"),
    "heroku-flask": ("/", b"Hello, World! heroku flask", "Procfile web: gunicorn app:app"),
    "cnb-project-toml": ("/", b"cnb project.toml Procfile", "Procfile web: python serve.py"),
    "flask-factory": ("/hello", b"Hello, World! flask factory", "-> app: flaskr:create_app()"),
    "django-startproject": ("/", b"Hello, world. django polls index", "-> app: mysite.wsgi:application"),
    "s2i-app-home-django": ("/", b"django polls index under APP_HOME", "-> app: mysite.wsgi:application"),
    "src-layout-pyproject": ("/", b"src layout pyproject hello_site", "pyproject.toml names the project hello-site"),
    "module-differs-from-folder": ("/", b"acme.web.entry in folder module-differs-from-folder", "-> app: acme.web.entry:app"),
}
# Static files the app's own convention puts in place, fetched after its page.
DJANGO_STATIC = [("/static/site.css", b"body { margin: 0 }\n"), ("/static/polls/style.css", b"li a { color: green; }\n")]
STATIC = {"django-startproject": DJANGO_STATIC, "s2i-app-home-django": DJANGO_STATIC}
# name: (exit status, words of the one error line: the file or variable, and the fix)
REFUSED = {
    "refused-app-script-not-executable": (2, ["APP_SCRIPT=run.sh", "not executable", "chmod +x run.sh"]),
    "refused-app-home-missing": (2, ["APP_HOME=src/project", "no such folder", "point APP_HOME at the subfolder"]),
    "refused-unclosed-quote": (2, [".s2i/environment:1:", "does not close", 'end the value with "']),
}


def test_the_corpus_is_what_the_tests_name():
    present = sorted(path.name for path in LAYOUTS.iterdir() if path.is_dir())
    assert present == sorted([*SERVED, *REFUSED])
    assert len(SERVED) >= 20


def _copy(name, tmp_path):
    root = tmp_path / name
    shutil.copytree(LAYOUTS / name, root, symlinks=True)
    return root


@pytest.mark.parametrize("name", sorted(SERVED))
def test_layout_builds_and_serves_its_page(name, tmp_path):
    root = _copy(name, tmp_path)
    built = warp("build", cwd=root, timeout=900)
    assert built.returncode == 0, built.stdout + built.stderr
    path, text, line = SERVED[name]
    started = Started(root, [], warp_env(), free_port())
    try:
        status, body = started.wait_ready(path)
        assert status == 200 and text in body, (status, body[:300], started.output()[-3000:])
        for static, content in STATIC.get(name, []):
            status, body = started.wait_ready(static)
            assert (status, body) == (200, content), (static, started.output()[-3000:])
        assert line in started.output(), started.output()[-3000:]
    finally:
        started.terminate()


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_refused_layout_is_one_line_naming_the_file_and_the_fix(name, tmp_path):
    root = _copy(name, tmp_path)
    code, words = REFUSED[name]
    one_error_line(warp("build", cwd=root), code, *words)
    one_error_line(warp("start", "--print", cwd=root), code, *words)
