"""Buildpacks installing real packages from the index into real virtualenvs.

Each test builds a small app the way `warp build` runs a buildpack: a fresh
environment, the planned buildpacks, then a look at what is installed.
"""

import pytest

from warp.core.errors import BuildError, DetectError

from support import lockfiles
from support.buildpacks import build


def test_requirements_txt_installs_exactly_what_it_pins(tmp_path):
    (tmp_path / "requirements.txt").write_text("six==1.16.0\n")
    (tmp_path / "app.py").write_text("import six\n")
    installed, results = build(tmp_path)
    assert installed["six"] == "1.16.0"
    assert results == [{"installed_from": ["requirements.txt"]}]
    # warp's own dependencies stay out of the app's environment.
    assert "click" not in installed and "pyyaml" not in installed


@pytest.mark.parametrize("layout", ["pyproject", "setup"])
def test_app_as_a_package_installs_its_dependencies(tmp_path, layout):
    (tmp_path / "hello.py").write_text("import six\n")
    if layout == "pyproject":
        (tmp_path / "pyproject.toml").write_text(
            '[build-system]\nrequires = ["setuptools>=64"]\nbuild-backend = "setuptools.build_meta"\n\n'
            '[project]\nname = "hello"\nversion = "1.0"\ndependencies = ["six==1.16.0"]\n\n'
            '[tool.setuptools]\npy-modules = ["hello"]\n')
    else:
        (tmp_path / "setup.py").write_text(
            "from setuptools import setup\nsetup(name='hello', version='1.0', py_modules=['hello'], install_requires=['six==1.16.0'])\n")
    installed, _ = build(tmp_path)
    assert installed["six"] == "1.16.0"
    assert installed["hello"] == "1.0"


def test_bad_requirement_fails_with_pips_own_line(tmp_path):
    (tmp_path / "requirements.txt").write_text("warp-no-such-package-xyz==0.0.1\n")
    with pytest.raises(BuildError) as info:
        build(tmp_path)
    text = str(info.value)
    assert "\n" not in text
    assert "installing requirements.txt failed" in text and "warp-no-such-package-xyz" in text


def test_wheelhouse_with_no_index_builds_offline(tmp_path):
    wheelhouse = tmp_path / "wheels"
    lockfiles.pip_download(wheelhouse, "six==1.16.0")
    app = tmp_path / "app"
    app.mkdir()
    (app / "requirements.txt").write_text("six==1.16.0\n")
    environ = {"WARP_WHEELHOUSE": str(wheelhouse), "WARP_NO_INDEX": "1", "PIP_FIND_LINKS": "", "PIP_EXTRA_INDEX_URL": ""}
    installed, _ = build(app, environ)
    assert installed["six"] == "1.16.0"
    # What the wheelhouse lacks cannot come from anywhere else.
    (app / "requirements.txt").write_text("six==1.16.0\nidna==3.10\n")
    with pytest.raises(BuildError, match="idna"):
        build(app, environ, python=app / ".env" / "bin" / "python")


def test_pipfile_lock_without_pipenv_hashes_required(tmp_path, lock_wheels):
    lockfiles.write_pipfile_lock(tmp_path, lock_wheels)
    installed, results = build(tmp_path)
    for name in lockfiles.MAIN:
        assert installed[name] == lock_wheels[name][1]
    assert "colorama" not in installed  # its marker is false here
    assert "iniconfig" not in installed  # develop is not installed by default
    assert "pipenv" not in installed
    assert results[0]["installed_from"] == ["Pipfile.lock"]


def test_pipfile_lock_dev_group_on_request(tmp_path, lock_wheels):
    lockfiles.write_pipfile_lock(tmp_path, lock_wheels)
    installed, _ = build(tmp_path, {"WARP_LOCK_GROUPS": "dev"})
    assert installed["iniconfig"] == "2.0.0"


def test_pipfile_lock_hash_mismatch_stops_the_build(tmp_path, lock_wheels):
    lockfiles.write_pipfile_lock(tmp_path, lock_wheels)
    text = (tmp_path / "Pipfile.lock").read_text()
    good = lock_wheels["itsdangerous"][2]
    (tmp_path / "Pipfile.lock").write_text(text.replace(good, "sha256:" + "0" * 64))
    with pytest.raises(BuildError) as info:
        build(tmp_path)
    assert "installing Pipfile.lock failed" in str(info.value)
    assert "hash" in str(info.value).lower()


def test_poetry_lock_main_group_only_without_poetry(tmp_path, lock_wheels):
    lockfiles.write_poetry_lock(tmp_path, lock_wheels)
    installed, results = build(tmp_path)
    for name in lockfiles.MAIN:
        assert installed[name] == lock_wheels[name][1]
    assert "colorama" not in installed  # marker false on Linux
    assert "idna" not in installed  # an extra nobody asked for
    assert "iniconfig" not in installed  # dev group
    assert "poetry" not in installed
    assert results[0]["groups"] == ["main"]


def test_poetry_lock_groups_and_extras_on_request(tmp_path, lock_wheels):
    lockfiles.write_poetry_lock(tmp_path, lock_wheels)
    installed, _ = build(tmp_path, {"WARP_LOCK_GROUPS": "dev", "WARP_EXTRAS": "idn"})
    assert installed["iniconfig"] == "2.0.0"
    assert installed["idna"] == "3.10"
    assert "colorama" not in installed


