"""`warp image` against the real Docker Engine (its errors without one: test_image_cli.py).

The base image is the local Debian one that tests/images/debian-base.sh makes
(no image can be pulled where the tests run); it is built once and reused.
Everything is skipped only when no engine answers or the base cannot be made.
"""

from pathlib import Path
import io
import json
import os
import re
import shutil
import signal
import subprocess
import tarfile
import time
import urllib.error
import urllib.request
import uuid

import docker
import pytest

from support.engine import BASE_IMAGE, base_image_or_skip, engine_or_skip
from support import REPO, free_port, one_error_line, wait_for, warp, warp_command, warp_env, write
from warp.app.requirements import canonical_name

pytestmark = pytest.mark.docker

BASE = BASE_IMAGE
RUN_ID = uuid.uuid4().hex[:8]


def image_name(what):
    return f"warp-test-{what}-{RUN_ID}"


@pytest.fixture(scope="session")
def engine():
    client = engine_or_skip()
    made = []
    yield client, made
    for reference in made:
        full = reference if ":" in reference.rsplit("/", 1)[-1] else reference + ":latest"
        # The image, then the builder image warp keeps as its layer cache.
        builders = client.images.list(filters={"label": f"warp.image.builder-for={full}"})
        for image in [reference] + [b.id for b in builders]:
            try:
                client.images.remove(image, force=True)
            except docker.errors.APIError:
                pass


@pytest.fixture(scope="session")
def base_image(engine):
    client, _ = engine
    return base_image_or_skip(client)


def assert_not_tagged(client, reference):
    with pytest.raises(docker.errors.ImageNotFound):
        client.images.get(reference)


# -- errors --------------------------------------------------------------------

def test_missing_base_image_is_one_line_and_nothing_tagged(engine, tmp_path):
    client, _ = engine
    app = write(tmp_path, {"app.py": "def application(environ, start_response): pass\n"})
    name = image_name("nobase")
    proc = warp("image", name, "--app", str(app), "--base-image", f"warp-test-absent-{RUN_ID}:nope")
    one_error_line(proc, 1, "base image", f"warp-test-absent-{RUN_ID}:nope", "--base-image")
    assert_not_tagged(client, name)


def test_failing_build_step_is_one_line_and_nothing_tagged(engine, base_image, tmp_path):
    client, _ = engine
    app = write(tmp_path, {
        "app.py": "def application(environ, start_response): pass\n",
        "requirements.txt": f"warp-test-no-such-distribution-{RUN_ID}==0.0.1\n",
    })
    name = image_name("failing")
    proc = warp("image", name, "--app", str(app), "--base-image", base_image, env={"PIP_RETRIES": "0"}, timeout=900)
    line = one_error_line(proc, 1, "image build failed at step")
    assert "warp build" in line  # the hint says how to reproduce it outside Docker
    assert_not_tagged(client, name)


# -- building and running real apps -------------------------------------------

ARBITRARY_UID = "1000470000:0"
MARKER = f"warp-marker-{RUN_ID}"


def git(app, *args):
    return subprocess.run(["git", "-C", str(app), *args], capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture(scope="session")
def pip_secrets(tmp_path_factory):
    """Host pip settings that must reach the build stage and nothing else: a CA
    bundle (the host's, plus a marker line PEM readers skip), an extra index
    with credentials (unreachable, so pip skips it) and a trusted host."""
    folder = tmp_path_factory.mktemp("pip-secrets")
    host_bundle = Path(os.environ.get("PIP_CERT") or "/etc/ssl/certs/ca-certificates.crt")
    bundle = folder / "ca.pem"
    bundle.write_bytes(host_bundle.read_bytes() + f"\n# {MARKER}-ca\n".encode())
    return {
        "PIP_CERT": str(bundle),
        "PIP_EXTRA_INDEX_URL": f"https://warp-test:{MARKER}-password@127.0.0.1:9/simple/",
        "PIP_TRUSTED_HOST": f"{MARKER}-host.invalid",
        "PIP_RETRIES": "0",
    }


REMOTE = f"https://warp-test:{MARKER}-token@git.example.invalid/team/hello.git"


def build(engine, app, name, *args, env=None):
    """`warp image NAME --json [ARGS]` on ``app``; returns (parsed JSON, stderr)."""
    client, made = engine
    proc = warp("image", name, "--app", str(app), "--base-image", BASE, "--json", *args, env=env, timeout=900)
    made.append(name)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout), proc.stderr


