"""Exactly one package manager, or one line naming the files and the setting: computed from the
recognitions of the real buildpacks (buildpacks/*/buildpack.py), not from a table of names."""

import pytest

from warp.build.buildpacks import App, all_buildpacks
from warp.build.recognise import choose_package_manager
from warp.core.errors import ConfigError, DetectError
from warp.core.config import load_config


def choose(root, setting="auto", source=None):
    environ = {} if setting == "auto" else {"WARP_PACKAGE_MANAGER": setting}
    return choose_package_manager(App(root, load_config(root, environ=environ)), all_buildpacks())[0]


def verdicts(root):
    return {v.name: v for v in choose_package_manager(App(root, load_config(root, environ={})), all_buildpacks())[1]}


def declared_names(root, choice):
    return set(choice.names)


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
    (["pyproject.toml", "setup.py"], "pyproject"),
    (["requirements.txt", "setup.py"], "requirements"),
])
def test_one_file_one_manager(tmp_path, files, expected):
    touch(tmp_path, *files)
    if "pyproject.toml" in files:
        (tmp_path / "pyproject.toml").write_text('[project]\nname = "app"\nversion = "1"\n')
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


def test_a_package_beside_a_lock_yields_to_it_and_says_so(tmp_path):
    touch(tmp_path, "uv.lock", "setup.py")
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "app"\nversion = "1"\n')
    assert choose(tmp_path).name == "uv"
    seen = verdicts(tmp_path)
    assert seen["uv"].runs and not seen["pyproject"].runs and not seen["setup"].runs
    assert seen["pyproject"].recognition.applies
    assert "yields to uv: pyproject.toml is its project file" in seen["pyproject"].reason
    assert "yields to pyproject" in seen["setup"].reason
    assert "no poetry.lock" in seen["poetry"].reason and not seen["poetry"].recognition.applies


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
    choice = choose(tmp_path, "poetry")
    assert choice.name == "poetry"
    assert "WARP_PACKAGE_MANAGER" in choice.reason


def test_the_setting_needs_its_file(tmp_path):
    touch(tmp_path, "requirements.txt")
    with pytest.raises(ConfigError, match="package_manager=uv .*no uv.lock"):
        choose(tmp_path, "uv")


def test_the_setting_must_name_a_package_manager_buildpack(tmp_path):
    touch(tmp_path, "requirements.txt")
    with pytest.raises(ConfigError) as info:
        choose(tmp_path, "pdm")
    text = str(info.value)
    assert "package_manager=pdm" in text and "requirements, pyproject, setup, pipfile, poetry, uv" in text
    with pytest.raises(ConfigError, match="not a package-manager buildpack"):
        choose(tmp_path, "django")  # a framework buildpack does not install dependencies


def test_pipfile_without_lock_says_run_pipenv_lock(tmp_path):
    touch(tmp_path, "Pipfile")
    with pytest.raises(DetectError, match="pipenv lock"):
        choose(tmp_path)


def test_a_near_miss_is_only_an_error_when_nothing_else_applies(tmp_path):
    touch(tmp_path, "Pipfile", "requirements.txt")
    assert choose(tmp_path).name == "requirements"
    assert "no Pipfile.lock" in verdicts(tmp_path)["pipfile"].reason
    touch(tmp_path / "", "requirements-dev.txt")
    (tmp_path / "requirements.txt").unlink()
    touch(tmp_path, "poetry.lock")
    assert choose(tmp_path).name == "poetry"  # requirements-dev.txt beside a lock is no misspelling


def test_misspelt_requirements_file_is_named(tmp_path):
    touch(tmp_path, "requirement.txt")
    with pytest.raises(DetectError, match="requirement.txt but no requirements.txt"):
        choose(tmp_path)


def test_requirement_names_follow_includes(tmp_path):
    (tmp_path / "requirements.txt").write_text("-r base.txt\nDjango==5.0  # web\n--hash=sha256:00\n")
    (tmp_path / "base.txt").write_text("Flask_Cors>=1\n# comment\n-e .\nhttps://example.invalid/x.whl\n")
    assert declared_names(tmp_path, choose(tmp_path)) == {"django", "flask-cors"}
