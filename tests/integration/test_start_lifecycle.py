"""`warp start` around the server: built by `warp build`, deploy hook, Procfile types, health, errors."""

from pathlib import Path
import json
import subprocess

import pytest

from support import fetch, free_port, warp, warp_command, warp_env, write
from support.start import Started


PLAIN_APP = {
    "wsgi.py": '''
        import os


        def application(environ, start_response):
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [("hello from " + os.environ.get("GREETING", "nobody")).encode()]
    ''',
    "requirements.txt": "",
    "public/site.css": "h1 { color: red }\n",
    "warp.yaml": "static:\n  /static/: public\n",
}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A plain WSGI app built by `warp build` with the default (bundled) server."""
    root = tmp_path_factory.mktemp("built")
    write(root, PLAIN_APP)
    result = warp("build", cwd=root)
    assert result.returncode == 0, result.stderr
    return root


def hook(root, name, text):
    path = root / ".warp" / "hooks" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)
    return path


def test_built_app_starts_with_bundled_server_and_static_files(built, tmp_path):
    port = free_port()
    started = Started(built, [], warp_env(GREETING="warp"), port)
    try:
        assert started.wait_ready("/") == (200, b"hello from warp")
        assert fetch(port, "/static/site.css") == (200, b"h1 { color: red }\n")
        assert started.terminate() == 0
    finally:
        started.kill()
    out = started.output()
    assert "-> server: bundled (default)" in out
    assert f"-> address: http://127.0.0.1:{port}/" in out


def test_failing_deploy_hook_stops_the_start(built, tmp_path):
    deploy = hook(built, "deploy", "#!/bin/sh\necho migrating\nexit 3\n")
    try:
        port = free_port()
        result = subprocess.run(warp_command("start", "--port", str(port)), cwd=built, env=warp_env(),
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 1
        assert "migrating" in result.stdout + result.stderr
        last = result.stderr.strip().splitlines()[-1]
        assert last.startswith("warp: error: hook deploy (.warp/hooks/deploy) failed with exit status 3")
        assert "Traceback" not in result.stderr
        with pytest.raises(OSError):
            fetch(port, "/", timeout=2)
    finally:
        deploy.unlink()


def test_deploy_hook_runs_before_every_start_with_the_runtime_environment(built, tmp_path):
    marker = tmp_path / "deployed"
    deploy = hook(built, "deploy", f'#!/bin/sh\necho "$PORT $VIRTUAL_ENV" > {marker}\n')
    try:
        port = free_port()
        started = Started(built, [], warp_env(), port)
        try:
            started.wait_ready("/")
            assert marker.read_text().split() == [str(port), str(built / ".warp" / "venv")]
            assert started.terminate() == 0
        finally:
            started.kill()
    finally:
        deploy.unlink()


def test_procfile_process_type_runs_with_the_same_environment(built):
    (built / "Procfile").write_text("worker: python -c \"import os, sys; print('worker', sys.prefix == os.environ['VIRTUAL_ENV'], os.environ['PORT'])\"\n")
    try:
        result = subprocess.run(warp_command("start", "worker", "--port", "9911"), cwd=built, env=warp_env(),
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip().splitlines()[-1] == "worker True 9911"
        unknown = subprocess.run(warp_command("start", "beat"), cwd=built, env=warp_env(), capture_output=True, text=True, timeout=60)
        assert unknown.returncode == 2
        assert unknown.stderr.strip().splitlines() == [
            f"warp: error: no process type 'beat' in {built / 'Procfile'} (Procfile has: worker)"]
    finally:
        (built / "Procfile").unlink()


def test_procfile_web_line_is_run_as_given_with_port_expanded(built):
    (built / "Procfile").write_text("web: python -m http.server $PORT --bind 127.0.0.1\n")
    try:
        port = free_port()
        printed = warp("start", "--print", "--port", str(port), cwd=built)
        assert printed.returncode == 0, printed.stderr
        assert printed.stdout.strip().splitlines()[-1].endswith(f"python -m http.server {port} --bind 127.0.0.1")
        started = Started(built, [], warp_env(), port)
        try:
            status, body = started.wait_ready("/")
            assert status == 200 and b"wsgi.py" in body  # http.server lists the app folder
            # warp exec'd the command: the process started as `warp start` is now http.server itself.
            cmdline = (Path("/proc") / str(started.process.pid) / "cmdline").read_bytes().split(b"\0")
            assert b"http.server" in cmdline and b"warp.cli" not in cmdline
            started.terminate()
        finally:
            started.kill()
    finally:
        (built / "Procfile").unlink()


def test_health_checks_http_and_hooks(built, tmp_path):
    port = free_port()
    env = {"PORT": port}
    down = warp("health", "--ready", cwd=built, env=env)
    assert down.returncode == 1
    assert len(down.stderr.strip().splitlines()) == 1 and "ready: GET http://127.0.0.1" in down.stderr
    started = Started(built, [], warp_env(), port)
    try:
        started.wait_ready("/")
        for flag in ("--alive", "--ready"):
            up = warp("health", flag, cwd=built, env=env)
            assert up.returncode == 0, up.stderr
            assert "200" in up.stdout
        ready = hook(built, "ready", "#!/bin/sh\nexit 1\n")
        try:
            failing = warp("health", "--ready", cwd=built, env=env)
            assert failing.returncode == 1
            assert "ready: hook ready (.warp/hooks/ready) failed with exit status 1" in failing.stderr
            # alive has no hook: it still checks over HTTP.
            assert warp("health", "--alive", cwd=built, env=env).returncode == 0
        finally:
            ready.unlink()
        assert started.terminate() == 0
    finally:
        started.kill()


def test_server_args_from_setting_and_warpdrive_file_are_passed_through(built):
    (built / ".warpdrive").mkdir(exist_ok=True)
    (built / ".warpdrive" / "server_args").write_text("# extra flags\n--header-timeout 7\n")
    try:
        result = warp("start", "--print", "--json", cwd=built, env={"WARP_SERVER_ARGS": "--keepalive-timeout 3"})
        assert result.returncode == 0, result.stderr
        argv = json.loads(result.stdout)["argv"]
        assert argv[-4:] == ["--keepalive-timeout", "3", "--header-timeout", "7"]
    finally:
        (built / ".warpdrive" / "server_args").unlink()


def test_environment_files_choose_settings(built):
    (built / ".s2i").mkdir(exist_ok=True)
    (built / ".s2i" / "environment").write_text("WEB_CONCURRENCY=3\nPORT=9123\n")
    try:
        plan = json.loads(warp("start", "--print", "--json", cwd=built).stdout)
        assert plan["argv"][plan["argv"].index("--workers") + 1] == "3"
        assert "--bind" in plan["argv"] and "0.0.0.0:9123" in plan["argv"]
    finally:
        (built / ".s2i" / "environment").unlink()


def test_no_entry_point_is_one_line_and_exit_2(tmp_path):
    write(tmp_path, {"requirements.txt": "", "notes.txt": "no app here\n"})
    result = warp("start", "--print", cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("warp: error: no entry point found in")
    assert "Procfile" in lines[0] and "manage.py" in lines[0]


def test_start_before_build_says_to_build(tmp_path):
    write(tmp_path, {"wsgi.py": "def application(e, s):\n    pass\n"})
    result = warp("start", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"warp: error: no application environment at {tmp_path / '.warp' / 'venv'} (run `warp build` first)"]


def test_build_installs_the_chosen_server_and_whitenoise_then_serves_static_through_it(tmp_path):
    root = tmp_path / "app"
    write(root, dict(PLAIN_APP, **{"warp.yaml": "server: waitress\nstatic:\n  /static/: public\n"}))
    result = warp("build", "--json", cwd=root)
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert [r.split(";")[0] for r in record["server"]["requirements"]] == ["waitress==3.0.2", "whitenoise==6.12.0", "whitenoise==6.11.0"]
    assert {"waitress", "whitenoise"} <= {name.lower() for name in record["packages"]}
    assert "click" not in {name.lower() for name in record["packages"]}
    port = free_port()
    started = Started(root, [], warp_env(GREETING="waitress"), port)
    try:
        assert started.wait_ready("/") == (200, b"hello from waitress")
        assert fetch(port, "/static/site.css") == (200, b"h1 { color: red }\n")
        assert started.terminate() == 0
    finally:
        started.kill()
    out = started.output()
    assert "-> static via: WhiteNoise" in out
    assert '"GET /static/site.css HTTP/1.1" 200' in out  # the access log warp adds for waitress


def test_django_startproject_built_by_warp_serves_admin_css(tmp_path):
    """The build record's STATIC_URL/STATIC_ROOT (collectstatic's default root) reach the server."""
    root = tmp_path / "site"
    root.mkdir()
    (root / "requirements.txt").write_text("django==5.2.19\n")
    first = warp("build", cwd=root)
    assert first.returncode == 0, first.stderr
    made = warp("exec", "django-admin", "startproject", "mysite", ".", cwd=root)
    assert made.returncode == 0, made.stderr
    second = warp("build", cwd=root)
    assert second.returncode == 0, second.stderr
    plan = json.loads(warp("start", "--print", "--json", cwd=root).stdout)
    static = [fact["value"] for fact in plan["facts"] if fact["label"] == "static"][0]
    assert static.startswith(f"/static/ -> {root / 'staticfiles'}") and "build record" in static
    port = free_port()
    started = Started(root, ["--workers", "1"], warp_env(), port)
    try:
        status, _ = started.wait_ready("/")
        assert status == 200
        status, body = fetch(port, "/static/admin/css/base.css")
        assert status == 200 and len(body) > 1000
        assert started.terminate() == 0
    finally:
        started.kill()
