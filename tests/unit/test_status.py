from warp.launch.status import format_table

DOC = {
    "master_pid": 10, "app": "app:application", "bind": ["0.0.0.0:8080"], "target_workers": 2,
    "requests": 7, "uptime": 125.0, "state": "running",
    "workers": [
        {"pid": 11, "generation": 1, "state": "idle", "requests": 3, "max_requests": None,
         "rss": 20 * 1024 * 1024, "age": 125.0, "busy": []},
        {"pid": 12, "generation": 1, "state": "busy", "requests": 4, "max_requests": 1000,
         "rss": 0, "age": 3.5, "busy": [{"method": "POST", "path": "/upload", "elapsed": 2.25}]},
    ],
}


def test_table_has_a_header_and_one_row_per_worker():
    lines = format_table(DOC).splitlines()
    assert lines[0] == "master 10  app:application  0.0.0.0:8080  workers 2/2  requests 7  up 2m05s  running"
    assert lines[2].split() == ["PID", "GEN", "STATE", "REQUESTS", "RSS", "AGE", "REQ/S", "P50", "P95", "P99",
                                "QUEUE", "P99", "CAPACITY", "CONNECTIONS", "IN", "FLIGHT"]
    assert lines[3].split() == ["11", "1", "idle", "3", "20.0MiB", "2m05s"] + ["-"] * 6 + ["0", "-"]
    assert lines[4].split()[:6] == ["12", "1", "busy", "4/1000", "-", "3.5s"]
    assert lines[4].split()[-3:] == ["POST", "/upload", "(2.2s)"]


def test_rows_carry_rates_percentiles_capacity_connections_and_every_request_in_flight():
    worker = dict(DOC["workers"][1], requests_per_second=12.5, p50=0.0012, p95=0.2, p99=1.5, queue_p99=0.0004,
                  capacity=0.5, connections={"idle": 2, "head": 1, "body": 0, "app": 2, "writing": 0, "closing": 0},
                  queued=3, busy=[{"method": "GET", "path": "/a", "elapsed": 2.0},
                                  {"method": "POST", "path": "/b", "elapsed": 0.5}])
    totals = {"requests_per_second": 12.5, "p50": 0.0012, "p95": 0.2, "p99": 1.5, "queue_p99": 0.0004,
              "capacity": 0.5, "capacity_minute": 0.25, "threads": 4, "in_flight": 2, "queued": 3,
              "connections": {"idle": 2, "app": 2}}
    doc = dict(DOC, workers=[worker], totals=totals, restarts={"crash": 1, "reload": 0},
               timeouts={"head": 2}, shed=0, backlog=[{"listener": "0.0.0.0:8080", "queued": 5, "limit": 2048}])
    text = format_table(doc)
    row = text.splitlines()[3]
    for cell in ("12.5", "1.2ms", "200.0ms", "1.50s", "400us", "50%", "5 (2 idle, 1 head, 2 app)",
                 "GET /a (2.0s); POST /b (0.5s); +3 queued"):
        assert cell in row, (cell, row)
    assert ("total: 12.5 req/s, p50 1.2ms p95 200.0ms p99 1.50s, queue p99 400us (last minute); "
            "capacity 50% (5 s), 25% (minute) of 4 threads; in flight 2 +3 queued; connections 4 (2 idle, 2 app)") in text
    assert "restarts: crash 1; timeouts: head 2; shed at the connection cap: 0; listen backlog: 0.0.0.0:8080 5" in text


def test_services_follow_the_workers_with_pid_uptime_and_restarts():
    doc = dict(DOC, services=[{"name": "warmer", "command": "python warm.py", "pid": 4242, "uptime": 75.0,
                               "restarts": 2, "state": "running"},
                              {"name": "relay", "command": "relay --port 9", "pid": None, "uptime": None,
                               "restarts": 5, "state": "waiting to restart"}])
    lines = format_table(doc).splitlines()
    at = lines.index(next(line for line in lines if line.startswith("SERVICE")))
    assert lines[at].split() == ["SERVICE", "PID", "UP", "RESTARTS", "COMMAND"]
    assert lines[at + 1].split() == ["warmer", "4242", "1m15s", "2", "python", "warm.py"]
    assert lines[at + 2].split()[:4] == ["relay", "-", "-", "5"]
    assert "SERVICE" not in format_table(DOC)
