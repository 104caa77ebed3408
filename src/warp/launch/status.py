"""`warp status`: what the bundled server running for an app folder is doing.

Reads the server's stats socket (see ``warp.runtime.server.stats`` for where it lives) and
returns its document: the master and each worker with pid, state (starting, idle,
busy, stopping), requests served, RSS and the request in flight.
"""

from __future__ import annotations


from warp.core.errors import UsageError, WarpError
from warp.core.project import open_project
from warp.core.settings import BY_NAME, resolve
from warp.runtime.server import stats as server_stats


class ServerNotRunning(WarpError):
    """No bundled server answers for this app folder."""


def status(app_dir: str = ".", stats_address: str = "", timeout: float = 5.0) -> dict:
    """The stats document of the server started in ``app_dir`` (or at ``stats_address``).

    Without ``stats_address``, the app's ``stats`` setting as ``warp start``
    gives it to the server (environment files included), else where the
    server puts its socket by default.
    """
    project = open_project(app_dir)
    if not stats_address.strip():
        values, sources = resolve([BY_NAME["stats"]], project.environ)
        stats_address = values["stats"] or ""
        if stats_address.strip() == "off":
            raise UsageError(f"the server's stats socket is off (stats=off from {sources['stats']})",
                             "start the server with a stats socket, or pass --stats ADDRESS")
    try:
        return server_stats.find_and_read(str(project.root), stats_address, timeout)
    except ValueError as exc:
        raise UsageError(str(exc), "pass --stats PATH, unix:/PATH or HOST:PORT") from None
    except server_stats.StatsError as exc:
        raise ServerNotRunning(
            f"no warp server answers for {project.root}: {exc.strerror}",
            "start it with `warp start` in that folder, or pass the server's --stats address") from None


def _size(num: float) -> str:
    if not num:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if num < 1024 or unit == "GiB":
            return f"{num:.0f}{unit}" if unit == "B" else f"{num:.1f}{unit}"
        num /= 1024
    return str(num)


def _duration(seconds) -> str:
    if seconds is None:
        return "-"
    seconds = float(seconds)
    if seconds < 60:
        return f"{seconds:.1f}s"
    if seconds < 3600:
        return f"{seconds // 60:.0f}m{seconds % 60:02.0f}s"
    return f"{seconds // 3600:.0f}h{seconds % 3600 // 60:02.0f}m"


def format_table(doc: dict) -> str:
    """The stats document as a header line and one table row per worker."""
    workers = doc.get("workers", [])
    ready = sum(1 for w in workers if w.get("state") in ("idle", "busy"))
    head = (f"master {doc.get('master_pid')}  {doc.get('app')}  "
            f"{', '.join(doc.get('bind', []))}  workers {ready}/{doc.get('target_workers')}  "
            f"requests {doc.get('requests')}  up {_duration(doc.get('uptime'))}  "
            f"{doc.get('state', '')}")
    rows = [("PID", "GEN", "STATE", "REQUESTS", "RSS", "AGE", "IN FLIGHT")]
    for w in workers:
        flight = "; ".join(f"{r['method']} {r['path']} ({_duration(r['elapsed'])})" for r in w.get("busy", []))
        requests = str(w.get("requests", 0))
        if w.get("max_requests"):
            requests += f"/{w['max_requests']}"
        rows.append((str(w["pid"]), str(w.get("generation", "")), w["state"], requests,
                     _size(w.get("rss", 0)), _duration(w.get("age")), flight or "-"))
    lines = [head, ""] + _aligned(rows)
    services = doc.get("services") or []
    if services:
        service_rows = [("SERVICE", "PID", "UP", "RESTARTS", "COMMAND")]
        for s in services:
            service_rows.append((s["name"], str(s.get("pid") or "-"), _duration(s.get("uptime")),
                                 str(s.get("restarts", 0)), s.get("command", "")))
        lines += [""] + _aligned(service_rows)
    return "\n".join(line.rstrip() for line in lines)


def _aligned(rows: list) -> list:
    """Rows as lines, every column but the last padded to its widest cell."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[-1] for row in rows]
