"""`warp deploy` on an engine that is not a swarm manager: one line naming `docker swarm init`,
exit 1, nothing created — on the real engine, taken out of swarm mode for the test.

Runs before test_swarm_deploy.py (modules run in name order), while no deploy exists;
the engine is put back into a one-node swarm afterwards, as .ci/run made it.
"""

from __future__ import annotations

import subprocess

import pytest

from support import one_error_line, warp, write
from support.engine import engine_or_skip

pytestmark = pytest.mark.docker


def _swarm_state(client) -> str:
    return (client.info().get("Swarm") or {}).get("LocalNodeState", "")


def test_no_swarm_is_one_line_naming_swarm_init_and_nothing_is_made(tmp_path):
    client = engine_or_skip()
    was_active = _swarm_state(client) == "active"
    if was_active:
        if client.services.list() or client.configs.list():
            pytest.skip("this engine's swarm runs services of its own; leaving it would stop them")
        subprocess.run(["docker", "swarm", "leave", "--force"], check=True, capture_output=True, timeout=60)
    try:
        networks_before = {n.id for n in client.networks.list()}
        app = write(tmp_path, {"wsgi.py": "def application(e, r):\n    r('200 OK', [])\n    return [b'ok']\n"})
        result = warp("deploy", "noswarm", "--image", "warp-test-base:bookworm", cwd=app, timeout=120)
        one_error_line(result, 1, "docker swarm init")
        assert {n.id for n in client.networks.list()} == networks_before
        assert _swarm_state(client) != "active"
    finally:
        if was_active:
            subprocess.run(["docker", "swarm", "init", "--advertise-addr", "127.0.0.1"], check=True,
                           capture_output=True, timeout=120)
