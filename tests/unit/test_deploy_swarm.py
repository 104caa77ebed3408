"""The parts of warp deploy's Swarm driver that need no engine: the swarm check, update order, health output."""

import pytest

from warp.core.errors import WarpError
from warp.core.project import open_project
from warp.deploy import swarm
from warp.deploy.spec import app_spec

from support import write


class Engine:
    """Answers `docker info` as an engine in the given swarm state would (a fake of one call)."""

    def __init__(self, state, manager=True):
        self.state, self.manager = state, manager

    def info(self):
        return {"Swarm": {"LocalNodeState": self.state, "ControlAvailable": self.manager}}


@pytest.mark.parametrize("state, manager, words", [
    ("inactive", False, "not in swarm mode (run `docker swarm init`"),
    ("active", False, "a swarm worker, not a manager"),
])
def test_connect_refuses_an_engine_that_cannot_take_services(monkeypatch, state, manager, words):
    monkeypatch.setattr("warp.image.build.connect", lambda environ=None: Engine(state, manager))
    with pytest.raises(WarpError) as caught:
        swarm.connect()
    assert words in str(caught.value)
    assert caught.value.exit_code == 1


def test_connect_accepts_a_manager(monkeypatch):
    engine = Engine("active", True)
    monkeypatch.setattr("warp.image.build.connect", lambda environ=None: engine)
    assert swarm.connect() is engine


@pytest.mark.parametrize("flags, web_order", [
    ({}, "start-first"),
    ({"deploy_publish": "0"}, "start-first"),
    ({"deploy_publish_mode": "host"}, "stop-first"),  # the new replica could not bind the node's port
])
def test_update_order(tmp_path, flags, web_order):
    app = write(tmp_path, {"wsgi.py": "application = None\n", "Procfile": "worker: python w.py\n"})
    spec = app_spec(open_project(app, environ={}, flags=flags), "shop")
    assert swarm.update_order(spec, spec.process("web")) == web_order
    assert swarm.update_order(spec, spec.process("worker")) == "stop-first"


def test_task_error_says_exit_status():
    task = {"Status": {"State": "failed", "Err": "task: non-zero exit (3)", "ContainerStatus": {"ExitCode": 3}}}
    assert swarm._task_error(task) == "exit status 3"
    task = {"Status": {"State": "rejected", "Err": "no suitable node"}}
    assert swarm._task_error(task) == "no suitable node"
