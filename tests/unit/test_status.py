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
    assert lines[2].split() == ["PID", "GEN", "STATE", "REQUESTS", "RSS", "AGE", "IN", "FLIGHT"]
    assert lines[3].split() == ["11", "1", "idle", "3", "20.0MiB", "2m05s", "-"]
    assert lines[4].split() == ["12", "1", "busy", "4/1000", "-", "3.5s", "POST", "/upload", "(2.2s)"]


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
