"""The README's first command on the bundled example: `warp build`, then `warp start` answers."""

import shutil
import signal
import subprocess
import urllib.request

from support import REPO, free_port, wait_for, warp, warp_command, warp_env


def test_example_builds_then_starts_and_answers(tmp_path):
    app = tmp_path / "hello"
    shutil.copytree(REPO / "examples" / "hello", app, ignore=shutil.ignore_patterns(".warp", "__pycache__"))
    built = warp("build", cwd=app)
    assert built.returncode == 0, built.stderr
    port = free_port()
    server = subprocess.Popen(warp_command("start", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"),
                              cwd=app, env=warp_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        def page():
            assert server.poll() is None, server.communicate()[0]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
                    return response.read().decode()
            except OSError:
                return None

        body = wait_for(page, timeout=60, what="warp start to answer")
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
