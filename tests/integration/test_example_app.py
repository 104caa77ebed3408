"""The README's first command on the bundled example: `warp build`, then `warp start` answers."""

from pathlib import Path
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

REPO = Path(__file__).resolve().parents[2]


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_example_builds_then_starts_and_answers(tmp_path):
    app = tmp_path / "hello"
    shutil.copytree(REPO / "examples" / "hello", app, ignore=shutil.ignore_patterns(".warp", "__pycache__"))
    built = subprocess.run([sys.executable, "-m", "warp.cli", "build"], cwd=app, capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "warp.cli", "start", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
                              cwd=app, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, server.communicate()[0]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
                    body = response.read().decode()
                break
            except OSError:
                assert time.monotonic() < deadline, "warp start never answered"
                time.sleep(0.1)
        assert "Hello from warp" in body
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/static/hello.css", timeout=5) as response:
            assert response.status == 200
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
