"""`warp start --all`: Procfile types run together, supervised, with real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

import support

WSGI = '''\
import os, time

def application(environ, start_response):
    if environ["PATH_INFO"] == "/slow":
        open("slow-started", "w").close()  # the test stops warp once the request is in the app
        time.sleep(1.5)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"web answers"]
'''

# Types print a line at start (with their pid and PORT) and then wait, so a test can
# see which instance is which and whether PORT reached them.
SCRIPTS = {
    "worker.py": "import os, time\nprint('worker up pid', os.getpid(), 'PORT', os.environ.get('PORT'))\nwhile True:\n    time.sleep(0.2)\n",
    "clock.py": "import os, time\nprint('clock up pid', os.getpid())\nwhile True:\n    time.sleep(0.2)\n",
    "stubborn.py": ("import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nprint('stubborn up')\n"
                    "while True:\n    time.sleep(0.2)\n"),
}
# Leaves an orphan: its child forks a grandchild that outlives the child by a moment.
SCRIPTS["orphaner.py"] = (
    "import os, sys, time\n"
    "child = os.fork()\n"
    "if child == 0:\n"
    "    if os.fork() == 0:\n"
    "        print('orphan pid', os.getpid(), flush=True)\n"
    "        time.sleep(1.5)\n"
    "    os._exit(0)\n"
    "os.waitpid(child, 0)\n"
    "while True:\n"
    "    time.sleep(0.2)\n"
)
WORKER = "python worker.py"
CLOCK = "python clock.py"
RELEASE = "python -u -c \"open('released', 'a').write('x'); print('releasing')\""


@pytest.fixture(scope="module")
def built_app(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One built app; each test writes its own Procfile into a copy (the Procfile is read at start)."""
    root = tmp_path_factory.mktemp("procfile-app")
    support.write(root, {"wsgi.py": WSGI, "requirements.txt": "", **SCRIPTS})
    built = support.warp("build", cwd=root)
    assert built.returncode == 0, built.stderr
    return root


def procfile(app: Path, **types: str) -> None:
    (app / "Procfile").write_text("".join(f"{name}: {line}\n" for name, line in types.items()))
    (app / "released").unlink(missing_ok=True)


