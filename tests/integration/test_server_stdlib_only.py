"""The bundled server runs in the application's interpreter, where warp's own
dependencies are absent: it must import nothing outside the standard library."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import pytest

from support import SRC, copy_apps, fetch, wait_for

pytestmark = pytest.mark.skipif(sys.version_info < (3, 10), reason="needs sys.stdlib_module_names")


def _startup_modules():
    """What this interpreter imports before any code runs (site, .pth hooks such as
    setuptools' _distutils_hack): not the server's doing."""
    code = "import sys, json; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    return set(json.loads(out))


def _foreign(modules):
    baseline = _startup_modules()
    return sorted(name for name in modules
                  if name.split(".")[0] not in sys.stdlib_module_names
                  and name.split(".")[0] != "warp" and name != "__main__" and name not in baseline)


@pytest.fixture
def warp_only_path(tmp_path):
    """A directory holding only a `warp` symlink, as the launcher provides."""
    path = tmp_path / "pythonpath"
    path.mkdir()
    (path / "warp").symlink_to(SRC / "warp", target_is_directory=True)
    return path


def test_every_server_module_imports_only_the_standard_library(warp_only_path):
    names = ["warp.runtime.server." + m.name for m in pkgutil.iter_modules([str(SRC / "warp" / "runtime" / "server")])]
    names += ["warp.runtime." + m.name for m in pkgutil.iter_modules([str(SRC / "warp" / "runtime")])]
    code = (f"import sys, json; sys.path.insert(0, {str(warp_only_path)!r}); "
            f"[__import__(n) for n in {names!r}]; print(json.dumps(sorted(sys.modules)))")
    result = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    modules = json.loads(result.stdout)
    assert "warp.runtime.server.arbiter" in modules and "warp.runtime.server.connection" in modules
    assert _foreign(modules) == []
    # Of warp's own modules, the runtime reaches only itself and the registry (which
    # brings the error classes it raises, both standard library only).
    allowed = {"warp", "warp.core", "warp.core.settings", "warp.core.errors"}
    assert sorted(name for name in modules if name.startswith("warp") and name not in allowed
                  and not name.startswith("warp.runtime")) == []


def test_a_serving_worker_has_only_standard_library_modules(warp_only_path, tmp_path):
    app_dir = copy_apps(tmp_path / "app")
    (app_dir / "static").mkdir()
    (app_dir / "static" / "a.txt").write_text("static file")
    # -I: no PYTHONPATH, no user site, no current directory; the server adds the app
    # folder itself and we add only the warp symlink.
    boot = (f"import sys, runpy; sys.path.insert(0, {str(warp_only_path)!r}); "
            "sys.argv[0] = 'warp.runtime.server'; runpy.run_module('warp.runtime.server', run_name='__main__', alter_sys=True)")
    proc = subprocess.Popen(
        [sys.executable, "-I", "-c", boot, "modules:application", "--bind", "127.0.0.1:0",
         "--workers", "1", "--stats", "off", "--static", "/static=static"],
        cwd=str(app_dir), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        port = None
        for line in proc.stderr:
            if "Listening at http://" in line:
                port = int(line.rsplit(":", 1)[1])
                break
        assert port, "server did not start"

        def answer(path):
            try:
                return fetch(port, path)
            except OSError:
                return None

        status, body = wait_for(lambda: answer("/"), what="an answer")
        assert status == 200
        modules = json.loads(body)
        assert "warp.runtime.server.worker" in modules and "warp.runtime.server.wsgi" in modules
        assert _foreign(set(modules) - {"modules"}) == []  # minus the test app itself
        assert fetch(port, "/static/a.txt") == (200, b"static file")
    finally:
        proc.terminate()
        proc.wait(30)
        proc.stderr.close()
