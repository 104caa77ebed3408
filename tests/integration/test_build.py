"""`warp build` on real apps with real installs: record, no-op, incremental, atomic."""

from pathlib import Path
import json
import os
import signal
import subprocess
import sys

import pytest

from support import error_lines, wait_for, warp, warp_command, warp_env

FLASK_APP = '''from flask import Flask

app = Flask(__name__)


@app.route("/")
def index():
    return "hello from flask"
'''

WSGI_APP = '''def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello"]
'''


def snapshot(root):
    """Everything a failed build must leave exactly as it was."""
    venv = root / ".warp" / "venv"
    real = Path(os.path.realpath(venv))
    site = next(real.glob("lib/python*/site-packages"))
    return {
        "link": os.readlink(venv),
        "env_inode": real.stat().st_ino,
        "site": sorted(os.listdir(site)),
        "site_mtime": site.stat().st_mtime_ns,
        "bin": sorted(os.listdir(real / "bin")),
        "record": (root / ".warp" / "build.json").read_bytes(),
        "state": sorted(os.listdir(root / ".warp")),
        "envs": sorted(os.listdir(root / ".warp" / "envs")),
    }


def imports(root, module):
    return warp("exec", "python", "-c", f"import {module}", cwd=root).returncode == 0


@pytest.fixture(scope="module")
def flask_app(tmp_path_factory):
    root = tmp_path_factory.mktemp("flask")
    (root / "requirements.txt").write_text("flask\n")
    (root / "app.py").write_text(FLASK_APP)
    result = warp("build", "--json", cwd=root)
    assert result.returncode == 0, result.stderr
    return root


def test_flask_app_builds_with_a_record(flask_app):
    record = json.loads((flask_app / ".warp" / "build.json").read_text())
    assert record["ok"] is True and record["noop"] is False
    assert [pack["name"] for pack in record["buildpacks"]][0] == "requirements"
    assert "Flask" in record["packages"] and "Werkzeug" in record["packages"]
    assert record["inputs"]["requirements.txt"] == __import__("hashlib").sha256(b"flask\n").hexdigest()
    assert record["python"]["version"]
    assert record["server"]["name"] == "bundled"
    assert record["timings"]["total"] > 0
    shown = warp("exec", "python", "-c", "import app; print(app.app.name)", cwd=flask_app)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip() == "app"


def test_second_build_with_nothing_changed_does_nothing(flask_app):
    before = snapshot(flask_app)
    record_before = json.loads(before["record"])
    result = warp("build", "--json", cwd=flask_app)
    assert result.returncode == 0, result.stderr
    assert "nothing changed" in result.stderr
    printed = json.loads(result.stdout)
    assert printed["noop"] is True
    after = snapshot(flask_app)
    record_after = json.loads(after.pop("record"))
    before.pop("record")
    assert after == before  # the environment was not touched
    assert record_after["noop"] is True
    assert record_after["env"] == record_before["env"] and record_after["packages"] == record_before["packages"]


def test_bad_requirement_leaves_the_last_good_environment(flask_app):
    before = snapshot(flask_app)
    requirements = flask_app / "requirements.txt"
    requirements.write_text("flask\nsix\nwarp-no-such-package-anywhere==1.0\n")
    try:
        result = warp("build", cwd=flask_app)
    finally:
        requirements.write_text("flask\n")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = error_lines(result)
    assert len(lines) == 1 and "requirements.txt" in lines[0] and "warp-no-such-package-anywhere" in lines[0]
    assert snapshot(flask_app) == before
    assert imports(flask_app, "flask") and not imports(flask_app, "six")


def test_failing_hook_fails_the_build_and_changes_nothing(flask_app):
    before = snapshot(flask_app)
    hook = flask_app / ".warp" / "hooks" / "build"
    hook.parent.mkdir()
    hook.write_text("#!/bin/sh\necho checking things\nexit 3\n")
    hook.chmod(0o755)
    try:
        result = warp("build", cwd=flask_app)
    finally:
        hook.unlink()
        hook.parent.rmdir()
    assert result.returncode == 1
    assert "checking things" in result.stderr  # the hook's output is streamed
    lines = error_lines(result)
    assert len(lines) == 1 and "hook build (.warp/hooks/build) failed with exit status 3" in lines[0]
    assert snapshot(flask_app) == before


