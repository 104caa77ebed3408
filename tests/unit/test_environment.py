"""The app's runtime environment: env files, venv activation, PORT, shell-eval output."""

import os
import subprocess

import pytest

from warp.core.environment import changes, read_s2i_environment, runtime_environ, shell_script
from warp.core.errors import ConfigError
from warp.core.project import open_project


def test_s2i_file_is_name_value_lines_and_a_bad_line_names_file_and_line(tmp_path):
    path = tmp_path / "environment"
    path.write_text("# comment\nA=1\n\nB=two words = ok\n")
    assert read_s2i_environment(path) == {"A": "1", "B": "two words = ok"}
    path.write_text("A=1\nnot a setting\n")
    with pytest.raises(ConfigError, match=r"environment:2: expected NAME=VALUE"):
        read_s2i_environment(path)


def test_s2i_file_reads_as_users_write_it(tmp_path):
    path = tmp_path / "environment"
    path.write_text(
        "# a comment\n// another, as s2i allows\n\n"
        'export APP_MODULE="pkg:application"\n'
        "  SPACED = 'two words'  \n"
        'ESCAPED="say \\"hi\\""\n'
        "LITERAL=${HOME}/x\n"
        "EMPTY=\n"
    )
    assert read_s2i_environment(path) == {
        "APP_MODULE": "pkg:application", "SPACED": "two words", "ESCAPED": 'say "hi"',
        # s2i does not expand variables: the value is what the file says.
        "LITERAL": "${HOME}/x", "EMPTY": "",
    }


@pytest.mark.parametrize("line, words", [
    ("APP_MODULE=\"pkg:app", ["environment:2:", "does not close"]),
    ("MY-NAME=1", ["environment:2:", "expected NAME=VALUE"]),
    ("export", ["environment:2:", "expected NAME=VALUE"]),
])
def test_unreadable_s2i_line_names_file_and_line(tmp_path, line, words):
    path = tmp_path / "environment"
    path.write_text("A=1\n" + line + "\n")
    with pytest.raises(ConfigError) as caught:
        read_s2i_environment(path)
    for word in words:
        assert word in str(caught.value)


def test_broken_warpdrive_environment_names_the_line(tmp_path):
    (tmp_path / ".warpdrive").mkdir()
    (tmp_path / ".warpdrive" / "environment").write_text("A=1\n# fine\nB=\"unclosed\nC=3\n")
    with pytest.raises(ConfigError, match=r"\.warpdrive/environment:\d+: sourcing it failed: .*"):
        open_project(tmp_path, environ={"PATH": "/usr/bin:/bin"})
    (tmp_path / ".warpdrive" / "environment").write_text("A=1\nif then fi (\n")
    with pytest.raises(ConfigError, match=r"\.warpdrive/environment:2: sourcing it failed"):
        open_project(tmp_path, environ={"PATH": "/usr/bin:/bin"})


def test_warpdrive_file_is_a_shell_file(tmp_path):
    (tmp_path / ".warpdrive").mkdir()
    (tmp_path / ".warpdrive" / "environment").write_text(
        "# sourced with set -a, as warpdrive does\n"
        "export A='single quoted'\n"
        'B="${A} and ${MISSING:-a default}"\n'
        "C=plain # trailing comment\n"
    )
    env = open_project(tmp_path, environ={"PATH": "/usr/bin:/bin"}).environ
    assert (env["A"], env["B"], env["C"]) == ("single quoted", "single quoted and a default", "plain")


def test_runtime_environ_activates_the_venv_and_sets_port(tmp_path):
    project = open_project(tmp_path, environ={"PATH": "/usr/bin", "PYTHONHOME": "/x", "PORT": "9000"})
    env = runtime_environ(project)
    venv = str(tmp_path.resolve() / ".warp" / "venv")
    assert env["VIRTUAL_ENV"] == venv
    assert env["PATH"] == venv + "/bin" + os.pathsep + "/usr/bin"
    assert "PYTHONHOME" not in env and env["PORT"] == "9000"


