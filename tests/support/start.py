"""`warp start` in the background, and the app environments the server tests share.

Environments are shared per session (installing Django, Flask and six servers
once). Apache refuses to run as root, so under root mod_wsgi-express runs its
children as `nobody`, who must be able to read the interpreter, the venv and
the app: the environments are then made from an interpreter outside /root and
the apps live in a world-readable folder.
"""

from pathlib import Path
import http.client
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

from warp.core.settings import SERVERS
from warp.launch import WHITENOISE as WHITENOISE_PINS
from warp.launch import server_module

from support.cli import warp_command
from support.net import fetch

SERVER_PINS = [req for name in SERVERS for req in server_module(name).REQUIREMENTS]


def _world_traversable(path):
    """True when every folder above ``path`` lets other users in (so `nobody` can read it)."""
    path = Path(path).resolve()
    for folder in [path] + list(path.parents):
        if folder.is_dir() and not (folder.stat().st_mode & 0o001):
            return False
    return True


def base_python():
    """An interpreter the app environments can be made from that `nobody` can also use when we are root."""
    if os.geteuid() != 0 or _world_traversable(sys.base_prefix):
        return sys.executable
    minor = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    for candidate in (f"/usr/bin/{minor}", f"/usr/local/bin/{minor}", "/usr/bin/python3"):
        if os.access(candidate, os.X_OK):
            real = os.path.realpath(candidate)
            if _world_traversable(Path(real).parent):
                return candidate
    return None


def make_world_readable_dir(prefix):
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    folder.chmod(0o755)
    return folder


def make_venv(path, packages, python=None, no_cache=(), timeout=1200):
    python = python or sys.executable
    subprocess.run([sys.executable, "-m", "virtualenv", "-q", "-p", python, "--no-setuptools", "--no-wheel", str(path)],
                   check=True, timeout=300, capture_output=True)
    pip = [str(path / "bin" / "python"), "-m", "pip", "install", "-q"]
    for group, extra in ((list(packages), []), (list(no_cache), ["--no-cache-dir"])):
        if group:
            result = subprocess.run(pip + extra + group, capture_output=True, text=True, timeout=timeout)
            assert result.returncode == 0, result.stdout + result.stderr
    return path


APP_PACKAGES = {
    "shared": ["django==5.2.19", "flask==3.1.3", *WHITENOISE_PINS],
    "click": ["click==7.1.2", *WHITENOISE_PINS],
}


class Envs:
    """Session cache of app environments: one per package set, and per interpreter Apache can use.

    mod_wsgi compiles against the interpreter it is installed for; under root
    that interpreter is a system one (see base_python), and mod_wsgi is built
    there without pip's wheel cache so a wheel built for another Python is
    never reused.
    """

    def __init__(self, base):
        self.base = base
        self.made = {}

    def apache_python(self):
        python = base_python()
        return python if python not in (None, sys.executable) else None

    def get(self, kind, server):
        separate = server == "mod_wsgi" and self.apache_python() is not None
        key = (kind, "apache" if separate else "host")
        if key not in self.made:
            path = self.base / f"{kind}-{key[1]}-env"
            if separate:
                self.made[key] = make_venv(path, APP_PACKAGES[kind], python=self.apache_python(),
                                           no_cache=[p for p in SERVER_PINS if p.startswith("mod_wsgi")])
            else:
                servers = [p for p in SERVER_PINS if not (p.startswith("mod_wsgi") and (self.apache_python() or apxs_missing()))]
                self.made[key] = make_venv(path, APP_PACKAGES[kind] + servers)
        return self.made[key]


class Started:
    """A `warp start` running in the background; its output collected through pipes.

    Pipes, not files: servers reopen /dev/stdout and /dev/stderr (Apache does),
    which would truncate a file and lose warp's startup lines.
    """

    def __init__(self, root, args, env, port, log_dir=None, prefix=()):
        self.port = port
        self.chunks = []
        self.process = subprocess.Popen(
            [*prefix, *warp_command("start", "--app", str(root), "--port", str(port), *args)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=root, start_new_session=True,
        )
        self.reader = threading.Thread(target=self._drain, daemon=True)
        self.reader.start()

    def _drain(self):
        for chunk in iter(lambda: self.process.stdout.read1(65536), b""):
            self.chunks.append(chunk)

    def output(self):
        return b"".join(self.chunks).decode(errors="replace")

    def wait_ready(self, path="/", timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"warp start exited with {self.process.returncode}:\n{self.output()[-4000:]}")
            try:
                status, body = fetch(self.port, path, timeout=5)
                if status < 500:
                    return status, body
            except (OSError, http.client.HTTPException):
                pass
            time.sleep(0.1)
        raise AssertionError(f"nothing answered on port {self.port} within {timeout}s:\n{self.output()[-4000:]}")

    def wait_workers(self, count, marker="Booting worker", timeout=30):
        """True once the server's output reports ``count`` workers started."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.output().count(marker) >= count:
                return True
            time.sleep(0.1)
        return False

    def terminate(self, timeout=60):
        """TERM the process warp became (the server) and return its exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        finally:
            self.kill()

    def kill(self):
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait(timeout=10)
        else:
            # The server's children belong to its session; make sure none outlives the test.
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.reader.join(timeout=10)


def apxs_missing():
    return not (shutil.which("apxs") or shutil.which("apxs2"))


def httpd_missing():
    return not (shutil.which("apache2") or shutil.which("httpd") or os.path.exists("/usr/sbin/apache2"))


def children(pid):
    """[(pid, command name, state)] of the direct children of ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == pid:
            found.append((int(entry.name), name, fields[0]))
    return found
