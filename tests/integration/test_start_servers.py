"""`warp start` under each of the six servers: real apps, real servers, pages and static files over HTTP.

Apps: plain WSGI, Flask, a Django project from `django-admin startproject`, and
an app pinning click==7.1.2 (warp's own click must not reach it). Each is
started with `warp start --server S`, answers its page and a static file, and
exits 0 on TERM.
"""

import json
import os
import shutil
import signal
import subprocess
import threading
import time

import pytest

from support import fetch, free_port, warp_command, warp_env, write
from warp.runtime.accesslog import FIELDS
from support.start import (
    Envs, Started, apxs_missing, base_python, children, httpd_missing, make_world_readable_dir,
)

# mod_wsgi needs Apache (httpd and apxs): its cases carry the apache marker.
SERVERS = tuple(pytest.param(name, marks=pytest.mark.apache) if name == "mod_wsgi" else name
                for name in ("bundled", "gunicorn", "uwsgi", "waitress", "mod_wsgi", "uvicorn"))


def needs(server):
    """Skip only when a real part a server needs is absent from this machine."""
    if server == "mod_wsgi":
        if apxs_missing():
            pytest.skip("apxs (apache2-dev) is not installed")
        if httpd_missing():
            pytest.skip("Apache httpd (apache2-bin) is not installed")
        if base_python() is None:
            pytest.skip("no interpreter readable by the unprivileged user Apache needs as root")


@pytest.fixture(scope="session")
def start_base():
    folder = make_world_readable_dir("warp-start-")
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def envs(start_base):
    return Envs(start_base)


@pytest.fixture(scope="session")
def shared_env(envs):
    """Django, Flask, WhiteNoise and the servers, shared by the apps that allow it."""
    return envs.get("shared", "bundled")


PLAIN = {
    "wsgi.py": '''
        def application(environ, start_response):
            if environ["PATH_INFO"] != "/":
                start_response("404 Not Found", [("Content-Type", "text/plain")])
                return [b"not here"]
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"plain wsgi says hi"]
    ''',
    "public/hello.txt": "static hello\n",
    "warp.yaml": "static:\n  /static/: public\n",
}

FLASK = {
    "app.py": '''
        from flask import Flask

        app = Flask(__name__, static_folder=None)


        @app.route("/")
        def index():
            return "flask says hi"


        if __name__ == "__main__":
            app.run()
    ''',
    "assets/site.css": "body { color: teal }\n",
    "warp.yaml": "static:\n  /assets/: assets\n",
}

CLICK = {
    "wsgi.py": '''
        import click


        def application(environ, start_response):
            if environ["PATH_INFO"] != "/":
                start_response("404 Not Found", [("Content-Type", "text/plain")])
                return [b"not here"]
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [("click " + click.__version__).encode()]
    ''',
    "static/pin.txt": "pinned\n",
    "requirements.txt": "click==7.1.2\n",
    "warp.yaml": "static:\n  /static/: static\n",
}


@pytest.fixture(scope="session")
def apps(start_base, shared_env):
    """{name: (folder, environment)}; the Django project is made by startproject and collected."""
    made = {}
    for name, files in (("plain", PLAIN), ("flask", FLASK), ("click", CLICK)):
        root = start_base / name
        root.mkdir()
        write(root, files)
        made[name] = (root, "click" if name == "click" else "shared")
    django = start_base / "django"
    django.mkdir()
    subprocess.run([str(shared_env / "bin" / "django-admin"), "startproject", "mysite", "."], cwd=django, check=True, timeout=60)
    # collectstatic as `warp build` runs it: the startproject settings have no
    # STATIC_ROOT, so a settings wrapper adds the default folder, staticfiles/.
    shim = start_base / "collect"
    shim.mkdir()
    (shim / "collect_settings.py").write_text(f"from mysite.settings import *\nSTATIC_ROOT = {str(django / 'staticfiles')!r}\n")
    env = warp_env(DJANGO_SETTINGS_MODULE="collect_settings", PYTHONPATH=f"{shim}:{django}")
    subprocess.run([str(shared_env / "bin" / "python"), "manage.py", "collectstatic", "--noinput"],
                   cwd=django, env=env, check=True, timeout=120, capture_output=True)
    assert (django / "staticfiles" / "admin" / "css" / "base.css").is_file()
    made["django"] = (django, "shared")
    return made


