"""Buildpacks as shipped: warp's bin/detect (0 runs, 100 does not) and bin/build, and the folders inside the wheel."""

import json
import os
import subprocess
import sys
import zipfile

import pytest

from warp.build.buildpacks import all_buildpacks, warp_buildpacks_dir as buildpacks_dir

from support import REPO, warp, warp_env

NAMES = {"requirements", "pyproject", "setup", "pipfile", "poetry", "uv", "django"}


def test_every_buildpack_has_the_contract_files():
    packs = all_buildpacks()
    assert {pack.name for pack in packs} == NAMES
    for pack in packs:
        assert (pack.path / "buildpack.py").is_file()
        for verb in ("detect", "build"):
            path = pack.path / "bin" / verb
            assert path.is_file() and os.access(path, os.X_OK), path
        # warp's own protocol: no Cloud Native Buildpacks claim left behind.
        assert not (pack.path / "buildpack.toml").exists()
        assert "Cloud Native" not in (pack.path / "bin" / "detect").read_text().replace("not Cloud Native", "")
    kinds = [pack.kind for pack in packs]
    assert kinds.index("framework") > max(i for i, k in enumerate(kinds) if k == "package-manager")


def run_detect(name, cwd):
    env = warp_env(WARP_BUILDPACK_PYTHON=sys.executable)
    return subprocess.run([str(buildpacks_dir() / name / "bin" / "detect")], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60)


def test_bin_detect_exits_0_when_it_applies_and_100_when_not(tmp_path):
    (tmp_path / "requirements.txt").write_text("Flask\n")
    (tmp_path / "app.py").write_text("from flask import Flask\napp = Flask(__name__)\n")
    passed = run_detect("requirements", tmp_path)
    assert passed.returncode == 0, passed.stderr
    assert "requirements.txt" in passed.stdout
    for name in ("pipfile", "poetry", "uv", "django"):
        assert run_detect(name, tmp_path).returncode == 100


def test_bin_detect_errors_are_not_a_silent_no(tmp_path):
    (tmp_path / "Pipfile.lock").write_text("{}")
    (tmp_path / "uv.lock").write_text("")
    result = run_detect("pipfile", tmp_path)
    assert result.returncode not in (0, 100)
    assert "package_manager" in result.stderr


@pytest.fixture(scope="session")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(REPO), "-w", str(out)],
                   check=True, capture_output=True, timeout=600)
    return next(out.glob("warp-*.whl"))


def test_wheel_ships_the_buildpacks(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        for name in NAMES:
            assert f"warp/_data/buildpacks/{name}/buildpack.py" in names
            info = archive.getinfo(f"warp/_data/buildpacks/{name}/bin/detect")
            assert (info.external_attr >> 16) & 0o111, "bin/detect must stay executable"


def test_installed_wheel_finds_its_buildpacks(wheel, tmp_path):
    from support.lockfiles import make_env

    python = make_env(tmp_path / "env")
    # With its dependencies: a buildpack's code is loaded, and it imports warp.
    installed = subprocess.run([str(python), "-m", "pip", "install", "-q", str(wheel)], capture_output=True, text=True,
                               timeout=600)
    assert installed.returncode == 0, installed.stderr
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    code = ("from warp.build.buildpacks import all_buildpacks, warp_buildpacks_dir; print(warp_buildpacks_dir()); "
            "print(len(all_buildpacks()))")
    result = subprocess.run([str(python), "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    folder, count = result.stdout.split()
    assert folder.endswith("warp/_data/buildpacks") and "site-packages" in folder
    assert int(count) == len(NAMES)
    # The installed warp recognises an app with the buildpacks it ships.
    app = tmp_path / "app"
    app.mkdir()
    (app / "requirements.txt").write_text("six\n")
    (app / "app.py").write_text("def app(environ, start_response):\n    return []\n")
    detected = subprocess.run([str(python), "-m", "warp.cli", "detect", "--json"], cwd=app, env=env,
                              capture_output=True, text=True, timeout=120)
    assert detected.returncode == 0, detected.stderr
    packs = {pack["name"]: pack for pack in json.loads(detected.stdout)["buildpacks"]}
    assert packs["requirements"]["runs"] and "site-packages" in packs["requirements"]["path"]


def test_bin_build_installs_into_the_apps_environment(tmp_path):
    (tmp_path / "requirements.txt").write_text("six==1.16.0\n")
    (tmp_path / "app.py").write_text("import six\n")
    env = warp_env(WARP_BUILDPACK_PYTHON=sys.executable)
    made = warp("project", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    built = subprocess.run([str(buildpacks_dir() / "requirements" / "bin" / "build")], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    assert "installing requirements.txt" in built.stderr
    check = subprocess.run([str(tmp_path / ".warp" / "venv" / "bin" / "python"), "-c", "import six; print(six.__version__)"],
                           capture_output=True, text=True, timeout=60)
    assert check.stdout.strip() == "1.16.0"
    # A buildpack that does not run for the app refuses to build, with detect's "does not run" status.
    assert subprocess.run([str(buildpacks_dir() / "poetry" / "bin" / "build")], cwd=tmp_path, env=env,
                          capture_output=True, timeout=60).returncode == 100
