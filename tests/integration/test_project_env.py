"""`warp project`, `warp env`, `warp exec`, `warp shell` on real virtualenvs."""

from pathlib import Path
import os
import subprocess

import pytest

from support import warp


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """An app folder whose environment `warp project` made once for this module."""
    root = tmp_path_factory.mktemp("app")
    result = warp("project", cwd=root)
    assert result.returncode == 0, result.stderr
    assert "created" in result.stderr
    return root


def test_project_makes_a_relative_link_to_a_real_virtualenv(app):
    venv = app / ".warp" / "venv"
    assert venv.is_symlink() and not os.path.isabs(os.readlink(venv))
    assert (venv / "pyvenv.cfg").is_file()
    assert (venv / "bin" / "python").exists()


def test_project_reuses_the_environment(app):
    real = os.path.realpath(app / ".warp" / "venv")
    inode = os.stat(real).st_ino
    result = warp("project", cwd=app)
    assert result.returncode == 0, result.stderr
    assert "reusing" in result.stderr
    assert os.path.realpath(app / ".warp" / "venv") == real and os.stat(real).st_ino == inode


def test_warps_own_dependencies_never_reach_the_app(app):
    check = warp("exec", "python", "-c", "import click", cwd=app)
    assert check.returncode != 0 and "ModuleNotFoundError" in check.stderr
    install = warp("exec", "python", "-m", "pip", "install", "-q", "click==7.1.2", cwd=app)
    assert install.returncode == 0, install.stderr
    result = warp("exec", "python", "-c", "import click; print(click.__version__)", cwd=app)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "7.1.2"


def test_exec_passes_the_exit_status_through_and_runs_in_the_app(app, tmp_path):
    code = "import os, sys; print(os.getcwd()); print(sys.prefix); sys.exit(7)"
    result = warp("exec", "--app", str(app), "python", "-c", code, cwd=tmp_path)
    assert result.returncode == 7
    cwd, prefix = result.stdout.split()
    assert Path(cwd) == app.resolve()
    assert Path(prefix) == app.resolve() / ".warp" / "venv"


def test_exec_of_a_missing_command_says_so(app):
    result = warp("exec", "no-such-command-anywhere", cwd=app)
    assert result.returncode == 127
    assert "command not found" in result.stderr


def test_exec_without_an_environment_is_one_line(tmp_path):
    result = warp("exec", "python", "-V", cwd=tmp_path)
    assert result.returncode == 2
    assert "warp project" in result.stderr and "Traceback" not in result.stderr


def test_env_output_evaluates_in_bash(app, tmp_path):
    (app / ".s2i").mkdir()
    (app / ".s2i" / "environment").write_text("GREETING=hello world\nKEPT=from-file\n")
    (app / ".warpdrive").mkdir()
    (app / ".warpdrive" / "environment").write_text('SHOUT="${GREETING:-none}!"\nexport QUOTED="it\'s $KEPT"\n')
    env = dict(os.environ, KEPT="from-process", PORT="9123")
    try:
        printed = warp("env", "--app", str(app), cwd=tmp_path, env={"KEPT": "from-process", "PORT": "9123"})
        assert printed.returncode == 0, printed.stderr
        script = printed.stdout + '\necho "$VIRTUAL_ENV|$PORT|$GREETING|$SHOUT|$QUOTED"; command -v python\n'
        shown = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=30)
    finally:
        for path in (app / ".s2i" / "environment", app / ".warpdrive" / "environment"):
            path.unlink()
    assert shown.returncode == 0, shown.stderr
    values, python = shown.stdout.strip().splitlines()
    venv = str(app.resolve() / ".warp" / "venv")
    assert values == f"{venv}|9123|hello world|hello world!|it's from-process"
    assert python == venv + "/bin/python"


def test_shell_reads_commands_from_stdin_in_the_environment(app):
    result = warp("shell", cwd=app, env={"SHELL": "/bin/sh"}, input='echo "$VIRTUAL_ENV"; python -c "import sys; print(sys.prefix)"; exit 5\n')
    assert result.returncode == 5, result.stderr
    venv = str(app.resolve() / ".warp" / "venv")
    assert result.stdout.split() == [venv, venv]


def test_venv_setting_moves_the_environment(tmp_path):
    (tmp_path / "warp.yaml").write_text("venv: env-here\n")
    result = warp("project", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "env-here" / "pyvenv.cfg").is_file()
    assert not (tmp_path / ".warp" / "venv").exists()
    shown = warp("exec", "python", "-c", "import sys; print(sys.prefix)", cwd=tmp_path)
    assert shown.stdout.strip() == str(tmp_path.resolve() / "env-here")


def test_unavailable_python_version_is_one_line(tmp_path):
    result = warp("project", "--python", "2.5", cwd=tmp_path)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "Python 2.5 wanted" in lines[0] and "3.11" in lines[0]
    assert not (tmp_path / ".warp" / "venv").exists()


def test_warps_state_stays_out_of_the_apps_git(tmp_path):
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    (tmp_path / "app.py").write_text("x = 1\n")
    result = warp("project", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=tmp_path,
                            capture_output=True, text=True, check=True)
    assert status.stdout.splitlines() == ["?? app.py"]


def test_config_counts_environment_files_like_build_and_start(tmp_path):
    import json

    (tmp_path / ".s2i").mkdir()
    (tmp_path / ".s2i" / "environment").write_text("DISABLE_COLLECTSTATIC=1\nWEB_CONCURRENCY=3\n")
    # warp() leaves the caller's WEB_CONCURRENCY and DISABLE_COLLECTSTATIC out: the file's values count.
    result = warp("config", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)["settings"]}
    assert rows["disable_collectstatic"]["value"] is True
    assert (rows["workers"]["value"], rows["workers"]["source"]) == (3, "env WEB_CONCURRENCY")


def test_environment_files_reach_config_and_start_alike(tmp_path):
    """PORT and WARP_SERVER from .s2i/environment: the same values in `warp config`,
    in the build (which installs that server) and in `warp start --print`."""
    import json

    (tmp_path / "wsgi.py").write_text("def application(environ, start_response):\n    return []\n")
    (tmp_path / ".s2i").mkdir()
    (tmp_path / ".s2i" / "environment").write_text("PORT=9123\nWARP_SERVER=waitress\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PORT", "WARP_PORT", "WARP_SERVER")}
    config = warp("config", "--json", cwd=tmp_path, env=env)
    assert config.returncode == 0, config.stderr
    rows = {row["name"]: row for row in json.loads(config.stdout)["settings"]}
    assert (rows["port"]["value"], rows["port"]["source"]) == (9123, "env PORT")
    assert (rows["server"]["value"], rows["server"]["source"]) == ("waitress", "env WARP_SERVER")
    built = warp("build", cwd=tmp_path, env=env, timeout=600)
    assert built.returncode == 0, built.stderr
    start = warp("start", "--print", "--json", cwd=tmp_path, env=env)
    assert start.returncode == 0, start.stderr
    plan = json.loads(start.stdout)
    assert plan["server"] == "waitress"
    assert "--listen=0.0.0.0:9123" in plan["argv"] and plan["env"]["PORT"] == "9123"