def test_uv_lock_with_uv_sync_keeps_uv_out_of_the_app(tmp_path, uv_lock):
    lockfiles.write_uv_project(tmp_path)
    (tmp_path / "uv.lock").write_text(uv_lock)
    installed, results = build(tmp_path)
    assert installed["flask"] == lockfiles.FLASK
    assert "iniconfig" not in installed and "idna" not in installed
    assert "uv" not in installed
    assert "pip" in installed  # sync is inexact: what warp put there stays
    assert results[0]["tool"] == "uv sync"


def test_uv_lock_installed_by_pip_when_chosen(tmp_path, uv_lock):
    lockfiles.write_uv_project(tmp_path)
    (tmp_path / "uv.lock").write_text(uv_lock)
    installed, results = build(tmp_path, {"WARP_INSTALLER": "pip", "WARP_LOCK_GROUPS": "dev"})
    assert installed["flask"] == lockfiles.FLASK
    assert installed["iniconfig"] == "2.0.0"
    assert results[0]["tool"] == "uv export + pip"


def test_stale_uv_lock_stops_the_build(tmp_path, uv_lock):
    lockfiles.write_uv_project(tmp_path)
    (tmp_path / "uv.lock").write_text(uv_lock)
    text = (tmp_path / "pyproject.toml").read_text().replace(f'"flask=={lockfiles.FLASK}"', '"flask==3.0.2"')
    (tmp_path / "pyproject.toml").write_text(text)
    with pytest.raises(BuildError, match="installing uv.lock failed"):
        build(tmp_path)


def test_uv_installer_for_requirements_honours_pip_config(tmp_path):
    (tmp_path / "requirements.txt").write_text("six==1.16.0\n")
    installed, _ = build(tmp_path, {"WARP_INSTALLER": "uv"})
    assert installed["six"] == "1.16.0"
    assert "uv" not in installed


def test_conflicting_lock_files_stop_before_installing(tmp_path, lock_wheels):
    lockfiles.write_pipfile_lock(tmp_path, lock_wheels)
    lockfiles.write_poetry_lock(tmp_path, lock_wheels)
    with pytest.raises(DetectError, match="Pipfile.lock, poetry.lock.*package_manager"):
        build(tmp_path)
    # The setting settles it.
    installed, _ = build(tmp_path, {"WARP_PACKAGE_MANAGER": "poetry"})
    assert installed["flask"] == lockfiles.FLASK


OFFLINE = {"WARP_NO_INDEX": "1", "PIP_FIND_LINKS": "", "PIP_EXTRA_INDEX_URL": ""}


@pytest.mark.parametrize("installer_name", ["uv", "pip"])
def test_uv_lock_offline_from_a_wheelhouse(tmp_path, uv_lock, flask_wheelhouse, installer_name):
    lockfiles.write_uv_project(tmp_path)
    (tmp_path / "uv.lock").write_text(uv_lock)
    environ = {**OFFLINE, "WARP_WHEELHOUSE": str(flask_wheelhouse), "WARP_INSTALLER": installer_name,
               "UV_CACHE_DIR": str(tmp_path / "uv-cache")}
    installed, results = build(tmp_path, environ)
    assert installed["flask"] == lockfiles.FLASK
    assert results[0]["tool"] == f"uv export + {installer_name}"


def test_poetry_lock_offline_from_a_wheelhouse(tmp_path, lock_wheels, flask_wheelhouse):
    lockfiles.write_poetry_lock(tmp_path, lock_wheels)
    installed, _ = build(tmp_path, {**OFFLINE, "WARP_WHEELHOUSE": str(flask_wheelhouse)})
    assert installed["flask"] == lockfiles.FLASK


def test_pipfile_lock_with_the_uv_installer(tmp_path, lock_wheels):
    lockfiles.write_pipfile_lock(tmp_path, lock_wheels)
    installed, _ = build(tmp_path, {"WARP_INSTALLER": "uv"})
    assert installed["flask"] == lockfiles.FLASK
    assert "colorama" not in installed and "uv" not in installed


def test_pipfile_changed_since_the_lock_stops_the_build(tmp_path, lock_wheels):
    lockfiles.write_pipfile_lock(tmp_path, lock_wheels)
    (tmp_path / "Pipfile").write_text((tmp_path / "Pipfile").read_text().replace('[packages]\n', '[packages]\nsix = "*"\n'))
    with pytest.raises(BuildError, match="out of date with Pipfile"):
        build(tmp_path)


def test_poetry_package_project_is_installed_itself_like_poetry_install(tmp_path, lock_wheels):
    lockfiles.write_poetry_lock(tmp_path, lock_wheels)
    text = (tmp_path / "pyproject.toml").read_text().replace("[tool.poetry]\npackage-mode = false\n", "")
    (tmp_path / "pyproject.toml").write_text(
        text + '\n[build-system]\nrequires = ["poetry-core>=2.0"]\nbuild-backend = "poetry.core.masonry.api"\n')
    (tmp_path / "lockapp.py").write_text("VALUE = 42\n")
    installed, results = build(tmp_path)
    assert results[0]["project"] == "editable"
    assert installed["lockapp"] == "0.1.0"
    assert installed["flask"] == lockfiles.FLASK