def test_process_environment_wins_over_s2i_but_warpdrive_file_is_sourced(tmp_path):
    (tmp_path / ".s2i").mkdir()
    (tmp_path / ".s2i" / "environment").write_text("MODE=file\nEXTRA=yes\n")
    (tmp_path / ".warpdrive").mkdir()
    (tmp_path / ".warpdrive" / "environment").write_text('COMBINED="$MODE-$EXTRA"\n')
    project = open_project(tmp_path, environ={"PATH": "/usr/bin:/bin", "MODE": "process"})
    env = runtime_environ(project)
    assert (env["MODE"], env["EXTRA"], env["COMBINED"]) == ("process", "yes", "process-yes")


def test_shell_script_round_trips_awkward_values(tmp_path):
    (tmp_path / ".s2i").mkdir()
    (tmp_path / ".s2i" / "environment").write_text("""ODD=it's "quoted" $NOT_EXPANDED `nor this`\n""")
    base = {"PATH": "/usr/bin:/bin", "GONE": "x", "PYTHONHOME": "/somewhere"}
    script = shell_script(open_project(tmp_path, environ=base), base=base)
    assert "unset PYTHONHOME" in script
    shown = subprocess.run(["sh", "-c", script + '\nprintf "%s|%s" "$ODD" "${PYTHONHOME-unset}"'], env=base,
                           capture_output=True, text=True)
    assert shown.stdout == """it's "quoted" $NOT_EXPANDED `nor this`|unset"""


def test_changes_lists_set_and_unset():
    assert changes({"A": "1", "B": "2"}, {"A": "1", "C": "3"}) == ({"C": "3"}, ["B"])


def test_port_from_an_environment_file_stands_unless_warps_port_is_set(tmp_path):
    (tmp_path / ".s2i").mkdir()
    (tmp_path / ".s2i" / "environment").write_text("PORT=9001\n")
    base = {"PATH": "/usr/bin:/bin"}
    assert runtime_environ(open_project(tmp_path, environ=base))["PORT"] == "9001"
    assert runtime_environ(open_project(tmp_path, environ=dict(base, WARP_PORT="9002")))["PORT"] == "9002"
    assert runtime_environ(open_project(tmp_path / ".s2i", environ=base))["PORT"] == "8080"


def test_environment_files_are_applied_once_when_the_project_is_opened(tmp_path):
    # A fragment that is not idempotent shows a second application at once.
    (tmp_path / ".warpdrive").mkdir()
    (tmp_path / ".warpdrive" / "environment").write_text('COUNT="${COUNT}x"\n')
    (tmp_path / ".s2i").mkdir()
    (tmp_path / ".s2i" / "environment").write_text("WARP_SERVER=gunicorn\n")
    project = open_project(tmp_path, environ={"PATH": "/usr/bin:/bin"})
    assert project.environ["COUNT"] == "x" and project.config.server == "gunicorn"
    assert runtime_environ(project)["COUNT"] == "x"
    assert "export COUNT=x" in shell_script(project, base={"PATH": "/usr/bin:/bin"}).splitlines()
    # What the caller set wins over .s2i/environment, and the caller's mapping is left alone.
    base = {"PATH": "/usr/bin:/bin", "WARP_SERVER": "waitress"}
    assert open_project(tmp_path, environ=base).config.server == "waitress" and "COUNT" not in base


def test_locale_defaults_fill_only_what_the_user_left_unset():
    from warp.core.environment import locale_defaults, utf8_locale

    chosen = utf8_locale()
    assert chosen in ("en_US.UTF-8", "C.UTF-8")
    assert locale_defaults({}) == {"LANG": chosen, "LC_ALL": chosen, "PYTHONIOENCODING": "UTF-8"}
    assert locale_defaults({"LANG": "de_DE.UTF-8"}) == {"LC_ALL": "de_DE.UTF-8", "PYTHONIOENCODING": "UTF-8"}
    assert locale_defaults({"LANG": "x", "LC_ALL": "y", "PYTHONIOENCODING": "latin-1"}) == {}


def test_utf8_locale_is_one_this_machine_has():
    from warp.core.environment import utf8_locale

    shown = subprocess.run(["locale", "-a"], capture_output=True, text=True).stdout.lower().replace("-", "").split()
    assert utf8_locale().lower().replace("-", "") in shown