@pytest.fixture(scope="session")
def flask_app(tmp_path_factory):
    app = tmp_path_factory.mktemp("flask") / "hello"
    shutil.copytree(REPO / "examples/hello", app, ignore=shutil.ignore_patterns(".warp", "__pycache__"))
    # Things that must stay out of the image: .dockerignore'd notes, the
    # host's venv and git metadata.
    (app / "notes-secret.txt").write_text("not for the image\n")
    (app / ".dockerignore").write_text("notes-*.txt\n")
    (app / ".warp/venv/bin").mkdir(parents=True)
    (app / ".warp/venv/bin/host-only").write_text("")
    git(app, "init", "-q")
    # A remote with credentials in its URL, as CI checkouts often have.
    git(app, "remote", "add", "origin", REMOTE)
    git(app, "-c", "user.name=t", "-c", "user.email=t@t.invalid", "add", "-A")
    git(app, "-c", "user.name=t", "-c", "user.email=t@t.invalid", "commit", "-qm", "app")
    return app


@pytest.fixture(scope="session")
def flask_sbom(tmp_path_factory):
    return tmp_path_factory.mktemp("sbom") / "flask.cdx.json"


@pytest.fixture(scope="session")
def flask_image(engine, base_image, flask_app, pip_secrets, flask_sbom):
    name = image_name("flask")
    result, _ = build(engine, flask_app, name, "--sbom", str(flask_sbom), env=pip_secrets)
    return result