EXPECT = {
    "plain": ("/", b"plain wsgi says hi", "/static/hello.txt", b"static hello\n"),
    "flask": ("/", b"flask says hi", "/assets/site.css", b"body { color: teal }\n"),
    "click": ("/", b"click 7.1.2", "/static/pin.txt", b"pinned\n"),
    "django": ("/", b"django", "/static/admin/css/base.css", None),
}


@pytest.mark.parametrize("server", SERVERS)
@pytest.mark.parametrize("app", ["plain", "flask", "django", "click"])
def test_app_under_server_serves_pages_and_static_then_stops_on_term(app, server, apps, envs, tmp_path):
    needs(server)
    root, kind = apps[app]
    venv = envs.get(kind, server)
    page, page_text, static, static_body = EXPECT[app]
    port = free_port()
    started = Started(root, ["--server", server, "--workers", "2"], warp_env(venv), port, tmp_path)
    try:
        status, body = started.wait_ready(page)
        assert status == 200, (status, body[:300], started.output()[-3000:])
        assert page_text in body.lower() if app == "django" else page_text in body
        status, body = fetch(port, static)
        assert status == 200, (static, status, started.output()[-3000:])
        if static_body is not None:
            assert body == static_body
        else:
            assert b"body" in body and len(body) > 1000
        status, _ = fetch(port, static.rsplit("/", 1)[0] + "/missing-file.css")
        assert status == 404
        assert started.terminate() == 0, started.output()[-3000:]
    finally:
        started.kill()
    out = started.output()
    # The startup lines people need, before the server's own output.
    for label in ("app:", "server:", "address:", "workers:", "static:"):
        assert f"-> {label}" in out
    assert f"-> server: {server}" in out


@pytest.mark.parametrize("server", SERVERS)
def test_print_shows_exact_command_and_environment(server, apps, envs):
    needs(server)
    root, kind = apps["django"]
    venv = envs.get(kind, server)
    result = subprocess.run(warp_command("start", "--print", "--json", "--server", server, "--port", "8123", "--workers", "3"),
                            cwd=root, env=warp_env(venv), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    argv = plan["argv"]
    assert plan["server"] == server
    assert plan["env"]["PORT"] == "8123" and plan["env"]["VIRTUAL_ENV"] == str(venv)
    assert plan["env"]["PYTHONPATH"].split(":")[0].endswith("pythonpath")
    joined = " ".join(argv)
    static_root = str(root / "staticfiles")
    native = {
        "bundled": ["-m warp.runtime.server mysite.wsgi:application", "--bind 0.0.0.0:8123", "--workers 3", f"--static /static/={static_root}"],
        "gunicorn": ["--bind 0.0.0.0:8123", "--workers 3", "warp.runtime.shim:application"],
        "uwsgi": ["--http-socket 0.0.0.0:8123", "--processes 3", "--module mysite.wsgi:application", f"--static-map /static={static_root}"],
        "waitress": ["-m warp.runtime.shim waitress", "--listen=0.0.0.0:8123", "warp.runtime.shim:application"],
        "mod_wsgi": ["-m warp.runtime.shim relay --map TERM:WINCH --", "start-server", "--port 8123", "--processes 3", "--entry-point mysite.wsgi", f"--url-alias /static/ {static_root}/"],
        # Django under uvicorn is served through its asgi.py.
        "uvicorn": ["-m warp.runtime.shim uvicorn", "--port 8123", "--workers 3", "warp.runtime.shim:asgi"],
    }[server]
    entry = "mysite.asgi:application" if server == "uvicorn" else "mysite.wsgi:application"
    for part in native:
        assert part in joined, (part, joined)
    if server in ("gunicorn", "waitress", "uvicorn"):
        assert plan["env"]["WARP_APP"] == entry
        assert json.loads(plan["env"]["WARP_STATIC_MAP"]) == {"/static/": static_root}
    # The text form: facts, then the rule-by-rule explanation, then the command to paste.
    text = subprocess.run(warp_command("start", "--print", "--server", server, "--port", "8123"),
                          cwd=root, env=warp_env(venv), capture_output=True, text=True, timeout=120)
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0].startswith(f"# app: {entry}")
    assert any(line.startswith("#   django: manage.py names DJANGO_SETTINGS_MODULE=mysite.settings") for line in lines)
    assert lines[-1].split()[0] == argv[0]