class Running:
    """`warp start --all` in the background, its output collected line by line."""

    def __init__(self, app: Path, *args: str, port: int) -> None:
        self.lines: list[str] = []
        self.port = port
        self.process = subprocess.Popen(
            support.warp_command("start", "--all", "--port", str(port), "--workers", "2", "--graceful-timeout", "10", *args),
            cwd=app, env=support.warp_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            # Prefixes are padded to one width; tests match on single spaces.
            self.lines.append(" ".join(line.split()))

    def wait_line(self, *words: str, after: int = 0, timeout: float = 30) -> str:
        try:
            return support.wait_for(
                lambda: next((line for line in self.lines[after:] if all(w in line for w in words)), None),
                timeout=timeout, what=f"a line with {words}")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; output:\n" + "\n".join(self.lines[-40:])) from None

    def wait_answering(self) -> None:
        def answers() -> bool:
            try:
                return support.fetch(self.port, "/", timeout=2)[0] == 200
            except OSError:
                return False
        support.wait_for(answers, timeout=30, what="web answering")

    def count(self, *words: str) -> int:
        return sum(1 for line in self.lines if all(w in line for w in words))

    def signal(self, signum: int) -> None:
        os.kill(self.process.pid, signum)

    def wait(self, timeout: float = 60) -> int:
        code = self.process.wait(timeout=timeout)
        self.reader.join(timeout=5)
        return code

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        # Children run in process groups of their own: end any the test left behind.
        for line in self.lines:
            if "started (pid " in line:
                pid = int(line.split("started (pid ")[1].split(")")[0])
                try:
                    os.killpg(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass


@pytest.fixture
def run(built_app: Path):
    started: list[Running] = []

    def start(*args: str) -> Running:
        running = Running(built_app, *args, port=support.free_port())
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()


def pid_in(line: str) -> int:
    return int(line.split("pid ")[1].split()[0].rstrip("):"))


def test_release_once_then_web_worker_and_clock_with_prefixed_lines(built_app: Path, run) -> None:
    procfile(built_app, release=RELEASE, worker=WORKER, clock=CLOCK)
    app = run()
    app.wait_line("release.1 |", "releasing")
    worker_line = app.wait_line("worker.1 |", "worker up")
    app.wait_line("clock.1", "|", "clock up")
    app.wait_answering()
    assert support.fetch(app.port, "/") == (200, b"web answers")
    # PORT goes to web only.
    assert worker_line.endswith("PORT None")
    assert (built_app / "released").read_text() == "x"
    assert app.count("release.1 | releasing") == 1
    # Not a terminal: plain prefixes, no colour codes.
    assert not any("\033[" in line for line in app.lines)
    app.signal(signal.SIGTERM)
    assert app.wait() == 0


def test_a_killed_worker_comes_back(built_app: Path, run) -> None:
    procfile(built_app, worker=WORKER)
    app = run()
    first = pid_in(app.wait_line("worker.1 |", "worker up"))
    mark = len(app.lines)
    os.kill(first, signal.SIGKILL)
    app.wait_line("worker.1", "killed by SIGKILL", after=mark)
    second = pid_in(app.wait_line("worker.1 |", "worker up", after=mark))
    assert second != first
    app.signal(signal.SIGTERM)
    assert app.wait() == 0


def test_term_drains_an_in_flight_web_request_then_stops_the_others_and_exits_0(built_app: Path, run) -> None:
    procfile(built_app, worker=WORKER)
    app = run()
    app.wait_line("worker.1 |", "worker up")
    app.wait_answering()
    answer: dict[str, object] = {}

    def slow() -> None:
        answer["reply"] = support.fetch(app.port, "/slow", timeout=30)

    client = threading.Thread(target=slow)
    (built_app / "slow-started").unlink(missing_ok=True)
    client.start()
    support.wait_for(lambda: (built_app / "slow-started").exists(), timeout=10, what="the slow request in the app")
    app.signal(signal.SIGTERM)
    client.join(timeout=30)
    assert answer.get("reply") == (200, b"web answers")
    assert app.wait() == 0
    web_stopped = next(i for i, line in enumerate(app.lines) if "web.1 stopped" in line)
    worker_stopped = next(i for i, line in enumerate(app.lines) if "worker.1 stopped" in line)
    assert web_stopped < worker_stopped


def test_failing_release_starts_nothing_and_passes_its_status(built_app: Path, run) -> None:
    procfile(built_app, release='python -c "import sys; print(\'migration failed\'); sys.exit(7)"', worker=WORKER)
    app = run()
    assert app.wait() == 7
    assert app.count("release.1 | migration failed") == 1
    assert app.count("release exited with status 7; nothing started") == 1
    assert not app.count("started (pid")


def test_a_crash_looping_type_ends_the_run_with_a_clear_line(built_app: Path, run) -> None:
    procfile(built_app, worker=WORKER, broken='python -c "import sys; print(\'no database\'); sys.exit(3)"')
    app = run()
    assert app.wait(timeout=90) == 1
    assert app.count("broken.1", "crash loop; stopping everything") == 1
    assert app.count("broken.1 exited with status 3 unexpectedly") == 5
    # Everything else was stopped too.
    assert app.count("worker.1 stopped") == 1


def test_a_subset_runs_only_the_named_types(built_app: Path, run) -> None:
    procfile(built_app, worker=WORKER, clock=CLOCK)
    app = run("clock", "--scale", "clock=2")
    app.wait_line("clock.1 |", "clock up")
    app.wait_line("clock.2 |", "clock up")
    time.sleep(1)  # give a wrongly started worker or web a moment to show itself
    assert not app.count("worker.1") and not app.count("web.1")
    app.signal(signal.SIGTERM)
    assert app.wait() == 0


def test_hup_reloads_web_and_restarts_the_others(built_app: Path, run) -> None:
    procfile(built_app, worker=WORKER)
    app = run()
    first = pid_in(app.wait_line("worker.1 |", "worker up"))
    web_pid = pid_in(app.wait_line("web.1 started"))
    app.wait_answering()
    mark = len(app.lines)
    app.signal(signal.SIGHUP)
    second = pid_in(app.wait_line("worker.1 |", "worker up", after=mark))
    assert second != first
    # web reloaded in place: same master, no restart.
    assert not any("web.1 started" in line for line in app.lines[mark:])
    os.kill(web_pid, 0)
    app.signal(signal.SIGTERM)
    assert app.wait() == 0


def test_second_interrupt_kills_at_once(built_app: Path, run) -> None:
    # A worker that ignores TERM would hold a graceful stop for the whole timeout.
    procfile(built_app, stubborn="python stubborn.py")
    app = run("stubborn")
    app.wait_line("stubborn.1 |", "stubborn up")
    app.signal(signal.SIGINT)
    app.wait_line("stopping web first")
    app.signal(signal.SIGINT)
    assert app.wait(timeout=10) == 130
    assert app.count("stubborn.1 stopped (was killed by SIGKILL)") == 1


@pytest.mark.parametrize("args, words", [
    (("--scale", "web=2"), ("scale web=2",)),
    (("--scale", "nosuch=1"), ("nosuch",)),
    (("nosuch",), ("no process type 'nosuch'",)),
])
def test_bad_types_and_scales_are_one_line(built_app: Path, args: tuple[str, ...], words: tuple[str, ...]) -> None:
    procfile(built_app, worker=WORKER)
    result = support.warp("start", "--all", *args, cwd=built_app)
    support.one_error_line(result, 2, *words)


def test_several_types_without_all_is_a_usage_error(built_app: Path) -> None:
    procfile(built_app, worker=WORKER, clock=CLOCK)
    result = support.warp("start", "worker", "clock", cwd=built_app)
    support.one_error_line(result, 2, "--all")


def test_orphans_of_a_type_are_adopted_and_reaped(built_app: Path, run) -> None:
    procfile(built_app, orphaner="python orphaner.py")
    app = run("orphaner")
    orphan = pid_in(app.wait_line("orphaner.1 |", "orphan pid"))
    status = Path(f"/proc/{orphan}/status").read_text()
    parent = int(next(line.split()[1] for line in status.splitlines() if line.startswith("PPid:")))
    assert parent == app.process.pid  # warp is its subreaper
    # Once it exits warp reaps it: no zombie is left behind.
    support.wait_for(lambda: not Path(f"/proc/{orphan}").exists(), timeout=15, what="the orphan reaped")
    app.signal(signal.SIGTERM)
    assert app.wait() == 0


def test_json_lines_carry_type_and_instance(built_app: Path, run) -> None:
    import json

    procfile(built_app, worker=WORKER)
    app = run("worker", "--json")
    app.wait_line('"worker up')
    records = [json.loads(line) for line in app.lines if line.startswith("{")]
    worker = next(r for r in records if "worker up" in r["line"])
    assert (worker["type"], worker["instance"], worker["source"]) == ("worker", 1, "process")
    assert any(r["source"] == "warp" and "worker.1 started" in r["line"] for r in records)
    app.signal(signal.SIGTERM)
    assert app.wait() == 0


def test_a_terminal_gets_one_stable_colour_per_type(built_app: Path) -> None:
    import pty
    import re

    procfile(built_app, worker=WORKER, clock=CLOCK)
    pid, fd = pty.fork()
    if pid == 0:  # the child: warp with a terminal as its stdout
        os.chdir(built_app)
        os.execvpe(support.warp_command()[0], support.warp_command("start", "--all", "worker", "clock",
                                                                   "--scale", "worker=2"), support.warp_env())
    seen = b""
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (b"worker up" in seen and seen.count(b"clock up") >= 1
                                                   and seen.count(b"worker up") >= 2):
            try:
                seen += os.read(fd, 65536)
            except OSError:
                break
    finally:
        os.kill(pid, signal.SIGTERM)
        os.waitpid(pid, 0)
        os.close(fd)
    text = seen.decode("utf-8", "replace")
    colours = {kind: set(re.findall(r"\x1b\[(\d+)m" + kind + r"\.\d", text)) for kind in ("worker", "clock")}
    assert len(colours["worker"]) == 1 and len(colours["clock"]) == 1, text
    assert colours["worker"] != colours["clock"]
