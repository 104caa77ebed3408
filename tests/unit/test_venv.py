"""Choosing the app's interpreter and reading/cloning environments."""

from pathlib import Path
import os

import pytest

from warp.core.errors import BuildError, UsageError
from warp.build.venv import Interpreter, choose_interpreter, clone_env, find_interpreters, version_matches


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


def test_clone_rewrites_own_paths_without_touching_the_source(tmp_path):
    src = tmp_path / "envs" / "old"
    (src / "bin").mkdir(parents=True)
    (src / "lib").mkdir()
    script = src / "bin" / "tool"
    script.write_text(f"#!{src}/bin/python\nprint('hi')\n")
    script.chmod(0o755)
    (src / "pyvenv.cfg").write_text(f"home = /usr/bin\ncommand = x {src}\n")
    (src / "lib" / "module.py").write_text("X = 1\n")
    (src / "bin" / "python").symlink_to("/usr/bin/python3")

    dst = clone_env(src, tmp_path / "envs" / "new")

    assert script.read_text().startswith(f"#!{src}/bin/python")
    assert (dst / "bin" / "tool").read_text().startswith(f"#!{dst}/bin/python")
    assert os.access(dst / "bin" / "tool", os.X_OK)
    assert str(dst) in (dst / "pyvenv.cfg").read_text() and str(src) in (src / "pyvenv.cfg").read_text()
    # Untouched files share the inode (hard link): nothing was rewritten or reinstalled.
    assert (dst / "lib" / "module.py").stat().st_ino == (src / "lib" / "module.py").stat().st_ino
    assert os.readlink(dst / "bin" / "python") == "/usr/bin/python3"


def test_orphans_are_the_dropped_and_what_only_they_needed():
    from warp.build.venv import orphans

    installed = [("Flask", ["Werkzeug>=3", "click>=8", "blinker; python_version<'4'"]), ("Werkzeug", ["MarkupSafe>=2"]),
                 ("click", []), ("blinker", []), ("MarkupSafe", []), ("Jinja2", ["MarkupSafe"]), ("pip", [])]
    assert orphans(installed, ["flask"], ["jinja2", "pip"]) == ["blinker", "click", "flask", "werkzeug"]
    assert orphans(installed, ["Flask"], ["Click", "pip"]) == ["blinker", "flask", "werkzeug"]
    assert orphans(installed, ["not-installed"], ["pip"]) == []
