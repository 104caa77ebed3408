"""`warp image` against the real Docker Engine.

The base image is the local Debian one that tests/images/debian-base.sh makes
(no image can be pulled where the tests run); it is built once and reused.
Everything is skipped only when no engine answers or the base cannot be made.
"""

from pathlib import Path
import json
import os
import shutil
import subprocess
import sys
import textwrap
import uuid

import pytest

docker = pytest.importorskip("docker")

REPO = Path(__file__).resolve().parents[2]
BASE = os.environ.get("WARP_TEST_BASE_IMAGE", "warp-test-base:bookworm")
RUN_ID = uuid.uuid4().hex[:8]


def image_name(what):
    return f"warp-test-{what}-{RUN_ID}"


@pytest.fixture(scope="session")
def engine():
    try:
        client = docker.from_env(timeout=600)
        client.ping()
    except Exception as exc:
        pytest.skip(f"no Docker engine answers ({exc}); .ci/run starts dockerd")
    made = []
    yield client, made
    for reference in made:
        try:
            client.images.remove(reference, force=True)
        except docker.errors.APIError:
            pass


@pytest.fixture(scope="session")
def base_image(engine):
    client, _ = engine
    try:
        client.images.get(BASE)
        return BASE
    except docker.errors.ImageNotFound:
        pass
    if shutil.which("debootstrap") is None or os.geteuid() != 0:
        pytest.skip(f"{BASE} is absent and cannot be made here (needs root and debootstrap)")
    subprocess.run(["sh", str(REPO / "tests/images/debian-base.sh"), BASE], check=True, timeout=1200)
    return BASE


def warp(*args, env=None, timeout=900):
    """Run the warp CLI as a user would; returns the CompletedProcess."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "warp.cli", *args], capture_output=True, text=True,
                          env=full_env, timeout=timeout, cwd=REPO)


def write_app(root, files):
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    return root


def assert_one_line_error(proc, code, *words):
    assert proc.returncode == code, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("warp: error:")]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for word in words:
        assert word in lines[0]
    return lines[0]


def assert_not_tagged(client, reference):
    with pytest.raises(docker.errors.ImageNotFound):
        client.images.get(reference)


# -- errors --------------------------------------------------------------------

def test_no_engine_answering_is_one_line_and_exit_1(tmp_path):
    app = write_app(tmp_path, {"app.py": "def application(environ, start_response): pass\n"})
    proc = warp("image", "whatever", "--app", str(app), env={"DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock"})
    assert_one_line_error(proc, 1, "no Docker engine answers", "no-engine.sock", "DOCKER_HOST")


def test_invalid_name_is_a_usage_error(tmp_path):
    proc = warp("image", "Not A Name", "--app", str(tmp_path))
    assert_one_line_error(proc, 2, "not a valid image name")


def test_missing_base_image_is_one_line_and_nothing_tagged(engine, tmp_path):
    client, _ = engine
    app = write_app(tmp_path, {"app.py": "def application(environ, start_response): pass\n"})
    name = image_name("nobase")
    proc = warp("image", name, "--app", str(app), "--base-image", f"warp-test-absent-{RUN_ID}:nope")
    assert_one_line_error(proc, 1, "base image", f"warp-test-absent-{RUN_ID}:nope", "--base-image")
    assert_not_tagged(client, name)


def test_failing_build_step_is_one_line_and_nothing_tagged(engine, base_image, tmp_path):
    client, _ = engine
    app = write_app(tmp_path, {
        "app.py": "def application(environ, start_response): pass\n",
        "requirements.txt": f"warp-test-no-such-distribution-{RUN_ID}==0.0.1\n",
    })
    name = image_name("failing")
    proc = warp("image", name, "--app", str(app), "--base-image", base_image, env={"PIP_RETRIES": "0"})
    line = assert_one_line_error(proc, 1, "image build failed at step")
    assert "warp build" in line  # the hint says how to reproduce it outside Docker
    assert_not_tagged(client, name)