def test_ctrl_c_during_a_build_leaves_the_last_good_environment(flask_app, tmp_path):
    """SIGINT to the real `warp build` process, while its build hook runs after new packages went in."""
    before = snapshot(flask_app)
    marker = tmp_path / "hook-started"
    hook = flask_app / "bin" / "post_compile"  # Heroku's name for the build hook
    hook.parent.mkdir()
    hook.write_text(f'#!/bin/sh\necho $$ > "{marker}.tmp" && mv "{marker}.tmp" "{marker}"\nsleep 120\n')
    hook.chmod(0o755)
    (flask_app / "requirements.txt").write_text("flask\nsix\n")
    process = subprocess.Popen(warp_command("build"), cwd=flask_app, env=warp_env(),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        def hook_started():
            assert process.poll() is None, process.communicate()
            return marker.exists()

        wait_for(hook_started, timeout=240, what="the build hook to start")
        os.kill(process.pid, signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
        (flask_app / "requirements.txt").write_text("flask\n")
        hook.unlink()
        hook.parent.rmdir()
    assert process.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    hook_pid = int(marker.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(hook_pid, 0)  # the hook did not outlive the build
    assert snapshot(flask_app) == before
    assert imports(flask_app, "flask") and not imports(flask_app, "six")


def test_changed_requirement_installs_only_what_changed(flask_app):
    venv = flask_app / ".warp" / "venv"
    site = next(Path(os.path.realpath(venv)).glob("lib/python*/site-packages"))
    flask_metadata = next(site.glob("flask-*.dist-info")) / "METADATA"
    inode = flask_metadata.stat().st_ino
    old_env = os.path.realpath(venv)
    (flask_app / "requirements.txt").write_text("flask\nsix==1.16.0\n")
    try:
        result = warp("build", "--json", cwd=flask_app)
    finally:
        (flask_app / "requirements.txt").write_text("flask\n")
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["noop"] is False and record["incremental"] is True
    assert record["changes"] == {"added": {"six": "1.16.0"}, "removed": [], "upgraded": {}}
    new_site = next(Path(os.path.realpath(venv)).glob("lib/python*/site-packages"))
    assert os.path.realpath(venv) != old_env
    # Flask was not reinstalled: its files are the very same inodes.
    assert (next(new_site.glob("flask-*.dist-info")) / "METADATA").stat().st_ino == inode
    assert imports(flask_app, "six") and imports(flask_app, "flask")
    # Scripts of the new generation run its own interpreter.
    flask_script = Path(os.path.realpath(venv)) / "bin" / "flask"
    assert flask_script.read_text().splitlines()[0] == f"#!{os.path.realpath(venv)}/bin/python"


def test_plain_wsgi_app_builds(tmp_path):
    (tmp_path / "wsgi.py").write_text(WSGI_APP)
    result = warp("build", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["ok"] and (tmp_path / ".warp" / "venv" / "bin" / "python").exists()
    shown = warp("exec", "python", "-c", "import wsgi; print(wsgi.application.__name__)", cwd=tmp_path)
    assert shown.stdout.strip() == "application"


def test_broken_warp_yaml_stops_the_build_before_anything(tmp_path):
    (tmp_path / "wsgi.py").write_text(WSGI_APP)
    (tmp_path / "warp.yaml").write_text("installer: pip\n  server: [\n")
    result = warp("build", cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "warp.yaml:" in lines[0]
    assert not (tmp_path / ".warp").exists()


def test_unknown_setting_in_warp_yaml_is_a_usage_error(tmp_path):
    (tmp_path / "wsgi.py").write_text(WSGI_APP)
    (tmp_path / "warp.yaml").write_text("instaler: pip\n")
    result = warp("build", cwd=tmp_path)
    assert result.returncode == 2
    assert "warp.yaml:1: unknown setting 'instaler'" in result.stderr and "installer" in result.stderr


def test_python_version_the_host_lacks_is_one_line(tmp_path):
    (tmp_path / "wsgi.py").write_text(WSGI_APP)
    (tmp_path / ".python-version").write_text("3.4\n")
    result = warp("build", cwd=tmp_path)
    assert result.returncode == 1
    lines = error_lines(result)
    assert len(lines) == 1
    assert "Python 3.4 wanted" in lines[0] and ".python-version" in lines[0]
    assert f"{sys.version_info[0]}.{sys.version_info[1]}" in lines[0]
    assert not (tmp_path / ".warp" / "venv").exists()


def test_empty_folder_is_one_line_and_exit_1(tmp_path):
    result = warp("build", cwd=tmp_path)
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_venv_outside_the_app_keeps_its_generations_beside_it(tmp_path):
    app = tmp_path / "app"
    app.mkdir()
    (app / "wsgi.py").write_text(WSGI_APP)
    (app / "warp.yaml").write_text(f"venv: {tmp_path / 'elsewhere' / 'venv'}\n")
    result = warp("build", "--json", cwd=app)
    assert result.returncode == 0, result.stderr
    venv = tmp_path / "elsewhere" / "venv"
    assert venv.is_symlink() and os.readlink(venv).startswith("venv.envs/")
    assert json.loads(result.stdout)["venv"] == str(venv)
    shown = warp("exec", "python", "-c", "import sys; print(sys.prefix)", cwd=app)
    assert shown.stdout.strip() == str(venv)
    assert not (app / ".warp" / "envs").exists()


def test_a_copied_app_folder_keeps_a_working_environment(flask_app, tmp_path):
    """The venv link is relative, so a copy of the app (as into an image) resolves to its own copy."""
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(flask_app, copy, symlinks=True)
    assert os.path.realpath(copy / ".warp" / "venv").startswith(str(copy))
    shown = warp("exec", "python", "-c", "import flask, sys; print(sys.prefix)", cwd=copy)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip() == str(copy / ".warp" / "venv")
    # Its console scripts still name the original's folder until the copy is
    # built; the build notices the move and fixes them.
    rebuilt = warp("build", "--json", cwd=copy)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert json.loads(rebuilt.stdout)["incremental"] is True
    real = os.path.realpath(copy / ".warp" / "venv")
    assert real.startswith(str(copy))
    for script in ("flask", "pip"):
        assert (Path(real) / "bin" / script).read_text().splitlines()[0] == f"#!{real}/bin/python"
    assert str(flask_app) not in (Path(real) / "pyvenv.cfg").read_text()
    ran = warp("exec", "flask", "--version", cwd=copy)
    assert ran.returncode == 0, ran.stderr


def test_an_environment_made_by_hand_is_adopted(tmp_path):
    """A .warp/venv made with plain virtualenv becomes the starting generation, not an obstacle."""
    (tmp_path / "wsgi.py").write_text(WSGI_APP)
    (tmp_path / "requirements.txt").write_text("six\n")
    made = subprocess.run([sys.executable, "-m", "virtualenv", "-q", str(tmp_path / ".warp" / "venv")], capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    result = warp("build", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["incremental"] is True
    assert (tmp_path / ".warp" / "venv").is_symlink()
    assert imports(tmp_path, "six")


def test_one_build_at_a_time(tmp_path):
    import fcntl

    (tmp_path / "wsgi.py").write_text(WSGI_APP)
    (tmp_path / ".warp").mkdir()
    with open(tmp_path / ".warp" / "build.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        result = warp("build", cwd=tmp_path)
    assert result.returncode == 1
    assert "another warp build is running" in result.stderr
    assert not (tmp_path / ".warp" / "venv").exists()


def test_a_dropped_requirement_is_uninstalled_with_what_only_it_needed(tmp_path):
    """A rebuild ends with what a fresh build would give, without reinstalling what stays."""
    (tmp_path / "wsgi.py").write_text(WSGI_APP)
    (tmp_path / "requirements.txt").write_text("six\nitsdangerous\nrequests\n")
    first = warp("build", "--json", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    installed = json.loads(first.stdout)["packages"]
    assert {"requests", "urllib3", "idna", "six"} <= {name.lower() for name in installed}
    site = next(Path(os.path.realpath(tmp_path / ".warp" / "venv")).glob("lib/python*/site-packages"))
    six_inode = (site / "six.py").stat().st_ino
    (tmp_path / "requirements.txt").write_text("six\nitsdangerous\n")
    second = warp("build", "--json", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    record = json.loads(second.stdout)
    gone = {name.lower() for name in record["changes"]["removed"]}
    assert {"requests", "urllib3", "idna", "charset-normalizer", "certifi"} <= gone
    assert {name.lower() for name in record["packages"]} == {"pip", "six", "itsdangerous"}
    assert not imports(tmp_path, "requests") and imports(tmp_path, "six")
    site = next(Path(os.path.realpath(tmp_path / ".warp" / "venv")).glob("lib/python*/site-packages"))
    assert (site / "six.py").stat().st_ino == six_inode


def test_a_new_python_version_gets_a_fresh_environment(tmp_path):
    from warp.app.python import find_interpreters

    own = sys.version_info[:2]
    others = [i for i in find_interpreters() if i.version[:2] != own and i.version >= (3, 9)]
    if not others:
        pytest.skip("this host has no second Python 3.9+ to switch to")
    other = ".".join(map(str, others[0].version[:2]))
    (tmp_path / "wsgi.py").write_text(WSGI_APP)
    (tmp_path / "requirements.txt").write_text("six\n")
    first = warp("build", "--json", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    (tmp_path / ".python-version").write_text(other + "\n")
    second = warp("build", "--json", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    record = json.loads(second.stdout)
    assert record["incremental"] is False
    assert record["python"]["version"].startswith(other + ".")
    assert record["python"]["wanted"] == other and ".python-version" in record["python"]["reason"]
    shown = warp("exec", "python", "-c", "import six, sys; print('%d.%d' % sys.version_info[:2])", cwd=tmp_path)
    assert shown.stdout.strip() == other
