"""installer: commands for pip and uv, pip's configuration handed to uv, errors reduced to one line."""

import os
import sys
from pathlib import Path

import pytest

from warp.app.installer import find_uv
from warp.build import installer
from warp.build.buildpacks import BuildContext
from warp.core.errors import BuildError
from warp.core.project import open_project


def test_uv_gets_pips_effective_configuration(tmp_path):
    environ = {**os.environ, "PIP_INDEX_URL": "https://mirror.invalid/simple", "PIP_EXTRA_INDEX_URL": "https://extra.invalid/simple",
               "PIP_TRUSTED_HOST": "mirror.invalid", "PIP_CONSTRAINT": str(tmp_path / "c.txt"), "PYTHONPATH": "/leak"}
    for name in ("UV_DEFAULT_INDEX", "UV_INDEX", "UV_INSECURE_HOST", "UV_CONSTRAINT", "UV_INDEX_STRATEGY"):
        environ.pop(name, None)
    env = installer.uv_environ(sys.executable, environ)
    assert env["UV_DEFAULT_INDEX"] == "https://mirror.invalid/simple"
    assert env["UV_INDEX"] == "https://extra.invalid/simple"
    assert env["UV_INDEX_STRATEGY"] == "unsafe-best-match"  # pip merges indexes; so must uv
    assert env["UV_INSECURE_HOST"] == "mirror.invalid"
    assert env["UV_CONSTRAINT"] == str(tmp_path / "c.txt")
    assert env["UV_PYTHON_DOWNLOADS"] == "never"
    assert "PYTHONPATH" not in env


def test_users_uv_variables_win(tmp_path):
    environ = {**os.environ, "PIP_INDEX_URL": "https://mirror.invalid/simple", "UV_DEFAULT_INDEX": "https://mine.invalid/simple"}
    assert installer.uv_environ(sys.executable, environ)["UV_DEFAULT_INDEX"] == "https://mine.invalid/simple"


def ctx(tmp_path, **kw):
    return BuildContext(project=open_project(tmp_path, environ={}), python=Path("/app/env/bin/python"), environ={"PYTHONPATH": "x"}, **kw)


def test_pip_command_runs_the_app_envs_own_pip_with_wheelhouse(tmp_path):
    argv, env = installer.install_command(ctx(tmp_path, wheelhouse=Path("/wh"), no_index=True), ["-r", "requirements.txt"])
    assert argv[:4] == ["/app/env/bin/python", "-m", "pip", "install"]
    assert argv[-5:] == ["--find-links", "/wh", "--no-index", "-r", "requirements.txt"]
    assert "PYTHONPATH" not in env


def test_missing_uv_says_how_to_get_it(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_uv(name, *args, **kwargs):
        if name == "uv":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_uv)
    monkeypatch.setattr(sys, "executable", "/nonexistent/python")
    with pytest.raises(BuildError, match=r"warp\[uv\]"):
        find_uv({"PATH": "/nonexistent"})


@pytest.mark.parametrize("output, line", [
    ("Collecting x\nERROR: Could not find a version that satisfies the requirement x==9 (from versions: none)\n"
     "ERROR: No matching distribution found for x==9\n", "Could not find a version that satisfies the requirement x==9 (from versions: none)"),
    ("  × No solution found when resolving dependencies:\n  ╰─▶ Because x was not found in the package registry\n",
     "No solution found when resolving dependencies:"),
    ("error: The lockfile at `uv.lock` needs to be updated\n", "The lockfile at `uv.lock` needs to be updated"),
])
def test_error_line_picks_the_tools_own_words(output, line):
    assert installer.error_line(output) == line


def test_installed_lists_the_environment(tmp_path):
    names = installer.installed(sys.executable)
    assert "pytest" in {name.lower() for name in names}
