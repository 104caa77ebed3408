"""The master's side services, driven as the arbiter drives them, with real processes."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from warp.core.settings import BY_NAME, parse_value
from warp.runtime.server.services import Services

import support


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def reap(services: Services, timeout: float = 10) -> tuple[int, int]:
    """Wait for one keeper to exit, hand it to ``services`` and return (pid, exit code)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid, status = os.waitpid(-1, os.WNOHANG)
        if pid:
            code = os.waitstatus_to_exitcode(status)
            services.exited(pid, code)
            return pid, code
        time.sleep(0.02)
    raise AssertionError("no keeper exited")


@pytest.fixture
def logged() -> list[str]:
    return []


def test_a_dead_service_restarts_with_a_growing_backoff(tmp_path: Path, logged: list[str]) -> None:
    clock = Clock()
    services = Services({"flaky": f"echo ran >> {tmp_path}/runs; exit 3"}, logged.append, clock)
    services.start_due()
    first = services.services["flaky"].pid
    assert first and services.owns(first)
    assert reap(services) == (first, 3)
    assert services.next_due() == clock.now + 1
    services.start_due()  # not due yet: nothing starts
    assert services.services["flaky"].pid is None
    clock.now += 1
    services.start_due()
    second = services.services["flaky"].pid
    assert second and second != first
    reap(services)
    assert services.next_due() == clock.now + 2  # the second quick death doubles the wait
    assert (tmp_path / "runs").read_text() == "ran\nran\n"
    assert services.rows()[0]["restarts"] == 2
    assert any("flaky exited with status 3; restarting in 2 s" in line for line in logged)


def test_stop_signals_the_command_and_nothing_restarts(tmp_path: Path, logged: list[str]) -> None:
    services = Services({"sleeper": f"trap 'echo term > {tmp_path}/got; exit 0' TERM; while true; do sleep 0.05; done"},
                        logged.append)
    services.start_due()
    pid = services.services["sleeper"].pid
    support.wait_for(lambda: _title(pid) == "warp service sleeper", what="the keeper's title")
    time.sleep(0.2)  # let the shell install its trap
    services.stop(signal.SIGTERM)
    assert reap(services)[0] == pid
    assert (tmp_path / "got").read_text() == "term\n"
    assert not services.running() and services.next_due() is None


def test_reload_keeps_unchanged_services_and_restarts_changed_ones(logged: list[str]) -> None:
    services = Services({"same": "sleep 30", "changed": "sleep 30", "gone": "sleep 30"}, logged.append)
    services.start_due()
    same = services.services["same"].pid
    old_changed = services.services["changed"].pid
    gone = services.services["gone"].pid
    services.reload({"same": "sleep 30", "changed": "sleep 31", "new": "sleep 30"})
    exited = {reap(services)[0], reap(services)[0]}
    assert exited == {old_changed, gone}
    services.start_due()
    assert services.services["same"].pid == same
    assert services.services["changed"].pid not in (None, old_changed)
    assert services.services["new"].pid
    assert sorted(row["name"] for row in services.rows()) == ["changed", "new", "same"]
    services.stop(signal.SIGKILL)
    for _ in range(3):
        reap(services)


def _title(pid: int | None) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()
    except OSError:
        return ""


@pytest.mark.parametrize("raw, expected", [
    ("warmer=python warm.py --every 5,10", {"warmer": "python warm.py --every 5,10"}),
    ("a=sleep 1\nb=sleep 2\n", {"a": "sleep 1", "b": "sleep 2"}),
    (["a=x=1 run"], {"a": "x=1 run"}),
    ({"a": "run it"}, {"a": "run it"}),
])
def test_service_declarations_parse(raw: object, expected: dict[str, str]) -> None:
    assert parse_value(BY_NAME["services"], raw, "here", "fix it") == expected


@pytest.mark.parametrize("raw", ["no-equals-sign", "bad name=run", "empty=  "])
def test_bad_service_declarations_are_one_line(raw: str) -> None:
    from warp.core.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        parse_value(BY_NAME["services"], raw, "flag --service", "fix it")
    assert "\n" not in str(caught.value)
