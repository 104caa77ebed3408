"""The wheel of the running warp that image builds install."""

import io
import os
import subprocess
import sys
import zipfile

from warp.image import wheel


def test_wheel_is_reproducible_and_complete():
    name, data = wheel.build_wheel()
    assert wheel.build_wheel() == (name, data)
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert "warp/__init__.py" in names and "warp/cli.py" in names and "warp/image/entrypoint.sh" in names
    assert "warp/_data/Dockerfile.template" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert any(n.endswith(".dist-info/RECORD") for n in names)


def test_requirements_leave_the_docker_sdk_out():
    names = [r.split(">")[0].split("=")[0].strip().lower() for r in wheel.requirements()]
    assert "click" in names
    assert "docker" not in names


def test_pip_installs_it_and_warp_runs(tmp_path):
    # A real install into a fresh venv (dependencies come from the host's site-packages).
    name, data = wheel.build_wheel()
    (tmp_path / name).write_bytes(data)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(tmp_path / "v")], check=True)
    subprocess.run([sys.executable, "-m", "pip", "--python", str(tmp_path / "v/bin/python"), "install", "-q", "--no-deps", str(tmp_path / name)],
                   check=True, capture_output=True)
    out = subprocess.run([str(tmp_path / "v/bin/warp"), "--version"], capture_output=True, text=True, check=True, env=env)
    assert "warp" in out.stdout
    where = subprocess.run(
        [str(tmp_path / "v/bin/python"), "-c",
         "import warp, pathlib; p = pathlib.Path(warp.__file__).parent; print(p); print((p / '_data/Dockerfile.template').is_file())"],
        capture_output=True, text=True, check=True, env=env,
    ).stdout.split()
    assert where[0].startswith(str(tmp_path)) and where[1] == "True"
