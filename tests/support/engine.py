"""The real Docker Engine for the tests that need one, and the local base image they
build on (no image can be pulled where the tests run). A test skips only when the
engine or the means to make the base image are absent; .ci/run provides both."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from support.paths import REPO

BASE_IMAGE = os.environ.get("WARP_TEST_BASE_IMAGE", "warp-test-base:bookworm")


def engine_or_skip(timeout: int = 600):
    """A docker client that answers, or a skip naming why not."""
    docker = pytest.importorskip("docker")
    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
    except Exception as exc:  # the SDK raises several kinds for "no engine here"
        pytest.skip(f"no Docker engine answers ({exc}); .ci/run starts dockerd")
    return client


def base_image_or_skip(client) -> str:
    """BASE_IMAGE, made once with debootstrap when it is absent (root only)."""
    import docker

    try:
        client.images.get(BASE_IMAGE)
        return BASE_IMAGE
    except docker.errors.ImageNotFound:
        pass
    if shutil.which("debootstrap") is None or os.geteuid() != 0:
        pytest.skip(f"{BASE_IMAGE} is absent and cannot be made here (needs root and debootstrap)")
    subprocess.run(["sh", str(REPO / "tests/images/debian-base.sh"), BASE_IMAGE], check=True, timeout=1200)
    return BASE_IMAGE
