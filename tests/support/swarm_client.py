"""A client that loops GETs through a rolling update, run inside a container on the app's overlay network.

Standard library only (it runs on the tests' base image). Each request resolves
the service name again (DNS round robin over the healthy replicas, as Swarm's
embedded DNS serves it with endpoint mode dnsrr), connects to one address, sends
``GET /`` with ``Connection: close`` and counts a 200 as success; anything else
(refused, reset, timeout, another status) is a failure, never retried.
Stops on TERM or after ``--seconds``/``--requests``, then prints one JSON line:
{"ok": n, "failed": n, "errors": {...}, "bodies": {first line: count}}.
"""

import argparse
import http.client
import json
import random
import signal
import socket
import time

stop = False


def on_term(signum, frame):
    global stop
    stop = True


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("host")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--requests", type=int, default=200000)
    parser.add_argument("--pause", type=float, default=0.01)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, on_term)
    ok, failed, errors, bodies = 0, 0, {}, {}
    started = time.monotonic()
    print("client ready", flush=True)
    while not stop and time.monotonic() - started < args.seconds and ok + failed < args.requests:
        try:
            address = random.choice(socket.gethostbyname_ex(args.host)[2])
            connection = http.client.HTTPConnection(address, args.port, timeout=5)
            connection.request("GET", "/", headers={"Connection": "close"})
            response = connection.getresponse()
            body = response.read().decode("utf-8", "replace")
            connection.close()
            if response.status == 200:
                ok += 1
                key = body.strip().splitlines()[0][-60:] if body.strip() else ""
                bodies[key] = bodies.get(key, 0) + 1
            else:
                failed += 1
                errors[f"status {response.status}"] = errors.get(f"status {response.status}", 0) + 1
        except Exception as exc:  # every kind of failure counts, by kind
            failed += 1
            name = f"{type(exc).__name__}: {exc}"[:120]
            errors[name] = errors.get(name, 0) + 1
        time.sleep(args.pause)
    print(json.dumps({"ok": ok, "failed": failed, "errors": errors, "bodies": bodies,
                      "seconds": round(time.monotonic() - started, 1)}), flush=True)


if __name__ == "__main__":
    main()
