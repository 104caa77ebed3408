"""Development mode with real processes: --reload, --debug under a terminal, --record and replay."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

import support

APP = '''\
import json

VERSION = 1


def application(environ, start_response):
    if environ["PATH_INFO"] == "/boom":
        doomed = "a local the debugger can see"
        raise RuntimeError("boom")
    body = json.dumps({"version": VERSION, "path": environ["PATH_INFO"], "id": id(environ)}).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Set-Cookie", "session=abc")])
    return [body]
'''


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("develop")
    support.write(root, {"wsgi.py": APP, "requirements.txt": ""})
    result = support.warp("build", cwd=root)
    assert result.returncode == 0, result.stderr
    return root


class Background:
    """`warp start ARGS` as a child in its own session, output collected."""

    def __init__(self, app: Path, *args: str) -> None:
        self.port = support.free_port()
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            support.warp_command("start", "--port", str(self.port), "--workers", "1", *args), cwd=app,
            env=support.warp_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def version(self) -> object:
        try:
            return json.loads(support.fetch(self.port, "/", timeout=5)[1])["version"]
        except (OSError, ValueError):
            return None

    def stop(self) -> int:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
        return self.process.wait(timeout=30)


def test_reload_serves_an_edit_keeps_serving_through_a_syntax_error_and_takes_the_fix(built: Path) -> None:
    app = Background(built, "--reload")
    try:
        support.wait_for(lambda: app.version() == 1, timeout=30, what="the first answer")
        source = built / "wsgi.py"
        source.write_text(APP.replace("VERSION = 1", "VERSION = 2"))
        support.wait_for(lambda: app.version() == 2, timeout=10, what="the edit served")
        source.write_text(APP.replace("VERSION = 1", "VERSION = 3") + "\ndef broken(:\n")
        support.wait_for(lambda: any("not reloading" in line and "wsgi.py" in line for line in app.lines),
                         timeout=10, what="the syntax error reported")
        assert app.version() == 2  # the running code keeps serving
        source.write_text(APP.replace("VERSION = 1", "VERSION = 4"))
        support.wait_for(lambda: app.version() == 4, timeout=10, what="the fix served")
        assert sum("not reloading" in line for line in app.lines) == 1  # said once
        # Files that are not Python (a log the app writes beside itself) do not reload it.
        reloads = sum("changed; reloading" in line for line in app.lines)
        (built / "app.log").write_text("a line\n")
        time.sleep(1.5)
        assert sum("changed; reloading" in line for line in app.lines) == reloads
    finally:
        source.write_text(APP)
        assert app.stop() == 0


def test_debug_stops_in_pdb_at_the_failing_frame_then_answers_500(built: Path) -> None:
    port = support.free_port()
    pid, terminal = pty.fork()
    if pid == 0:  # warp, with the pseudo-terminal as its stdin and stdout
        os.chdir(built)
        argv = support.warp_command("start", "--debug", "--port", str(port))
        os.execvpe(argv[0], argv, support.warp_env())
    seen = b""

    def read_until(marker: bytes, timeout: float = 30) -> None:
        nonlocal seen
        deadline = time.monotonic() + timeout
        while marker not in seen:
            if time.monotonic() > deadline:
                raise AssertionError(f"no {marker!r} in:\n{seen.decode(errors='replace')}")
            if select.select([terminal], [], [], 0.5)[0]:
                seen += os.read(terminal, 65536)

    answer: dict = {}
    try:
        support.wait_for(lambda: _answers(port), timeout=30, what="the server answering")
        client = threading.Thread(target=lambda: answer.update(reply=support.fetch(port, "/boom", timeout=60)))
        client.start()
        read_until(b"(Pdb)")
        assert b"RuntimeError: boom" in seen
        os.write(terminal, b"p doomed\n")
        read_until(b"a local the debugger can see")
        os.write(terminal, b"c\n")
        client.join(timeout=30)
        assert answer["reply"][0] == 500
        assert _answers(port)  # and the server goes on
    finally:
        os.kill(pid, signal.SIGTERM)
        os.waitpid(pid, 0)
        os.close(terminal)


def _answers(port: int) -> bool:
    try:
        return support.fetch(port, "/", timeout=2)[0] == 200
    except OSError:
        return False


def test_debug_without_a_terminal_prints_locals(built: Path) -> None:
    app = Background(built, "--debug")
    try:
        support.wait_for(lambda: app.version() == 1, timeout=30, what="the first answer")
        assert support.fetch(app.port, "/boom")[0] == 500
        support.wait_for(lambda: any("doomed = 'a local the debugger can see'" in line for line in app.lines),
                         timeout=10, what="the traceback with locals")
    finally:
        app.stop()


def test_record_then_replay_passes_unchanged_and_names_the_difference_after_a_change(built: Path, tmp_path: Path) -> None:
    recorded = tmp_path / "recorded"
    app = Background(built, "--record", str(recorded))
    try:
        support.wait_for(lambda: app.version() == 1, timeout=30, what="the first answer")
        import http.client

        connection = http.client.HTTPConnection("127.0.0.1", app.port, timeout=10)
        connection.request("POST", "/orders?x=1", body=b'{"n": 1}',
                           headers={"Authorization": "Bearer secret-token", "Content-Type": "application/json"})
        connection.getresponse().read()
        connection.close()
    finally:
        app.stop()
    files = sorted(recorded.glob("*.json"))
    assert len(files) == 2
    text = "".join(path.read_text() for path in files)
    assert "secret-token" not in text and "session=abc" not in text
    order = json.loads(files[1].read_text())
    assert order["request"]["method"] == "POST" and order["request"]["body"]["text"] == '{"n": 1}'
    assert order["response"]["status"] == 200

    server = Background(built)
    try:
        support.wait_for(lambda: server.version() == 1, timeout=30, what="the app again")
        against = f"http://127.0.0.1:{server.port}"
        same = support.warp("replay", str(recorded), "--against", against, "--ignore-json", "id", cwd=built)
        assert same.returncode == 0, same.stdout + same.stderr
        assert "2 of 2 requests answered as recorded" in same.stdout
        # Without ignoring the per-request id, the replay names the field that differs.
        noisy = support.warp("replay", str(recorded), "--against", against, cwd=built)
        assert noisy.returncode == 1 and "JSON body differs" in noisy.stdout
    finally:
        server.stop()

    (built / "wsgi.py").write_text(APP.replace("VERSION = 1", "VERSION = 7"))
    changed = Background(built)
    try:
        support.wait_for(lambda: changed.version() == 7, timeout=30, what="the changed app")
        result = support.warp("replay", str(recorded), "--against", f"http://127.0.0.1:{changed.port}",
                              "--ignore-json", "id", "--json", cwd=built)
        assert result.returncode == 1
        report = json.loads(result.stdout)
        failing = [r for r in report["requests"] if not r["ok"]]
        assert [r["target"] for r in failing] == ["/", "/orders?x=1"]
        assert '"version": 7' in failing[0]["differences"][0]
    finally:
        (built / "wsgi.py").write_text(APP)
        changed.stop()


def test_development_switches_are_refused_in_production_unless_forced(built: Path) -> None:
    refused = support.warp("start", "--reload", "--print", cwd=built, env={"WARP_ENV": "production"})
    line = support.one_error_line(refused, 1, "--reload", "production")
    assert "--force-dev" in line
    allowed = support.warp("start", "--reload", "--force-dev", "--print", cwd=built, env={"WARP_ENV": "production"})
    assert allowed.returncode == 0, allowed.stderr
    shown = support.warp("config", "--json", cwd=built, env={"WARP_DEBUG": "1"})
    values = {row["name"]: row["value"] for row in json.loads(shown.stdout)["settings"]}
    assert values["debug"] is True and values["reload"] is False and values["record"] is None
