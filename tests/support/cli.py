"""Run the warp CLI as a user would, on this checkout's code."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Mapping, Optional, Union

from support.paths import SRC

# Variables a developer's shell or CI may carry that change what warp does; a test
# that wants one sets it explicitly.
_STEERING = ("WEB_CONCURRENCY", "PORT", "HOST", "APP_MODULE", "DISABLE_COLLECTSTATIC", "DJANGO_MIGRATE",
             "PYTHON_MAX_THREADS")

EnvValue = Union[str, int, float, os.PathLike, None]


def warp_command(*args: str) -> list[str]:
    """The argv that runs warp's CLI with this interpreter."""
    return [sys.executable, "-m", "warp.cli", *args]


def warp_env(venv: Optional[Path] = None, base: Optional[Mapping[str, str]] = None, **extra: EnvValue) -> dict[str, str]:
    """The environment for a warp subprocess: ``base`` (this process's environment by
    default) without warp's settings variables, with this checkout's src first on
    PYTHONPATH, then ``extra`` (a value of None removes the variable)."""
    env = dict(os.environ if base is None else base)
    for name in list(env):
        if (name.startswith("WARP_") and not name.startswith("WARP_TEST_")) or name in _STEERING:
            del env[name]
    env["PYTHONPATH"] = str(SRC)
    if venv is not None:
        env["WARP_VENV"] = str(venv)
    for name, value in extra.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = str(value)
    return env


def warp(*args: str, cwd: Union[str, Path, None] = None, env: Optional[Mapping[str, EnvValue]] = None,
         input: Optional[str] = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run ``warp ARGS`` in ``cwd`` and return the finished process (text output).

    ``env`` adds to (or, with None values, removes from) warp_env(): tests state only
    what they change.
    """
    return subprocess.run(warp_command(*args), cwd=cwd, env=warp_env(**dict(env or {})), input=input,
                          capture_output=True, text=True, timeout=timeout)


def error_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    """The ``warp: error`` lines of a finished warp's stderr."""
    return [line for line in result.stderr.splitlines() if line.startswith("warp: error")]


def one_error_line(result: subprocess.CompletedProcess[str], code: int, *words: str) -> str:
    """Assert warp failed with exit status ``code`` and one ``warp: error:`` line holding
    every one of ``words``, and no traceback; returns that line."""
    assert result.returncode == code, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("warp: error:")]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]