def test_asgi_app_is_served_by_uvicorn_with_static_files(start_base, shared_env, tmp_path):
    root = start_base / "asgi"
    root.mkdir()
    write(root, {
        "main.py": '''
            async def app(scope, receive, send):
                if scope["type"] != "http":
                    return
                await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
                await send({"type": "http.response.body", "body": b"asgi says hi"})
        ''',
        "static/a.txt": "asgi static\n",
        "warp.yaml": "static:\n  /static/: static\n",
    })
    port = free_port()
    started = Started(root, ["--workers", "1"], warp_env(shared_env), port, tmp_path)
    try:
        assert started.wait_ready("/") == (200, b"asgi says hi")
        assert fetch(port, "/static/a.txt") == (200, b"asgi static\n")
        assert started.terminate() == 0
    finally:
        started.kill()
    assert "-> server: uvicorn (the entry point is ASGI" in started.output()


def test_bundled_server_refuses_asgi_in_one_line(start_base, shared_env):
    root = start_base / "asgi-refused"
    root.mkdir()
    write(root, {"main.py": "async def app(scope, receive, send):\n    pass\n"})
    result = subprocess.run(warp_command("start", "--server", "bundled"), cwd=root, env=warp_env(shared_env),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "bundled server serves WSGI only" in lines[0] and "uvicorn" in lines[0]


SLOW = {
    "wsgi.py": '''
        import os
        import time


        def application(environ, start_response):
            if environ["PATH_INFO"] == "/slow":
                # Tell the test the request is in flight, then take a while.
                open(os.path.join(os.path.dirname(__file__), "markers", "in-flight"), "w").close()
                time.sleep(2)
                body = b"finished after TERM"
            else:
                body = b"ok"
            start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
            return [body]
    ''',
}


@pytest.mark.parametrize("server", SERVERS)
def test_term_drains_the_request_in_flight_and_exits_0(server, start_base, envs, tmp_path):
    needs(server)
    root = start_base / f"slow-{server}"
    root.mkdir()
    write(root, SLOW)
    # World-writable: under root, mod_wsgi's processes run as nobody.
    (root / "markers").mkdir()
    (root / "markers").chmod(0o777)
    port = free_port()
    started = Started(root, ["--server", server, "--workers", "1", "--graceful-timeout", "20"], warp_env(envs.get("shared", server)), port)
    try:
        assert started.wait_ready("/") == (200, b"ok")
        result = {}

        def slow():
            result["answer"] = fetch(port, "/slow", timeout=30)

        thread = threading.Thread(target=slow)
        thread.start()
        deadline = time.monotonic() + 30
        while not list((root / "markers").glob("in-flight")) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert list((root / "markers").glob("in-flight")), started.output()[-2000:]
        status = started.terminate(timeout=40)
        thread.join(timeout=30)
        assert result.get("answer") == (200, b"finished after TERM"), started.output()[-3000:]
        assert status == 0, started.output()[-3000:]
    finally:
        started.kill()



def test_uwsgi_term_while_a_worker_is_still_starting_exits_0(start_base, envs):
    """TERM reaches uWSGI while one worker answers and the other is still between fork and its own handlers.

    uWSGI's graceful stop HUPs each worker and blocks until it exits; a worker
    that ignored the HUP (the master's startup disposition) hung it for good.
    A post-fork hook holds the second worker in that window for the test.
    """
    root = start_base / "uwsgi-starting"
    root.mkdir()
    first, held = root / "markers" / "first", root / "markers" / "held"
    # mkdir is atomic: exactly one worker makes the folder and goes on.
    hold = f"exec:mkdir {first} 2>/dev/null || {{ touch {held}; sleep 60; }}"
    write(root, {"wsgi.py": PLAIN["wsgi.py"], "markers/.keep": ""})
    (root / "warp.yaml").write_text(json.dumps({"server_args": ["--hook-post-fork", hold]}))
    port = free_port()
    started = Started(root, ["--server", "uwsgi", "--workers", "2"], warp_env(envs.get("shared", "uwsgi")), port)
    try:
        assert started.wait_ready("/") == (200, b"plain wsgi says hi")
        deadline = time.monotonic() + 30
        while not held.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert held.exists(), started.output()[-3000:]
        assert started.terminate() == 0, started.output()[-3000:]
    finally:
        started.kill()


def test_app_gunicorn_conf_is_honoured_and_only_chosen_settings_override_it(start_base, shared_env, tmp_path):
    """s2i/warpdrive convention: gunicorn.conf.py names wsgi_app; its own settings stay unless the user sets one."""
    root = start_base / "gunicorn-conf"
    root.mkdir()
    write(root, {
        "hello/main.py": '''
            def application(environ, start_response):
                start_response("200 OK", [("Content-Type", "text/plain")])
                return [b"from gunicorn.conf.py"]
        ''',
        "gunicorn.conf.py": "wsgi_app = 'hello.main:application'\nworkers = 3\n",
    })
    env = warp_env(shared_env, WARP_SERVER="gunicorn")
    plan = json.loads(subprocess.run(warp_command("start", "--print", "--json"), cwd=root, env=env,
                                     capture_output=True, text=True, timeout=60).stdout)
    assert plan["argv"][1:3] == ["--config", str(root / "gunicorn.conf.py")]
    assert "--workers" not in plan["argv"] and plan["argv"][-1] == "hello.main:application"
    assert plan["entrypoint"]["rule"] == "s2i"
    port = free_port()
    started = Started(root, [], env, port)
    try:
        assert started.wait_ready("/") == (200, b"from gunicorn.conf.py")
        assert started.wait_workers(3)
        assert started.terminate() == 0
    finally:
        started.kill()
    assert started.output().count("Booting worker") == 3  # the conf file's workers, not warp's default


ORPHANS = {
    "wsgi.py": '''
        import subprocess


        def application(environ, start_response):
            if environ["PATH_INFO"] == "/orphan":
                # The shell exits at once; its `sleep` is orphaned to PID 1, then exits too.
                subprocess.run(["/bin/sh", "-c", "sleep 0 & exit 0"])
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"ok"]
    ''',
}


@pytest.mark.root
@pytest.mark.skipif(shutil.which("unshare") is None or os.geteuid() != 0, reason="needs unshare and root for a PID namespace")
@pytest.mark.parametrize("server", ["waitress", "uvicorn"])
def test_as_pid_1_orphans_are_reaped_and_term_exits_0(server, start_base, shared_env):
    """In a container without an init, warp runs first as PID 1: its relay reaps orphans and passes TERM on."""
    root = start_base / f"pid1-{server}"
    root.mkdir()
    write(root, ORPHANS)
    port = free_port()
    started = Started(root, ["--server", server, "--workers", "1"], warp_env(shared_env), port,
                      prefix=("unshare", "--pid", "--fork", "--kill-child"))
    try:
        assert started.wait_ready("/") == (200, b"ok")
        deadline = time.monotonic() + 10
        while not children(started.process.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        (init_pid, name, _), = children(started.process.pid)  # PID 1 inside the namespace
        assert name == "python"  # the relay, not the server itself
        assert fetch(port, "/orphan") == (200, b"ok")
        # Unreaped, the orphan would stay a zombie child of PID 1 for good.
        deadline = time.monotonic() + 30
        while any(child[1] == "sleep" for child in children(init_pid)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(child[1] == "sleep" for child in children(init_pid)), children(init_pid)
        os.kill(init_pid, signal.SIGTERM)
        assert started.process.wait(timeout=60) == 0, started.output()[-3000:]
    finally:
        started.kill()


def _access_records(output):
    """The JSON access-log lines in a server's output."""
    records = []
    for line in output.splitlines():
        if line.startswith("{") and '"duration_us"' in line:
            records.append(json.loads(line))
    return records


def _one_access_record(root, venv, server, tmp_path, target="/nowhere%20here?a=1&b=two"):
    """Start ``server`` with JSON access logs, send one request that gets a 404, return its log record."""
    port = free_port()
    started = Started(root, ["--server", server, "--workers", "1", "--access-log-format", "json"],
                      warp_env(venv), port, tmp_path)
    try:
        started.wait_ready("/")
        assert fetch(port, target)[0] == 404
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            found = [r for r in _access_records(started.output()) if r["path"].startswith("/nowhere")]
            if found:
                break
            time.sleep(0.1)
        assert found, started.output()[-3000:]
        assert started.terminate() == 0, started.output()[-3000:]
    finally:
        started.kill()
    return found[0]


def test_bundled_server_and_waitress_write_the_same_access_log_shape(apps, envs, tmp_path):
    """The same request through the bundled server and through waitress (run by the
    shim): the same keys, the same values but for time, duration and pid."""
    root, kind = apps["plain"]
    bundled, waitress = (_one_access_record(root, envs.get(kind, server), server, tmp_path) for server in ("bundled", "waitress"))
    assert list(bundled) == list(waitress) == list(FIELDS)
    for record in (bundled, waitress):
        assert record["time"].endswith("Z") and isinstance(record["duration_us"], int) and isinstance(record["pid"], int)
    same = ("remote", "method", "path", "query", "protocol", "status", "bytes")
    assert {k: bundled[k] for k in same} == {k: waitress[k] for k in same} == {
        "remote": "127.0.0.1", "method": "GET", "path": "/nowhere%20here", "query": "a=1&b=two",
        "protocol": "HTTP/1.1", "status": 404, "bytes": len(b"not here")}


ASGI_404 = {
    "asgi.py": '''
        async def application(scope, receive, send):
            assert scope["type"] == "http"
            found = scope["path"] == "/"
            body = b"asgi says hi" if found else b"not here"
            await send({"type": "http.response.start", "status": 200 if found else 404,
                        "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": body})
    ''',
}


def test_uvicorn_writes_the_same_access_log_shape_for_asgi_and_wsgi(apps, envs, start_base, tmp_path):
    """uvicorn's own log has another shape: the shim writes warp's lines instead, for both interfaces."""
    plain, kind = apps["plain"]
    asgi = start_base / "asgi-404"
    asgi.mkdir(exist_ok=True)
    write(asgi, ASGI_404)
    venv = envs.get(kind, "uvicorn")
    for root in (plain, asgi):
        record = _one_access_record(root, venv, "uvicorn", tmp_path)
        assert list(record) == list(FIELDS) and record["time"].endswith("Z"), root
        assert {k: record[k] for k in ("remote", "method", "path", "query", "protocol", "status", "bytes")} == {
            "remote": "127.0.0.1", "method": "GET", "path": "/nowhere%20here", "query": "a=1&b=two",
            "protocol": "HTTP/1.1", "status": 404, "bytes": len(b"not here")}, root


@pytest.mark.parametrize("server", [s for s in SERVERS if (s.values[0] if hasattr(s, "values") else s) in ("gunicorn", "uwsgi", "mod_wsgi")])
def test_servers_writing_their_own_access_log_use_the_same_keys(server, apps, envs, tmp_path):
    """gunicorn, uWSGI and mod_wsgi write their own lines, from templates with the same keys.
    Their time is their own local stamp, and they log the decoded path."""
    from urllib.parse import unquote

    needs(server)
    root, kind = apps["plain"]
    record = _one_access_record(root, envs.get(kind, server), server, tmp_path)
    assert list(record) == list(FIELDS)
    assert (record["remote"], record["method"], record["query"], record["protocol"], record["status"]) == \
        ("127.0.0.1", "GET", "a=1&b=two", "HTTP/1.1", 404)
    assert unquote(record["path"]) == "/nowhere here" and str(record["bytes"]) == str(len(b"not here"))
    assert isinstance(record["duration_us"], int)


LOCALE_APP = {
    # Like s2i's locale test app: a Flask app that reads the locale variables and prints non-ASCII at import.
    "app.py": '''
        import json, locale, os, sys

        from flask import Flask

        print("import says \\u292e", flush=True)
        app = Flask(__name__)


        @app.route("/")
        def index():
            print("request says \\u292e")
            return json.dumps({
                "PYTHONIOENCODING": os.environ["PYTHONIOENCODING"], "LANG": os.environ["LANG"],
                "LC_ALL": os.environ["LC_ALL"], "PYTHONUNBUFFERED": os.environ["PYTHONUNBUFFERED"],
                "preferred": locale.getpreferredencoding(False), "stdout": sys.stdout.encoding,
            })
    ''',
    "asgi.py": '''
        import json, locale, os


        async def application(scope, receive, send):
            body = json.dumps({name: os.environ[name] for name in ("PYTHONIOENCODING", "LANG", "LC_ALL", "PYTHONUNBUFFERED")}
                              | {"preferred": locale.getpreferredencoding(False)}).encode()
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
            await send({"type": "http.response.body", "body": body})
    ''',
}


@pytest.mark.parametrize("server", SERVERS)
def test_every_server_runs_the_app_with_a_utf8_locale_unless_the_user_chose_one(server, start_base, envs, tmp_path):
    needs(server)
    root = start_base / f"locale-{server}"
    root.mkdir()
    write(root, LOCALE_APP)
    args = ["--server", server, "--workers", "1"] + (["--entrypoint", "asgi:application"] if server == "uvicorn" else [])
    env = warp_env(envs.get("shared", server), LANG=None, LC_ALL=None, LC_CTYPE=None, PYTHONIOENCODING=None,
                   PYTHONUNBUFFERED=None)
    started = Started(root, args, env, free_port())
    try:
        status, body = started.wait_ready("/")
        assert status == 200, started.output()[-3000:]
        seen = json.loads(body)
        assert seen["PYTHONIOENCODING"] == "UTF-8" and seen["PYTHONUNBUFFERED"] == "1"
        assert seen["LANG"] == seen["LC_ALL"] and seen["LANG"].endswith("UTF-8")
        assert seen["preferred"].upper().replace("-", "") == "UTF8"
        if server != "uvicorn":
            # Written as UTF-8; Apache's error log shows those bytes escaped.
            assert "import says \u292e" in started.output() or "import says \\xe2\\xa4\\xae" in started.output()
    finally:
        started.terminate()
    # A locale the user set is theirs (another folder: Apache keeps its pid file in the app's .warp/run).
    root = start_base / f"locale-{server}-chosen"
    root.mkdir()
    write(root, LOCALE_APP)
    env.update(LANG="C.UTF-8", PYTHONIOENCODING="utf-8:replace")
    started = Started(root, args, env, free_port())
    try:
        status, body = started.wait_ready("/")
        seen = json.loads(body)
        assert (seen["LANG"], seen["LC_ALL"], seen["PYTHONIOENCODING"]) == ("C.UTF-8", "C.UTF-8", "utf-8:replace")
    finally:
        started.terminate()
