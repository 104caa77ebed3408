"""`warp top`: a live view of the bundled server, refreshed every second (like uwsgitop).

``frame`` turns two successive stats documents into the lines of one screen (pure, so
the terminal view, the plain-text output and the tests draw the very same lines);
``run_terminal`` draws them with the standard library's curses until ``q``. Rates
(requests/s, capacity) come from the difference between the two documents, so they
describe the last interval; latency percentiles are the master's, over the last minute.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Dict, List, Optional

from warp.launch.status import _duration, _size, connections_text, counts_text, in_flight_text, ms, percent

BAR = 10


def bar(fraction: Optional[float], width: int = BAR) -> str:
    """[#####.....] for a fraction in 0..1."""
    if fraction is None:
        return "[" + " " * width + "]"
    filled = int(round(max(0.0, min(1.0, fraction)) * width))
    return "[" + "#" * filled + "." * (width - filled) + "]"


def _rates(doc: Dict[str, Any], prev: Optional[Dict[str, Any]]) -> Dict[Any, Dict[str, Optional[float]]]:
    """Per worker pid (and None for all): requests/s and capacity over the interval between
    ``prev`` and ``doc``; the document's own figures when there is no previous one."""
    threads = max(1, int(doc.get("threads") or 1))
    out: Dict[Any, Dict[str, Optional[float]]] = {}
    before = {w["pid"]: w for w in (prev or {}).get("workers", [])}
    seconds = (doc.get("uptime", 0) - prev.get("uptime", 0)) if prev else 0
    for w in doc.get("workers", []):
        old = before.get(w["pid"])
        if old is not None and seconds > 0:
            out[w["pid"]] = {
                "rps": max(0, w.get("requests_total", 0) - old.get("requests_total", 0)) / seconds,
                "capacity": min(1.0, max(0.0, w.get("busy_seconds", 0) - old.get("busy_seconds", 0)) / (seconds * threads)),
            }
        else:
            out[w["pid"]] = {"rps": w.get("requests_per_second"), "capacity": w.get("capacity")}
    totals, old_totals = doc.get("totals") or {}, (prev or {}).get("totals") or {}
    if prev and seconds > 0 and old_totals:
        out[None] = {
            "rps": max(0, totals.get("requests_total", 0) - old_totals.get("requests_total", 0)) / seconds,
            "capacity": min(1.0, max(0.0, totals.get("busy_seconds", 0) - old_totals.get("busy_seconds", 0))
                            / (seconds * max(1, totals.get("threads", 1)))),
        }
    else:
        out[None] = {"rps": totals.get("requests_per_second"), "capacity": totals.get("capacity")}
    return out


def _rps(value: Optional[float]) -> str:
    return "-" if value is None else (f"{value:.0f}" if value >= 100 else f"{value:.1f}")


def frame(doc: Dict[str, Any], prev: Optional[Dict[str, Any]] = None, width: int = 120) -> List[str]:
    """The lines of one screen of `warp top`, each at most ``width`` characters."""
    rates = _rates(doc, prev)
    workers = doc.get("workers", [])
    ready = sum(1 for w in workers if w.get("state") in ("idle", "busy"))
    t = doc.get("totals") or {}
    total = rates[None]
    lines = [
        f"warp top - {doc.get('app')}  master {doc.get('master_pid')}  up {_duration(doc.get('uptime'))}  "
        f"generation {doc.get('generation')}  workers {ready}/{doc.get('target_workers')} x "
        f"{doc.get('threads')} threads  {', '.join(doc.get('bind', []))}  {doc.get('state', '')}",
        f"requests {doc.get('requests')}  {_rps(total['rps'])} req/s  latency p50 {ms(t.get('p50'))} "
        f"p95 {ms(t.get('p95'))} p99 {ms(t.get('p99'))}  queue p99 {ms(t.get('queue_p99'))} (last minute)",
        f"capacity {bar(total['capacity'], 20)} {percent(total['capacity'])}  in flight {t.get('in_flight', 0)}"
        + (f" +{t['queued']} queued" if t.get("queued") else "")
        + f"  connections {connections_text(t.get('connections'))}  backlog "
        + (", ".join(str(b["queued"]) for b in doc.get("backlog") or [] if b.get("queued") is not None) or "-"),
        f"restarts: {counts_text(doc.get('restarts'))}  timeouts: {counts_text(doc.get('timeouts'))}  "
        f"shed: {doc.get('shed', 0)}",
        "",
    ]
    rows = [("WORKER", "PID", "STATE", "REQ/S", "P50", "P95", "P99", "CAPACITY", "RSS", "CONNS", "CURRENT REQUEST")]
    for w in workers:
        r = rates.get(w["pid"], {})
        rows.append((str(w.get("slot", "")), str(w["pid"]), w.get("state", ""), _rps(r.get("rps")),
                     ms(w.get("p50")), ms(w.get("p95")), ms(w.get("p99")),
                     f"{bar(r.get('capacity'))} {percent(r.get('capacity')):>4}", _size(w.get("rss", 0)),
                     connections_text(w.get("connections")).split(" ", 1)[0], in_flight_text(w)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[-1])
    services = doc.get("services") or []
    if services:
        lines.append("")
        for s in services:
            lines.append(f"service {s['name']}  pid {s.get('pid') or '-'}  up {_duration(s.get('uptime'))}  "
                         f"restarts {s.get('restarts', 0)}  {s.get('state', '')}")
    return [line.rstrip()[:width] for line in lines]


def run_terminal(fetch: Callable[[], Dict[str, Any]], interval: float = 1.0) -> None:
    """Draw frames on the terminal until `q` (or Ctrl-C); ``fetch`` reads a stats document
    and may raise WarpError, which ends the view and propagates."""
    import curses

    def loop(screen: Any) -> None:
        try:
            curses.curs_set(0)
        except curses.error:
            pass
        screen.timeout(int(interval * 1000))
        prev: Optional[Dict[str, Any]] = None
        while True:
            doc = fetch()
            height, width = screen.getmaxyx()
            screen.erase()
            lines = frame(doc, prev, width - 1) + ["", "q quits"]
            for row, line in enumerate(lines[:height]):
                try:
                    screen.addstr(row, 0, line, curses.A_BOLD if row == 0 or line.startswith("WORKER") else 0)
                except curses.error:
                    pass  # the bottom-right cell of a full screen
            screen.refresh()
            prev = doc
            deadline = time.monotonic() + interval
            while time.monotonic() < deadline:
                key = screen.getch()
                if key in (ord("q"), ord("Q"), 27):
                    return
                if key == -1:
                    break

    try:
        curses.wrapper(loop)
    except KeyboardInterrupt:
        pass