class Running:
    """A container started from an image, with its published port."""

    def __init__(self, client, image, *, user=None, read_only=False, environment=None, port=8080, command=None):
        self.port = port
        self.container = client.containers.run(
            image, command, detach=True, user=user, read_only=read_only,
            tmpfs={"/tmp": ""} if read_only else None,
            environment=environment or {}, ports={f"{port}/tcp": ("127.0.0.1", None)},
        )
        self.container.reload()
        self.host_port = int(self.container.ports[f"{port}/tcp"][0]["HostPort"])

    def get(self, path, timeout=60):
        """GET path, polling until the server answers; returns (status, body)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.host_port}{path}", timeout=5) as response:
                    return response.status, response.read().decode()
            except urllib.error.HTTPError as exc:
                return exc.code, exc.read().decode()
            except (urllib.error.URLError, ConnectionError, OSError):
                self.container.reload()
                if self.container.status == "exited" or time.monotonic() > deadline:
                    raise AssertionError(f"no answer on {path}; logs:\n{self.logs()}") from None
                time.sleep(0.2)

    def logs(self):
        return self.container.logs().decode("utf-8", "replace")[-3000:]

    def terminate(self, timeout=30):
        """Send TERM as `docker stop` does; return the exit code."""
        self.container.kill(signal="SIGTERM")
        return self.container.wait(timeout=timeout)["StatusCode"]

    def remove(self):
        self.container.remove(force=True)


def run_once(client, image, command, **kwargs):
    """Run ``command`` (through the image's entrypoint) and return its output."""
    out = client.containers.run(image, command, remove=True, stdout=True, stderr=True, **kwargs)
    return out.decode().strip()


def test_json_output_names_id_tags_size_and_timings(flask_image):
    assert flask_image["ok"] is True
    assert flask_image["id"].startswith("sha256:")
    assert flask_image["tags"] == [image_name("flask") + ":latest"]
    assert flask_image["size"] > 0
    assert set(flask_image["timings"]) >= {"context", "build", "total"}


def test_flask_serves_under_arbitrary_uid_with_read_only_root(engine, flask_image):
    client, _ = engine
    running = Running(client, flask_image["id"], user=ARBITRARY_UID, read_only=True)
    try:
        status, body = running.get("/")
        assert (status, "Hello from warp" in body) == (200, True), running.logs()
        status, body = running.get("/static/hello.css")
        assert status == 200 and body.strip(), running.logs()
        # The image's HEALTHCHECK command, run as the engine would.
        check = client.images.get(flask_image["id"]).attrs["Config"]["Healthcheck"]["Test"]
        code, output = running.container.exec_run(check[1:])
        assert code == 0, output
        # TERM stops it promptly and cleanly (warp start is PID 1).
        assert running.terminate() == 0, running.logs()
    finally:
        running.remove()


def test_pid_1_reaps_orphans(engine, flask_image):
    client, _ = engine
    running = Running(client, flask_image["id"])
    try:
        assert running.get("/")[0] == 200, running.logs()
        # An orphan (its shell exits at once) is re-parented to PID 1, warp
        # start's server, which must reap it when it ends.
        code, output = running.container.exec_run(["sh", "-c", "sleep 1 & exit 0"])
        assert code == 0, output
        states = "for s in /proc/[0-9]*/stat; do cat $s 2>/dev/null; echo; done"
        def reaped():
            _, out = running.container.exec_run(["sh", "-c", states])
            return not any("(sleep)" in line for line in out.decode().splitlines())

        wait_for(reaped, timeout=20, interval=0.3, what="the orphaned sleep to be reaped")
    finally:
        running.remove()


def test_port_and_concurrency_are_overridable(engine, flask_image):
    client, _ = engine
    running = Running(client, flask_image["id"], environment={"PORT": "9099", "WEB_CONCURRENCY": "1"}, port=9099)
    try:
        assert running.get("/")[0] == 200, running.logs()
    finally:
        running.remove()


def test_image_runs_the_app_with_a_utf8_locale_it_has(engine, flask_image):
    client, _ = engine
    code = ("import locale, os; locale.setlocale(locale.LC_ALL, ''); "
            "print(os.environ['LANG'], os.environ['LC_ALL'], os.environ['PYTHONIOENCODING'], "
            "os.environ['PYTHONUNBUFFERED'], locale.getpreferredencoding(False))")
    # setlocale('') raises when the locale named does not exist in the image.
    assert run_once(client, flask_image["id"], ["python", "-c", code]).split() == ["C.UTF-8", "C.UTF-8", "UTF-8", "1", "UTF-8"]


def test_default_user_is_fixed_non_root_in_group_0(engine, flask_image):
    client, _ = engine
    assert client.images.get(flask_image["id"]).attrs["Config"]["User"] == "1001"
    assert run_once(client, flask_image["id"], ["sh", "-c", "id -u; id -g; whoami"]).split() == ["1001", "0", "app"]


def test_arbitrary_uid_has_a_name_and_writable_home_on_read_only_root(engine, flask_image):
    client, _ = engine
    script = ("import getpass, os, pwd; home = os.path.expanduser('~'); "
              "open(os.path.join(home, 'probe'), 'w').write('x'); "
              "print(pwd.getpwuid(os.getuid()).pw_name, getpass.getuser() == pwd.getpwuid(os.getuid()).pw_name, home)")
    for extra in ({}, {"read_only": True, "tmpfs": {"/tmp": ""}}):
        out = run_once(client, flask_image["id"], ["python", "-c", script], user=ARBITRARY_UID, **extra)
        name, same, home = out.split()
        assert name == "app-1000470000" and same == "True", out
        assert home == ("/tmp/home" if extra else "/app"), out


def _image_files(client, image_id):
    """{path: bytes} of every regular file in the image's layers, and the raw saved bytes."""
    raw = b"".join(client.images.get(image_id).save(named=False))
    files = {}
    with tarfile.open(fileobj=io.BytesIO(raw)) as outer:
        for member in outer.getmembers():
            if not member.name.endswith("layer.tar"):
                continue
            with tarfile.open(fileobj=outer.extractfile(member)) as layer:
                for entry in layer.getmembers():
                    name = entry.name[2:] if entry.name.startswith("./") else entry.name
                    if entry.isfile():
                        files[name] = layer.extractfile(entry).read()
                    else:
                        files.setdefault(name, b"")
    return files, raw


def test_no_ca_or_index_credentials_anywhere_in_the_final_image(engine, flask_image, flask_app, pip_secrets):
    client, _ = engine
    # They did reach the build stage (pip could not have verified the index
    # through this machine's TLS-intercepting path without the CA bundle):
    from warp.image.build import prepare
    plan = prepare(flask_app, "x", base_image=BASE, environ={**os.environ, **pip_secrets})
    with tarfile.open(fileobj=io.BytesIO(plan.context.data)) as context:
        assert MARKER.encode() in context.extractfile("warp/build/ca.pem").read()
        assert f"{MARKER}-password".encode() in context.extractfile("warp/build/pip.conf").read()

    image = client.images.get(flask_image["id"])
    history = json.dumps(client.api.history(image.id))
    config = json.dumps(image.attrs["Config"])
    files, raw = _image_files(client, image.id)
    for where, text in (("history", history), ("config", config)):
        assert MARKER not in text, where
        for word in ("PIP_CONFIG_FILE", "PIP_CERT", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "warp-build", "WHEELHOUSE"):
            assert word not in text, (where, word)
    assert MARKER.encode() not in raw  # not in any layer, whatever the file
    for path in files:
        assert not path.startswith(("etc/warp-build", "tmp/warp-wheelhouse", "root/.cache")), path


def test_final_image_holds_the_app_not_what_is_ignored(engine, flask_image):
    client, _ = engine
    files, _ = _image_files(client, flask_image["id"])
    assert "app/app.py" in files and "app/requirements.txt" in files
    for gone in ("app/notes-secret.txt", "app/.git/HEAD", "app/.warp/venv/bin/host-only"):
        assert gone not in files
    assert any(p.startswith("opt/warp/") for p in files)
    # No compilers or build-only files: nothing in the final stage installs them.
    compilers = [f"{d}/{tool}" for d in ("usr/bin", "usr/local/bin", "bin") for tool in ("gcc", "cc", "c++", "make")]
    assert not [p for p in compilers if p in files]
    assert not [p for p in files if p.startswith("opt/warp/") and "/site-packages/pip/" in p]


def test_labels_name_the_remote_and_commit_never_a_path_or_credentials(engine, flask_image, flask_app):
    client, _ = engine
    config = client.images.get(flask_image["id"]).attrs["Config"]
    labels = config["Labels"]
    assert labels["org.opencontainers.image.source"] == "https://git.example.invalid/team/hello.git"
    assert labels["org.opencontainers.image.revision"] == git(flask_app, "rev-parse", "HEAD")  # clean tree
    commit_time = int(git(flask_app, "log", "-1", "--format=%ct"))
    assert labels["org.opencontainers.image.created"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(commit_time))
    import warp
    assert labels["warp.version"] == warp.__version__
    assert labels["warp.sbom"] == "/usr/share/warp/sbom.cdx.json"
    text = json.dumps(labels)
    assert str(flask_app) not in text and "file:" not in text and MARKER not in text
    # --json lists exactly the labels the image carries.
    assert flask_image["labels"] == labels
    assert "8080/tcp" in config["ExposedPorts"]
    assert config["Healthcheck"]["Test"][:3] == ["CMD", "warp", "health"]


def test_health_check_start_period_and_interval_follow_the_engine(engine, flask_image):
    client, _ = engine
    health = client.images.get(flask_image["id"]).attrs["Config"]["Healthcheck"]
    # The bundled server's startup timeout (60 s) plus 10 s for its master.
    assert health["StartPeriod"] == 70 * 10**9
    api = tuple(int(part) for part in client.version()["ApiVersion"].split("."))
    if api >= (1, 44):
        assert health["StartInterval"] == 1 * 10**9
    else:
        assert not health.get("StartInterval")


def test_healthy_within_5_seconds_of_answering_where_the_engine_has_start_intervals(engine, flask_image):
    client, _ = engine
    api = tuple(int(part) for part in client.version()["ApiVersion"].split("."))
    if api < (1, 44):
        pytest.skip(f"the engine's API is {'.'.join(map(str, api))}: start intervals need 1.44 (Docker 25)")
    running = Running(client, flask_image["id"])
    try:
        assert running.get("/")[0] == 200, running.logs()
        answered = time.monotonic()
        while True:
            running.container.reload()
            if running.container.attrs["State"]["Health"]["Status"] == "healthy":
                break
            assert time.monotonic() - answered < 5, running.container.attrs["State"]["Health"]
            time.sleep(0.1)
    finally:
        running.remove()


def test_sbom_lists_exactly_what_pip_list_lists_in_the_image(engine, flask_image, flask_sbom):
    client, _ = engine
    written = flask_sbom.read_bytes()
    bom = json.loads(written)
    assert bom["bomFormat"] == "CycloneDX"
    assert tuple(map(int, bom["specVersion"].split("."))) >= (1, 5)
    listed = json.loads(run_once(client, flask_image["id"], ["python", "-m", "pip", "list", "--format", "json"]))
    canonical = canonical_name

    assert {(canonical(c["name"]), c["version"]) for c in bom["components"]} == \
        {(canonical(p["name"]), p["version"]) for p in listed}
    for component in bom["components"]:
        assert component["purl"] == f"pkg:pypi/{canonical(component['name'])}@{component['version']}"
        assert [h["alg"] for h in component["hashes"]] == ["SHA-256"], component["name"]
    flask = next(c for c in bom["components"] if c["name"].lower() == "flask")
    assert flask["licenses"]  # known from its metadata
    import warp
    assert {"name": "warp", "version": warp.__version__}.items() <= next(
        t for t in bom["metadata"]["tools"]["components"] if t["name"] == "warp").items()
    base = bom["metadata"]["component"]["pedigree"]["ancestors"][0]
    assert base["name"] == BASE and base["version"] == client.images.get(BASE).id
    # The file --sbom wrote is the one in the image, where the label says.
    files, _ = _image_files(client, flask_image["id"])
    assert files["usr/share/warp/sbom.cdx.json"] == written
    validation = pytest.importorskip("cyclonedx.validation.json")
    from cyclonedx.schema import SchemaVersion
    assert validation.JsonStrictValidator(SchemaVersion.from_version(bom["specVersion"])).validate_str(written.decode()) is None


def test_no_sbom_tool_in_the_final_image_or_the_apps_environment(engine, flask_image):
    client, _ = engine
    files, _ = _image_files(client, flask_image["id"])
    assert not [p for p in files if "cyclonedx" in p.lower() or p.startswith("opt/warp-sbom")]


def test_source_only_change_reuses_the_dependency_layer(engine, flask_image, flask_app, pip_secrets):
    client, _ = engine
    source = flask_app / "app.py"
    source.write_text(source.read_text().replace("Hello from warp", "Hello again from warp"))
    result, progress = build(engine, flask_app, image_name("flask"), env=pip_secrets)
    # The commit's files were changed: the revision says so.
    assert result["labels"]["org.opencontainers.image.revision"] == git(flask_app, "rev-parse", "HEAD") + "-dirty"
    lines = progress.splitlines()
    wheel_step = next(i for i, line in enumerate(lines) if "pip wheel" in line)
    assert "Using cache" in lines[wheel_step + 1], "\n".join(lines)
    copy_step = next(i for i, line in enumerate(lines) if "COPY app/ /app/" in line)
    assert "Using cache" not in lines[copy_step + 1]
    running = Running(client, result["id"])
    try:
        status, body = running.get("/")
        assert status == 200 and "Hello again from warp" in body, running.logs()
    finally:
        running.remove()


PLAIN_WSGI = {
    "wsgi.py": '''
        def application(environ, start_response):
            body = b"plain wsgi " + environ.get("PATH_INFO", "").encode()
            start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
            return [body]
        ''',
}

DJANGO = {
    "requirements.txt": "django>=4.2,<6\n",
    "manage.py": '''
        import os, sys
        if __name__ == "__main__":
            os.environ.setdefault("DJANGO_SETTINGS_MODULE", "site_conf.settings")
            from django.core.management import execute_from_command_line
            execute_from_command_line(sys.argv)
        ''',
    "site_conf/__init__.py": "",
    "site_conf/settings.py": '''
        from pathlib import Path
        BASE_DIR = Path(__file__).resolve().parent.parent
        SECRET_KEY = "test-only"
        DEBUG = False
        ALLOWED_HOSTS = ["*"]
        INSTALLED_APPS = ["django.contrib.admin", "django.contrib.auth", "django.contrib.contenttypes",
                          "django.contrib.sessions", "django.contrib.messages", "django.contrib.staticfiles"]
        MIDDLEWARE = []
        ROOT_URLCONF = "site_conf.urls"
        TEMPLATES = []
        DATABASES = {}
        STATIC_URL = "/static/"
        STATIC_ROOT = BASE_DIR / "staticfiles"
        STATICFILES_DIRS = [BASE_DIR / "assets"]
        USE_TZ = True
        ''',
    "site_conf/urls.py": '''
        from django.http import HttpResponse
        from django.urls import path
        urlpatterns = [path("", lambda request: HttpResponse("django says hello"))]
        ''',
    "site_conf/wsgi.py": '''
        import os
        from django.core.wsgi import get_wsgi_application
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "site_conf.settings")
        application = get_wsgi_application()
        ''',
    "assets/site.css": "body { color: teal }\n",
    "warp.yaml": "static:\n  /static/: staticfiles\n",
}


def test_plain_wsgi_app_without_dependencies_and_server_choice(engine, base_image, tmp_path):
    client, _ = engine
    # warp.yaml picks waitress, so the build installs it; -e WARP_SERVER
    # switches to another server at run time.
    app = write(tmp_path, dict(PLAIN_WSGI, **{"warp.yaml": "server: waitress\n"}))
    result, progress = build(engine, app, image_name("wsgi"))
    assert "pip wheel" not in progress  # no dependency file: nothing to fetch early
    for environment, waitress in (({}, True), ({"WARP_SERVER": "bundled"}, False)):
        running = Running(client, result["id"], user=ARBITRARY_UID, read_only=True, environment=environment)
        try:
            assert running.get("/x") == (200, "plain wsgi /x"), running.logs()
            assert ("INFO:waitress:Serving on" in running.logs()) is waitress, running.logs()
            assert running.terminate() == 0, running.logs()
        finally:
            running.remove()


def test_django_app_with_collected_static_files(engine, base_image, tmp_path):
    client, _ = engine
    app = write(tmp_path, DJANGO)
    result, _ = build(engine, app, image_name("django"))
    running = Running(client, result["id"], user=ARBITRARY_UID, read_only=True)
    try:
        assert running.get("/") == (200, "django says hello"), running.logs()
        assert running.get("/static/site.css") == (200, "body { color: teal }\n"), running.logs()
        # Django's own admin files: collectstatic ran in the build stage.
        status, body = running.get("/static/admin/css/base.css")
        assert status == 200 and "body" in body, running.logs()
    finally:
        running.remove()


def test_run_flag_starts_the_image_until_interrupted(engine, base_image, tmp_path):
    client, made = engine
    port = free_port()
    app = write(tmp_path, PLAIN_WSGI)
    name = image_name("run")
    made.append(name)
    proc = subprocess.Popen(warp_command("image", name, "--app", str(app), "--base-image", BASE, "--run"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=warp_env(WARP_PORT=port))
    try:
        for line in proc.stdout:
            if f"http://127.0.0.1:{port}/" in line:
                break
        else:
            raise AssertionError(proc.stderr.read())
        def look():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/look", timeout=5) as response:
                    return response.read()
            except (urllib.error.URLError, ConnectionError, OSError):
                return None

        assert wait_for(look, timeout=60, interval=0.2, what="the image started with --run to answer") == b"plain wsgi /look"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0, proc.stderr.read()
    finally:
        proc.kill()
        proc.wait()
    assert client.containers.list(all=True, filters={"ancestor": name}) == []


def test_environment_files_decide_the_image_as_they_decide_config(engine, base_image, tmp_path):
    """PORT and WARP_SERVER from .s2i/environment: `warp config` on the host, the
    image's exposed port and `warp start --print` inside the image agree."""
    client, _ = engine
    app = write(tmp_path, dict(PLAIN_WSGI, **{".s2i/environment": "PORT=9123\nWARP_SERVER=waitress\n"}))
    # warp() leaves the caller's PORT and WARP_* out: only the app's files decide.
    config = warp("config", "--json", "--app", str(app), timeout=60)
    assert config.returncode == 0, config.stderr
    rows = {row["name"]: row["value"] for row in json.loads(config.stdout)["settings"]}
    assert (rows["port"], rows["server"]) == (9123, "waitress")
    result, _ = build(engine, app, image_name("envfiles"))
    assert result["port"] == 9123
    assert "9123/tcp" in client.images.get(result["id"]).attrs["Config"]["ExposedPorts"]
    plan = json.loads(run_once(client, result["id"], ["warp", "start", "--print", "--json"]))
    assert plan["server"] == "waitress" and f"--listen=0.0.0.0:{rows['port']}" in plan["argv"]


PROCFILE_APP = dict(PLAIN_WSGI, **{
    "Procfile": "release: python -c \"print('release ran')\"\nworker: python worker.py\n",
    "worker.py": "import os, time\nprint('worker up pid', os.getpid(), flush=True)\nwhile True:\n    time.sleep(0.5)\n",
})


def test_procfile_types_in_the_image_one_by_name_or_all_under_warp_as_pid_1(engine, base_image, tmp_path):
    client, _ = engine
    app = write(tmp_path, PROCFILE_APP)
    result, _ = build(engine, app, image_name("procfile"))
    # `docker run IMAGE worker`: that type alone, as PID 1.
    alone = client.containers.run(result["id"], "worker", detach=True)
    try:
        deadline = time.monotonic() + 60
        while "worker up pid 1" not in alone.logs().decode() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert "worker up pid 1" in alone.logs().decode()
    finally:
        alone.remove(force=True)
    # `docker run IMAGE --all`: release once, then web and worker under warp as PID 1.
    running = Running(client, result["id"], command=["--all"], user=ARBITRARY_UID, read_only=True)
    try:
        assert running.get("/x") == (200, "plain wsgi /x"), running.logs()
        logs = running.logs()
        assert logs.count("| release ran") == 1, logs
        assert "worker.1" in logs and "worker up" in logs, logs
        pid_1 = running.container.exec_run(["cat", "/proc/1/cmdline"]).output.decode().split("\0")
        assert pid_1[1:4] == ["/usr/local/bin/warp", "start", "--all"], pid_1
        assert running.terminate() == 0, running.logs()
        assert "web.1 stopped" in running.logs()
    finally:
        running.remove()


# -- reproducible builds ---------------------------------------------------------

def commit_all(app, message):
    git(app, "add", "-A")
    git(app, "-c", "user.name=t", "-c", "user.email=t@t.invalid", "commit", "-qm", message)


def test_same_commit_gives_the_same_image_id_and_a_one_line_change_another(engine, base_image, tmp_path):
    client, _ = engine
    app = write(tmp_path, dict(PLAIN_WSGI, **{"requirements.txt": "itsdangerous==2.2.0\n"}))
    git(app, "init", "-q")
    commit_all(app, "first")
    name = image_name("repro")
    first, _ = build(engine, app, name)
    # Every layer built again: nothing is reused from the first build.
    again, progress = build(engine, app, name, "--no-cache")
    assert "Using cache" not in progress
    assert again["id"] == first["id"]
    assert again["source_date_epoch"] == int(git(app, "log", "-1", "--format=%ct"))

    # Every file of warp's layer carries the commit's time, and bytecode is hash-checked.
    files, raw = _image_files(client, first["id"])
    with tarfile.open(fileobj=io.BytesIO(raw)) as outer:
        manifest = json.load(outer.extractfile("manifest.json"))[0]
        with tarfile.open(fileobj=outer.extractfile(manifest["Layers"][-1])) as layer:
            members = layer.getmembers()
    assert {m.mtime for m in members} == {first["source_date_epoch"]}
    assert [m.name for m in members] == sorted(m.name for m in members)
    pycs = [p for p in files if p.endswith(".pyc") and p.startswith("app/")]
    assert pycs and all(int.from_bytes(files[p][4:8], "little") & 0b11 == 0b11 for p in pycs)  # PEP 552 checked hash

    source = app / "wsgi.py"
    source.write_text(source.read_text().replace("plain wsgi ", "plain wsgi, changed "))
    commit_all(app, "one line")
    changed, _ = build(engine, app, name)
    assert changed["id"] != first["id"]
    # warp keeps the engine's last build of this name as its cache (the final
    # stage's image and the build stage's), and removes the ones it replaced.
    builders = client.images.list(filters={"label": f"warp.image.builder-for={name}:latest", "dangling": True})
    assert len(builders) == 2, [b.attrs["Config"]["Labels"] for b in builders]
    running = Running(client, changed["id"])
    try:
        assert running.get("/x") == (200, "plain wsgi, changed /x"), running.logs()
    finally:
        running.remove()


def test_a_dirty_tree_says_so_and_a_tree_outside_git_has_no_source(engine, base_image, tmp_path):
    client, _ = engine
    app = write(tmp_path, PLAIN_WSGI)
    outside, _ = build(engine, app, image_name("nogit"))
    assert "org.opencontainers.image.source" not in outside["labels"]
    assert "org.opencontainers.image.revision" not in outside["labels"]
    assert str(app) not in json.dumps(client.images.get(outside["id"]).attrs["Config"])


# -- pushing to a registry ---------------------------------------------------------

REGISTRY_USER, REGISTRY_PASSWORD = "warp-test", f"{MARKER}-registry-password"


@pytest.fixture(scope="session")
def registry(tmp_path_factory):
    """Debian's docker-registry on 127.0.0.1:<free port>, storing in a temp folder,
    with a user and password (htpasswd, bcrypt); stopped by its pid. The engine
    treats 127.0.0.0/8 registries as insecure-allowed, so plain HTTP is fine."""
    import warnings

    program = shutil.which("docker-registry") or "/usr/bin/docker-registry"
    if not os.path.exists(program):
        pytest.skip("docker-registry is not installed (.ci/run installs it)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt  # bcrypt through the C library, as htpasswd -B makes it
    folder = tmp_path_factory.mktemp("registry")
    (folder / "htpasswd").write_text(f"{REGISTRY_USER}:{crypt.crypt(REGISTRY_PASSWORD, crypt.mksalt(crypt.METHOD_BLOWFISH))}\n")
    port = free_port()
    config = folder / "config.yml"
    config.write_text(
        "version: 0.1\n"
        "log:\n  level: error\n"
        f"storage:\n  filesystem:\n    rootdirectory: {folder / 'data'}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
        f"auth:\n  htpasswd:\n    realm: warp-test\n    path: {folder / 'htpasswd'}\n"
    )
    log = open(folder / "registry.log", "wb")
    process = subprocess.Popen([program, "serve", str(config)], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=2)
            except urllib.error.HTTPError as exc:
                if exc.code == 401:  # up, and asking for credentials
                    break
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            assert process.poll() is None, (folder / "registry.log").read_text()
            assert time.monotonic() < deadline, "the registry never answered"
            time.sleep(0.1)
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def docker_config(folder, registry=None):
    """A DOCKER_CONFIG folder as `docker login` leaves it (credentials for ``registry``, or none)."""
    import base64

    folder.mkdir(parents=True, exist_ok=True)
    auths = {}
    if registry:
        auths[registry] = {"auth": base64.b64encode(f"{REGISTRY_USER}:{REGISTRY_PASSWORD}".encode()).decode()}
    (folder / "config.json").write_text(json.dumps({"auths": auths}))
    return str(folder)


def test_push_prints_the_digest_and_the_image_pulls_back_by_it_and_runs(engine, base_image, registry, tmp_path):
    client, made = engine
    app = write(tmp_path / "app", PLAIN_WSGI)
    git(app, "init", "-q")
    commit_all(app, "app")  # so that building it again gives the same image
    repository = f"{registry}/warp-test/push-{RUN_ID}"
    env = {"DOCKER_CONFIG": docker_config(tmp_path / "docker", registry)}
    result, progress = build(engine, app, f"{repository}:1", "--push", env=env)
    digest = result["digest"]
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", digest), result
    assert result["pushed"] == f"{repository}@{digest}"
    assert REGISTRY_PASSWORD not in progress and REGISTRY_PASSWORD not in json.dumps(result)
    # The registry serves that very manifest under the tag.
    import base64
    request = urllib.request.Request(
        f"http://{registry}/v2/warp-test/push-{RUN_ID}/manifests/1", method="HEAD",
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json",
                 "Authorization": "Basic " + base64.b64encode(f"{REGISTRY_USER}:{REGISTRY_PASSWORD}".encode()).decode()})
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.headers["Docker-Content-Digest"] == digest
    # Built and pushed again, the same commit gives the same digest; text mode
    # prints it alone on stdout, for scripts.
    proc = warp("image", f"{repository}:1", "--app", str(app), "--base-image", BASE, "--push", env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == digest
    assert REGISTRY_PASSWORD not in proc.stdout + proc.stderr

    # Gone from the engine, then pulled back by digest alone, it runs and answers.
    _, raw = _image_files(client, result["id"])
    assert REGISTRY_PASSWORD.encode() not in raw
    client.images.remove(f"{repository}:1", force=True)
    pulled = client.images.pull(f"{repository}@{digest}",
                                auth_config={"username": REGISTRY_USER, "password": REGISTRY_PASSWORD})
    made.append(f"{repository}@{digest}")
    assert pulled.id == result["id"]
    running = Running(client, f"{repository}@{digest}")
    try:
        assert running.get("/pulled") == (200, "plain wsgi /pulled"), running.logs()
    finally:
        running.remove()


def test_push_without_credentials_is_one_line_naming_docker_login(engine, base_image, registry, tmp_path):
    app = write(tmp_path / "app", PLAIN_WSGI)
    name = f"{registry}/warp-test/denied-{RUN_ID}:1"
    env = {"DOCKER_CONFIG": docker_config(tmp_path / "docker")}
    proc = warp("image", name, "--app", str(app), "--base-image", BASE, "--push", env=env, timeout=900)
    engine[1].append(name)
    line = one_error_line(proc, 1, "pushing", name, "docker login")
    assert "basic auth" in line or "unauthorized" in line.lower(), line
