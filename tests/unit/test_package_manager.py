"""Exactly one package manager, or one line naming the files and the setting."""

import pytest

from warp.core.errors import ConfigError, DetectError
from warp.app.package_manager import choose, declared_names


def touch(root, *names, text=""):
    for name in names:
        (root / name).write_text(text)


@pytest.mark.parametrize("files, expected", [
    (["requirements.txt"], "requirements"),
    (["Pipfile", "Pipfile.lock"], "pipfile"),
    (["poetry.lock"], "poetry"),
    (["uv.lock"], "uv"),
    (["setup.py"], "setup"),
    (["setup.cfg"], "setup"),
])
def test_one_file_one_manager(tmp_path, files, expected):
    touch(tmp_path, *files)
    choice = choose(tmp_path)
    assert choice.name == expected
    assert files[-1] in choice.files
    assert files[-1] in choice.reason or expected in choice.reason


def test_pep621_pyproject_is_a_package(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "app"\nversion = "1"\ndependencies = ["Flask>=3"]\n')
    choice = choose(tmp_path)
    assert choice.name == "pyproject"
    assert declared_names(tmp_path, choice) == {"flask"}


def test_lock_file_keeps_its_project_file_as_input(tmp_path):
    touch(tmp_path, "poetry.lock", "pyproject.toml")
    choice = choose(tmp_path)
    assert choice.name == "poetry"
    assert choice.files == ("poetry.lock", "pyproject.toml")


def test_pyproject_that_only_configures_tools_is_not_a_package(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.black]\nline-length = 100\n")
    assert choose(tmp_path).name is None


@pytest.mark.parametrize("files", [
    ["Pipfile.lock", "poetry.lock"],
    ["requirements.txt", "uv.lock"],
    ["requirements.txt", "Pipfile.lock", "poetry.lock", "uv.lock"],
])
def test_several_dependency_files_stop_with_one_line(tmp_path, files):
    touch(tmp_path, *files)
    with pytest.raises(DetectError) as info:
        choose(tmp_path)
    text = str(info.value)
    assert "\n" not in text
    for name in files:
        assert name in text
    assert "package_manager" in text


def test_the_setting_chooses_among_several(tmp_path):
    touch(tmp_path, "Pipfile.lock", "poetry.lock", "pyproject.toml")
    choice = choose(tmp_path, "poetry", "warp.yaml")
    assert choice.name == "poetry"
    assert "warp.yaml" in choice.reason


def test_the_setting_needs_its_file(tmp_path):
    touch(tmp_path, "requirements.txt")
    with pytest.raises(ConfigError, match="package_manager=uv .*no uv.lock"):
        choose(tmp_path, "uv", "env WARP_PACKAGE_MANAGER")


def test_pipfile_without_lock_says_run_pipenv_lock(tmp_path):
    touch(tmp_path, "Pipfile")
    with pytest.raises(DetectError, match="pipenv lock"):
        choose(tmp_path)


def test_misspelt_requirements_file_is_named(tmp_path):
    touch(tmp_path, "requirement.txt")
    with pytest.raises(DetectError, match="requirement.txt but no requirements.txt"):
        choose(tmp_path)


def test_requirement_names_follow_includes(tmp_path):
    (tmp_path / "requirements.txt").write_text("-r base.txt\nDjango==5.0  # web\n--hash=sha256:00\n")
    (tmp_path / "base.txt").write_text("Flask_Cors>=1\n# comment\n-e .\nhttps://example.invalid/x.whl\n")
    assert declared_names(tmp_path, choose(tmp_path)) == {"django", "flask-cors"}
