"""Adapters the launcher runs inside the application's interpreter.

Standard library only at import time: this module is reached through the
PYTHONPATH folder that exposes warp's package alone (see
``warp.launch.pythonpath``), in the app's virtualenv where warp's own
dependencies do not exist. It reads what to do from environment variables the
launcher sets:

- ``WARP_APP``: the app's ``module:callable``;
- ``WARP_STATIC_MAP``: JSON ``{url prefix: folder}`` to serve through WhiteNoise
  (installed in the app's environment by ``warp build`` only when needed).

``warp.runtime.shim:application`` is the WSGI app wrapped with WhiteNoise;
``warp.runtime.shim:asgi`` an ASGI app whose static files WhiteNoise finds and
describes (WhiteNoise itself speaks only WSGI). ``python -m warp.runtime.shim
waitress ARGS`` runs ``waitress-serve ARGS`` (and ``uvicorn ARGS`` uvicorn) with
TERM meaning a clean stop and exit status 0.
"""

import importlib
import json
import os
import signal
import sys
import time
from typing import Any, Callable, Dict, Iterable, List, Optional, TextIO
from urllib.parse import quote

from warp.runtime.accesslog import AccessRecord, format_line

WSGIApp = Callable[..., Iterable[bytes]]
ASGIApp = Callable[..., Any]


def load(target: str) -> Any:
    """The object named by ``module:attr.attr``, imported from the current folder first."""
    module_name, _, attrs = target.partition(":")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    obj = importlib.import_module(module_name)
    for attr in (attrs or "application").split("."):
        obj = getattr(obj, attr)
    return obj


def static_map() -> Dict[str, str]:
    return json.loads(os.environ.get("WARP_STATIC_MAP") or "{}")


def _whitenoise(application, mapping):
    from whitenoise import WhiteNoise

    files = WhiteNoise(application)
    for prefix, folder in mapping.items():
        files.add_files(folder, prefix=prefix)
    return files


