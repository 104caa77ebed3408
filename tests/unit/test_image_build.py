"""The engine-free parts of warp.image.build: names, base image, labels, lazy docker import."""

import subprocess
import sys
from datetime import datetime, timezone

import pytest

from warp.core.errors import UsageError
from warp.image.build import _build_failed, check_base_image, check_name, default_base_image, oci_labels


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


def test_labels_from_git_without_credentials(tmp_path):
    def git(*args):
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    git("init", "-q")
    git("remote", "add", "origin", "https://user:t0ken@git.example.invalid/team/app.git")
    (tmp_path / "a").write_text("a")
    git("add", "a")
    git("-c", "user.name=t", "-c", "user.email=t@t.invalid", "commit", "-qm", "a")
    head = subprocess.run(["git", "-C", str(tmp_path), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    labels = oci_labels(tmp_path, "team/app:1.0", now=datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc))
    assert labels["org.opencontainers.image.source"] == "https://git.example.invalid/team/app.git"
    assert labels["org.opencontainers.image.revision"] == head
    assert labels["org.opencontainers.image.created"] == "2026-01-02T03:04:05Z"
    assert labels["org.opencontainers.image.title"] == "app"


def test_labels_without_git(tmp_path):
    labels = oci_labels(tmp_path, "app:latest")
    assert "org.opencontainers.image.revision" not in labels
    assert labels["org.opencontainers.image.source"] == tmp_path.resolve().as_uri()


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
