"""The engine-free parts of warp.image.build: names, base image, labels, lazy docker import."""

import subprocess
import sys

import pytest

from warp.core.errors import UsageError
from warp.image.build import _build_failed, check_base_image, check_name, default_base_image, start_interval_for, start_period


@pytest.mark.parametrize("name, reference", [
    ("myapp", "myapp:latest"),
    ("myapp:1.0", "myapp:1.0"),
    ("team/my-app_2:v1.2-rc", "team/my-app_2:v1.2-rc"),
    ("registry.local:5000/team/app", "registry.local:5000/team/app:latest"),
])
def test_valid_names(name, reference):
    assert check_name(name) == reference


@pytest.mark.parametrize("name", ["", "MyApp", "my app", "app:", "-app", "app:bad tag", "a//b"])
def test_invalid_names_are_usage_errors(name):
    with pytest.raises(UsageError) as caught:
        check_name(name)
    assert caught.value.exit_code == 2


def test_default_base_image_follows_an_exact_version_only():
    assert default_base_image("3.12") == "python:3.12-slim"
    assert default_base_image("3.10.4") == "python:3.10-slim"
    assert default_base_image("python-3.9.18") == "python:3.9-slim"
    here = f"python:{sys.version_info.major}.{sys.version_info.minor}-slim"
    assert default_base_image(">=3.9") == here
    assert default_base_image(None) == here


def test_start_interval_only_where_the_engine_has_it():
    assert start_interval_for((1, 41)) is None
    assert start_interval_for((1, 43)) is None
    assert start_interval_for((1, 44)) == 1
    assert start_interval_for((1, 50)) == 1


def test_start_period_follows_the_servers_startup_timeout():
    assert start_period({}) == 70  # the bundled server's 60 s default, plus 10
    assert start_period({"WARP_STARTUP_TIMEOUT": "120"}) == 130
    assert start_period({"WARP_STARTUP_TIMEOUT": "soon"}) == 70


def test_build_failure_is_one_line_with_step_and_last_output():
    error = _build_failed("step 13/30 (RUN warp build)", "warp: error: requirements.txt: no such distribution", "The command returned\na non-zero code: 1")
    assert "\n" not in str(error)
    assert "step 13/30" in error.message and "no such distribution" in error.message
    assert error.exit_code == 1


def test_docker_is_imported_only_by_the_image_command():
    code = "import sys, warp.cli, warp.image.build, warp.image.render; print('docker' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_base_image_references():
    digest = "sha256:" + "a" * 64
    for good in ("python:3.12-slim", "warp-test-base:bookworm", "registry.local:5000/team/base:1", f"python@{digest}"):
        assert check_base_image(good, "--base-image") == good
    for bad in ("python 3.12", "Python:3", "python@sha256:short", ""):
        with pytest.raises(UsageError, match="warp.yaml"):
            check_base_image(bad, "warp.yaml")
