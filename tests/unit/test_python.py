"""warp.app.python: which Python the app wants, and which host interpreter satisfies it."""

from pathlib import Path
import os

import pytest

from warp.app.python import Interpreter, choose_interpreter, find_interpreters, poetry_python, version_matches, wanted_python
from warp.core.errors import BuildError, UsageError
from warp.core.project import open_project


@pytest.mark.parametrize("version, wanted, ok", [
    ((3, 11, 7), "3.11", True),
    ((3, 11, 7), "3.11.7", True),
    ((3, 11, 7), "3.11.6", False),
    ((3, 11, 7), "python-3.11.7", True),
    ((3, 11, 7), "3", True),
    ((3, 12, 1), "3.1", False),
    ((3, 11, 7), ">=3.9", True),
    ((3, 8, 18), ">=3.9", False),
    ((3, 11, 7), ">=3.9,<3.12", True),
    ((3, 12, 1), ">=3.9,<3.12", False),
    ((3, 11, 7), "==3.11.*", True),
    ((3, 10, 2), "~=3.10", True),
    ((4, 0, 0), "~=3.10", False),
    ((3, 10, 2), "!=3.10.*", False),
])
def test_version_matches(version, wanted, ok):
    assert version_matches(version, wanted) is ok


HOST = [Interpreter((3, 11, 7), Path("/a/3.11")), Interpreter((3, 12, 1), Path("/a/3.12")), Interpreter((3, 9, 18), Path("/a/3.9"))]


def test_warps_own_interpreter_is_preferred_when_it_fits():
    assert choose_interpreter(">=3.9", interpreters=HOST).version == (3, 11, 7)
    assert choose_interpreter(None, interpreters=HOST).version == (3, 11, 7)
    assert choose_interpreter("3.9", interpreters=HOST).version == (3, 9, 18)


def test_missing_version_names_wanted_and_found():
    with pytest.raises(BuildError) as caught:
        choose_interpreter("3.5", where="runtime.txt", interpreters=HOST)
    message = str(caught.value)
    assert "Python 3.5 wanted (runtime.txt)" in message
    assert "3.9.18, 3.11.7, 3.12.1" in message
    assert "\n" not in message


def test_nonsense_version_is_a_usage_error():
    with pytest.raises(UsageError):
        choose_interpreter("banana", interpreters=HOST)


def test_find_interpreters_runs_on_this_host():
    found = find_interpreters()
    assert found and all(i.path.exists() for i in found)
    assert len({os.path.realpath(i.path) for i in found}) == len(found)


def test_poetry_constraints_become_specifiers():
    assert poetry_python("^3.10") == ">=3.10,<4"
    assert poetry_python("~3.10") == ">=3.10,<3.11"
    assert poetry_python(">=3.9,<3.13") == ">=3.9,<3.13"


@pytest.mark.parametrize("files, environ, version, reason", [
    ({}, {}, None, "nothing asks for a version"),
    ({".python-version": "cpython-3.12  # pinned\n"}, {}, "3.12", ".python-version says cpython-3.12"),
    ({"runtime.txt": "python-3.10.4\n"}, {}, "3.10.4", "runtime.txt says python-3.10.4"),
    ({"Pipfile.lock": '{"_meta": {"requires": {"python_version": "3.11"}}}'}, {}, "3.11", "Pipfile.lock"),
    ({".python-version": "3.12\n"}, {"WARP_PYTHON": "3.11"}, "3.11", "setting python from env WARP_PYTHON"),
])
def test_wanted_python_names_what_asks(tmp_path, files, environ, version, reason):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    wanted = wanted_python(open_project(tmp_path, environ=environ))
    assert wanted.version == version and reason in wanted.reason


def test_a_version_in_an_environment_file_is_the_setting(tmp_path):
    (tmp_path / ".s2i").mkdir()
    (tmp_path / ".s2i/environment").write_text("WARP_PYTHON=3.10\n")
    (tmp_path / ".python-version").write_text("3.12\n")
    assert wanted_python(open_project(tmp_path, environ={})).version == "3.10"
