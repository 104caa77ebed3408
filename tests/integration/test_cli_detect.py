"""`warp detect` through the real command line: text, --json, and one-line errors with exit codes."""

import json

from support import warp


def test_detect_text_says_why(tmp_path):
    (tmp_path / "requirements.txt").write_text("Flask\n")
    (tmp_path / "app.py").write_text("from flask import Flask\napp = Flask(__name__)\n")
    (tmp_path / ".python-version").write_text("3.11\n")
    result = warp("detect", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "flask is a declared dependency" in out
    assert "requirements.txt is the only dependency file" in out
    assert ".python-version says 3.11" in out


def test_detect_json_for_ci(tmp_path):
    (tmp_path / "wsgi.py").write_text("def application(environ, start_response):\n    return []\n")
    result = warp("detect", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["ok"] is True
    assert data["framework"] == {"value": "wsgi", "reason": "wsgi.py defines a WSGI callable (environ, start_response)"}


def test_empty_folder_one_line_exit_1(tmp_path):
    result = warp("detect", cwd=tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "no Python application" in result.stderr


def test_conflicting_lock_files_exit_2_naming_files_and_setting(tmp_path):
    (tmp_path / "Pipfile.lock").write_text("{}")
    (tmp_path / "poetry.lock").write_text("")
    result = warp("detect", "--json", cwd=tmp_path)
    assert result.returncode == 2
    assert json.loads(result.stdout)["ok"] is False
    line = result.stderr.strip()
    assert len(line.splitlines()) == 1
    assert "Pipfile.lock" in line and "poetry.lock" in line and "package_manager" in line


def test_quoted_app_module_in_s2i_environment_is_the_entry_point(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "web.py").write_text("def application(environ, start_response):\n    return []\n")
    (tmp_path / ".s2i").mkdir()
    (tmp_path / ".s2i" / "environment").write_text('# as users write it\nexport APP_MODULE="pkg.web:application"\n')
    result = warp("detect", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["entrypoint"]["value"]["target"] == "pkg.web:application"


def test_unreadable_environment_line_is_one_line_naming_file_and_line(tmp_path):
    (tmp_path / "wsgi.py").write_text("def application(environ, start_response):\n    return []\n")
    (tmp_path / ".s2i").mkdir()
    (tmp_path / ".s2i" / "environment").write_text('A=1\nAPP_MODULE="pkg.web:application\n')
    result = warp("detect", cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert ".s2i/environment:2:" in lines[0] and "quote" in lines[0]


def test_detect_says_the_app_chose_gunicorn_and_why(tmp_path):
    (tmp_path / "requirements.txt").write_text("gunicorn\n")
    (tmp_path / "app.py").write_text("def application(environ, start_response):\n    return []\n")
    (tmp_path / "gunicorn.conf.py").write_text('bind = "0.0.0.0:8085"\nwsgi_app = "app:application"\n')
    result = warp("detect", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    server = json.loads(result.stdout)["server"]
    assert server["value"] == "gunicorn"
    assert "gunicorn.conf.py sets wsgi_app and bind" in server["reason"] and "requirements.txt lists gunicorn" in server["reason"]
    text = warp("detect", cwd=tmp_path).stdout
    assert "the app chose and configured its server" in text
    # warp's server setting, once set, wins and says where it came from.
    chosen = json.loads(warp("detect", "--json", cwd=tmp_path, env={"WARP_SERVER": "waitress"}).stdout)["server"]
    assert chosen["value"] == "waitress"