class AccessLog:
    """One line per response on stdout (common log format or JSON), for servers that write none."""

    def __init__(self, app: WSGIApp, style: str = "common", stream: Optional[TextIO] = None) -> None:
        self.app = app
        self.style = style
        self.stream = stream or sys.stdout

    def __call__(self, environ, start_response):
        started_at, started = time.time(), time.monotonic()
        seen = {"status": "-"}

        def recording_start_response(status, headers, exc_info=None):
            seen["status"] = status.split(" ", 1)[0]
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        body = self.app(environ, recording_start_response)
        return _LoggedBody(body, lambda sent: self.log(environ, seen["status"], sent, started_at, started))

    def log(self, environ: Dict[str, Any], status: str, sent: int, started_at: float, started: float) -> None:
        """Write the line for one response; ``started_at`` is time.time() and ``started`` time.monotonic() at its start."""
        # The target as the client sent it, as the bundled server logs it; else rebuilt from the decoded parts.
        target = environ.get("REQUEST_URI") or (
            quote(environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", ""), safe="/;=,~!$&'()*+@:")
            + ("?" + environ["QUERY_STRING"] if environ.get("QUERY_STRING") else ""))
        path, _, query = target.partition("?")
        record = AccessRecord(
            started=started_at, duration=time.monotonic() - started, remote=environ.get("REMOTE_ADDR") or "-",
            method=environ.get("REQUEST_METHOD", ""), path=path, query=query,
            protocol=environ.get("SERVER_PROTOCOL", ""), status=int(status) if status.isdigit() else 0,
            bytes=sent, pid=os.getpid(),
        )
        _write(self.stream, format_line(record, self.style))


def _write(stream: TextIO, line: str) -> None:
    try:
        stream.write(line + "\n")
        stream.flush()
    except (OSError, ValueError):
        pass  # a closed stdout must not take the app down


class ASGIAccessLog:
    """The same lines as AccessLog, for an ASGI app (uvicorn's own log has another shape)."""

    def __init__(self, app: ASGIApp, style: str = "common", stream: Optional[TextIO] = None) -> None:
        self.app = app
        self.style = style
        self.stream = stream or sys.stdout

    async def __call__(self, scope: Dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope.get("type") != "http":
            return await self.app(scope, receive, send)
        started_at, started = time.time(), time.monotonic()
        seen = {"status": 0, "sent": 0, "done": False}

        async def recording_send(message: Dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                seen["status"] = message["status"]
            elif message["type"] == "http.response.body":
                seen["sent"] += len(message.get("body", b""))
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False) and not seen["done"]:
                seen["done"] = True
                self.log(scope, seen["status"], seen["sent"], started_at, started)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            if not seen["done"]:
                # The app failed or the client left: the server answers 500 if it still can.
                self.log(scope, seen["status"] or 500, seen["sent"], started_at, started)

    def log(self, scope: Dict[str, Any], status: int, sent: int, started_at: float, started: float) -> None:
        client = scope.get("client")
        raw = scope.get("raw_path")
        path = raw.decode("latin-1") if raw else quote(scope.get("root_path", "") + scope.get("path", ""), safe="/;=,~!$&'()*+@:")
        record = AccessRecord(
            started=started_at, duration=time.monotonic() - started, remote=str(client[0]) if client else "-",
            method=scope.get("method", ""), path=path.partition("?")[0],
            query=(scope.get("query_string") or b"").decode("latin-1"),
            protocol="HTTP/" + str(scope.get("http_version", "1.1")), status=int(status), bytes=sent, pid=os.getpid(),
        )
        _write(self.stream, format_line(record, self.style))


class _LoggedBody:
    """The app's body, counted; the line is written once, when the body is
    exhausted or closed, whichever comes first (uvicorn's WSGI adapter never
    calls close())."""

    def __init__(self, body, done):
        self.body = body
        self.done = done
        self.sent = 0
        self.logged = False

    def __iter__(self):
        for chunk in self.body:
            self.sent += len(chunk)
            yield chunk
        self._log()

    def close(self):
        try:
            if hasattr(self.body, "close"):
                self.body.close()
        finally:
            self._log()

    def _log(self):
        if not self.logged:
            self.logged = True
            self.done(self.sent)


def wsgi_application() -> WSGIApp:
    app = load(os.environ["WARP_APP"])
    mapping = static_map()
    if mapping:
        app = _whitenoise(app, mapping)
    if os.environ.get("WARP_ACCESS_LOG"):
        app = AccessLog(app, os.environ["WARP_ACCESS_LOG"])
    from warp.runtime import devtools

    return devtools.wrap(app)


class StaticASGI:
    """Serve WhiteNoise's files for GET/HEAD under the mapped prefixes; everything else goes to the app."""

    chunk = 64 * 1024

    def __init__(self, app: ASGIApp, mapping: Dict[str, str]) -> None:
        self.app = app
        self.files = _whitenoise(None, mapping)

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD"):
            static_file = self.files.files.get(scope["path"])
            if static_file is not None:
                return await self.serve(static_file, scope, send)
        return await self.app(scope, receive, send)

    async def serve(self, static_file: Any, scope: Dict[str, Any], send: Callable[..., Any]) -> None:
        # WhiteNoise reads conditional/range/encoding headers from a WSGI-style environ.
        environ = {"HTTP_" + name.decode("latin-1").upper().replace("-", "_"): value.decode("latin-1")
                   for name, value in scope.get("headers", [])}
        response = static_file.get_response(scope["method"], environ)
        headers = [(name.lower().encode("latin-1"), str(value).encode("latin-1")) for name, value in response.headers]
        await send({"type": "http.response.start", "status": int(response.status), "headers": headers})
        if response.file is None:
            await send({"type": "http.response.body", "body": b""})
            return
        try:
            while True:
                data = response.file.read(self.chunk)
                more = len(data) == self.chunk
                await send({"type": "http.response.body", "body": data, "more_body": more})
                if not more:
                    break
        finally:
            response.file.close()


def asgi_application() -> ASGIApp:
    app = load(os.environ["WARP_APP"])
    mapping = static_map()
    if mapping:
        app = StaticASGI(app, mapping)
    if os.environ.get("WARP_ACCESS_LOG"):
        app = ASGIAccessLog(app, os.environ["WARP_ACCESS_LOG"])
    return app


_BUILDERS = {"application": wsgi_application, "asgi": asgi_application}


def __getattr__(name):
    # Built on first access, so `python -m warp.runtime.shim` never imports the app twice.
    if name in _BUILDERS:
        value = _BUILDERS[name]()
        globals()[name] = value
        return value
    raise AttributeError(name)


def _stop(signum, frame):
    # waitress closes its sockets and joins its task threads on SystemExit;
    # uvicorn re-raises TERM after its own graceful shutdown and lands here.
    raise SystemExit(0)


def _run_waitress(args):
    from waitress.runner import run

    return run(["waitress-serve"] + list(args))


def _run_uvicorn(args):
    from uvicorn.main import main as uvicorn_main

    return uvicorn_main.main(args=list(args), prog_name="uvicorn", standalone_mode=True)


def _run_relay(args):
    """``relay [--map FROM:TO ...] -- COMMAND...``: run COMMAND as a child, passing signals on.

    For servers whose graceful stop is not TERM (Apache stops gracefully on
    WINCH): TERM is translated, the others forwarded as they are. As PID 1 in a
    container it also reaps orphaned children. Exit status: the child's.
    """
    import subprocess

    mapping = {}
    args = list(args)
    while args and args[0] == "--map":
        source, _, target = args[1].partition(":")
        mapping[getattr(signal, "SIG" + source)] = getattr(signal, "SIG" + target)
        args = args[2:]
    if args and args[0] == "--":
        args = args[1:]
    child = subprocess.Popen(args)

    def forward(signum, frame):
        try:
            os.kill(child.pid, mapping.get(signum, signum))
        except ProcessLookupError:
            pass

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2, signal.SIGWINCH):
        signal.signal(signum, forward)
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            return 0
        if pid == child.pid:
            code = os.waitstatus_to_exitcode(status)
            return code if code >= 0 else 128 - code


RUNNERS = {"waitress": _run_waitress, "uvicorn": _run_uvicorn, "relay": _run_relay}


def main(argv: Optional[List[str]] = None) -> int:
    """``python -m warp.runtime.shim SERVER ARGS``: run SERVER's own command line, TERM meaning a clean stop (exit 0)."""
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in RUNNERS:
        print("usage: python -m warp.runtime.shim {waitress|uvicorn|relay} [the server's own flags]", file=sys.stderr)
        return 2
    if argv[0] == "relay":
        return _run_relay(argv[1:])
    signal.signal(signal.SIGTERM, _stop)
    try:
        result = RUNNERS[argv[0]](argv[1:])
    except SystemExit as exc:
        if isinstance(exc.code, str):  # a server's exit message: shown, status 1, as sys.exit would
            print(exc.code, file=sys.stderr)
            return 1
        return exc.code or 0
    return result or 0


if __name__ == "__main__":
    sys.exit(main())
