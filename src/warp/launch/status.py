"""`warp status` and `warp metrics`: what the bundled server running for an app folder is doing.

Reads the server's stats socket (see ``warp.runtime.server.stats`` for where it lives) and
returns its document: the master and each worker with pid, state (starting, idle,
busy, stopping), requests served, RSS, every request in flight, connections by state,
and over the last minute requests/s, latency percentiles, queue time and capacity
utilisation (``warp.runtime.server.metrics``). ``metrics_text`` renders the same
document as the Prometheus text the master serves on ``--metrics``.

When the app runs under another server, these say what that server offers instead.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

from warp.core.errors import UsageError, WarpError
from warp.core.project import open_project
from warp.core.settings import BY_NAME, resolve
from warp.runtime.server import stats as server_stats


class ServerNotRunning(WarpError):
    """No bundled server answers for this app folder."""


class OtherServer(WarpError):
    """The app runs under a server other than the bundled one: no stats socket to read."""


# What each other server offers instead of warp's stats, and how to turn it on through warp.
OTHER_SERVERS: Dict[str, Tuple[str, str]] = {
    "gunicorn": ("gunicorn has no stats socket or metrics endpoint; it can send request counts, "
                 "status codes, request durations and worker counts to a statsd server",
                 "add its statsd flag through warp: server_args: [\"--statsd-host=127.0.0.1:8125\"] in warp.yaml "
                 "(or a line in .warpdrive/server_args), then read them from statsd"),
    "uwsgi": ("uWSGI serves its own stats (workers, requests, in-flight request, RSS) as JSON on a stats "
              "socket, which uwsgitop shows live",
              "add it through warp: server_args: [\"--stats=127.0.0.1:1717\", \"--stats-http\"] in warp.yaml, "
              "then `uwsgitop 127.0.0.1:1717` or `curl 127.0.0.1:1717`"),
    "waitress": ("waitress has no stats or metrics of its own (warp's shim writes its access log, with each "
                 "request's duration)",
                 "use the bundled server (server: bundled) for warp status, warp top and warp metrics"),
    "mod_wsgi": ("mod_wsgi-express can serve Apache's server-status page (busy and idle workers, requests "
                 "in flight)",
                 "add it through warp: server_args: [\"--server-status\"] in warp.yaml, then open /server-status"),
    "uvicorn": ("uvicorn has no stats or metrics of its own",
                "measure inside the app (an ASGI metrics middleware), or run a WSGI app on the bundled server"),
}


def _app_server(project: Any) -> Optional[Tuple[str, str]]:
    """(server, why) warp start would run the app with, or None when that cannot be told."""
    try:
        from warp.app.entrypoint import resolve as resolve_entry

        entry = resolve_entry(project)
    except (WarpError, OSError):
        return None
    return (entry.server, entry.server_reason) if entry.server else None


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
        chosen = _app_server(project)
        if chosen and chosen[0] in OTHER_SERVERS:
            offers, how = OTHER_SERVERS[chosen[0]]
            raise OtherServer(
                f"{project.root} runs under {chosen[0]} ({chosen[1]}): warp status, top and metrics read "
                f"the bundled server only; {offers}", how) from None
        raise ServerNotRunning(
            f"no warp server answers for {project.root}: {exc.strerror}",
            "start it with `warp start` in that folder, or pass the server's --stats address") from None


def metrics_text(app_dir: str = ".", stats_address: str = "", openmetrics: bool = False) -> str:
    """The Prometheus (or OpenMetrics) text of the server, the same the master serves on --metrics."""
    from warp.runtime.server.exposition import render

    return render(status(app_dir, stats_address), openmetrics)


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


def ms(seconds: Optional[float]) -> str:
    """A latency for people: 840us, 12.3ms, 1.25s."""
    if seconds is None:
        return "-"
    if seconds < 0.001:
        return f"{seconds * 1e6:.0f}us"
    if seconds < 1:
        return f"{seconds * 1000:.1f}ms"
    return f"{seconds:.2f}s"


def percent(value: Optional[float]) -> str:
    return "-" if value is None else f"{value * 100:.0f}%"


_STATE_SHORT = {"idle": "idle", "head": "head", "body": "body", "app": "app", "writing": "write", "closing": "close"}


def connections_text(connections: Optional[Dict[str, int]]) -> str:
    """'3 (2 idle, 1 head)': open connections and the states that have any."""
    connections = connections or {}
    total = sum(connections.values())
    parts = [f"{n} {_STATE_SHORT.get(state, state)}" for state, n in connections.items() if n]
    return f"{total} ({', '.join(parts)})" if parts else str(total)


def in_flight_text(worker: Dict[str, Any]) -> str:
    """Every request the worker runs, oldest first, with its path and age; then the queued count."""
    parts = [f"{r['method']} {r['path']} ({_duration(r['elapsed'])})" for r in worker.get("busy", [])]
    if worker.get("queued"):
        parts.append(f"+{worker['queued']} queued")
    return "; ".join(parts) or "-"


def counts_text(counts: Optional[Dict[str, int]]) -> str:
    return ", ".join(f"{name} {n}" for name, n in (counts or {}).items() if n) or "none"


def format_table(doc: dict) -> str:
    """The stats document as a header line, one table row per worker and a totals line."""
    workers = doc.get("workers", [])
    ready = sum(1 for w in workers if w.get("state") in ("idle", "busy"))
    head = (f"master {doc.get('master_pid')}  {doc.get('app')}  "
            f"{', '.join(doc.get('bind', []))}  workers {ready}/{doc.get('target_workers')}  "
            f"requests {doc.get('requests')}  up {_duration(doc.get('uptime'))}  "
            f"{doc.get('state', '')}")
    rows = [("PID", "GEN", "STATE", "REQUESTS", "RSS", "AGE", "REQ/S", "P50", "P95", "P99", "QUEUE P99",
             "CAPACITY", "CONNECTIONS", "IN FLIGHT")]
    for w in workers:
        requests = str(w.get("requests", 0))
        if w.get("max_requests"):
            requests += f"/{w['max_requests']}"
        rows.append((str(w["pid"]), str(w.get("generation", "")), w["state"], requests,
                     _size(w.get("rss", 0)), _duration(w.get("age")), _rate(w.get("requests_per_second")),
                     ms(w.get("p50")), ms(w.get("p95")), ms(w.get("p99")), ms(w.get("queue_p99")),
                     percent(w.get("capacity")), connections_text(w.get("connections")), in_flight_text(w)))
    lines = [head, ""] + _aligned(rows)
    totals = doc.get("totals")
    if totals:
        lines += ["", totals_line(doc)]
        lines.append(f"restarts: {counts_text(doc.get('restarts'))}; timeouts: {counts_text(doc.get('timeouts'))}; "
                     f"shed at the connection cap: {doc.get('shed', 0)}; listen backlog: "
                     + (", ".join(f"{b['listener']} {b['queued']}" for b in doc.get("backlog") or []
                                  if b.get("queued") is not None) or "-"))
    services = doc.get("services") or []
    if services:
        service_rows = [("SERVICE", "PID", "UP", "RESTARTS", "COMMAND")]
        for s in services:
            service_rows.append((s["name"], str(s.get("pid") or "-"), _duration(s.get("uptime")),
                                 str(s.get("restarts", 0)), s.get("command", "")))
        lines += [""] + _aligned(service_rows)
    return "\n".join(line.rstrip() for line in lines)


def totals_line(doc: dict) -> str:
    """All workers together: last minute's rate and percentiles, capacity now and over the minute."""
    t = doc.get("totals") or {}
    return (f"total: {_rate(t.get('requests_per_second'))} req/s, p50 {ms(t.get('p50'))} p95 {ms(t.get('p95'))} "
            f"p99 {ms(t.get('p99'))}, queue p99 {ms(t.get('queue_p99'))} (last minute); capacity "
            f"{percent(t.get('capacity'))} (5 s), {percent(t.get('capacity_minute'))} (minute) of "
            f"{t.get('threads', '?')} threads; in flight {t.get('in_flight', 0)}"
            + (f" +{t['queued']} queued" if t.get("queued") else "")
            + f"; connections {connections_text(t.get('connections'))}")


def _rate(value: Optional[float]) -> str:
    if value is None:
        return "-"
    return f"{value:.0f}" if value >= 100 else f"{value:.1f}"


def _aligned(rows: list) -> list:
    """Rows as lines, every column but the last padded to its widest cell."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[-1] for row in rows]
