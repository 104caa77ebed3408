"""A rolling update with `warp deploy` on Docker Swarm: time to converge, and failed requests.

examples/hello (a copy) is built with `warp image` and deployed with 2 web
replicas; then, round after round, its page text changes, the image is rebuilt
(not timed) and `warp deploy` rolls it out while a client loops GETs through
the update. The client runs in a container on the app's overlay network and
resolves the service name before every request (endpoint mode dnsrr: Swarm's
DNS answers with the healthy replicas), one connection per request, no retry:
a refused, reset or timed-out request or a non-200 answer counts as failed.
Converge time is the whole `warp deploy` call, release and waiting included,
with the deploy settings at their defaults unless given.

    python benchmarks/deploy_rolling_update.py [--rounds 3] [--replicas 2] [--base-image warp-test-base:bookworm]

Needs a Docker Engine in swarm mode (`docker swarm init --advertise-addr
127.0.0.1`) and the base image (tests/images/debian-base.sh). Everything it
creates (services, network, client container, images) is removed at the end.
"""

from pathlib import Path
import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from warp.core.project import open_project  # noqa: E402
from warp.deploy import swarm  # noqa: E402
from warp.deploy.spec import app_spec  # noqa: E402
from warp.image.build import build_image, drain  # noqa: E402

CLIENT = REPO / "tests" / "support" / "swarm_client.py"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--base-image", default="warp-test-base:bookworm")
    args = parser.parse_args()

    name = f"bench-{uuid.uuid4().hex[:6]}"
    client = swarm.connect()
    flags = {"deploy_scale": [f"web={args.replicas}"], "deploy_publish": "0", "deploy_endpoint_mode": "dnsrr"}
    rows, looping, built = [], None, []
    with tempfile.TemporaryDirectory() as tmp:
        app = Path(tmp) / "hello"
        shutil.copytree(REPO / "examples/hello", app, ignore=shutil.ignore_patterns(".warp", "__pycache__"))
        source = app / "app.py"
        text = source.read_text()
        try:
            built.append(drain(build_image(app, name, base_image=args.base_image)).id)
            spec = app_spec(open_project(app, environ=dict(os.environ), flags=flags), name)
            drain(swarm.deploy(spec, client=client))
            for round_number in range(1, args.rounds + 1):
                source.write_text(text.replace("Hello from warp", f"Hello from warp, version {round_number + 1}"))
                built.append(drain(build_image(app, name, base_image=args.base_image)).id)
                looping = client.containers.run(
                    args.base_image, ["python3", "/client.py", f"{name}_web", "--seconds", "900"],
                    network=f"{name}_net", detach=True, volumes={str(CLIENT): {"bind": "/client.py", "mode": "ro"}},
                )
                while b"client ready" not in looping.logs():
                    time.sleep(0.2)
                started = time.monotonic()
                result = drain(swarm.deploy(app_spec(open_project(app, environ=dict(os.environ), flags=flags), name), client=client))
                seconds = time.monotonic() - started
                looping.kill(signal="SIGTERM")
                looping.wait(timeout=60)
                summary = json.loads(looping.logs().decode().strip().splitlines()[-1])
                looping.remove(force=True)
                looping = None
                rows.append((round_number, seconds, result.updated, summary))
        finally:
            if looping is not None:
                looping.remove(force=True)
            drain(swarm.remove(name, client=client))
            # Every version (a rebuild leaves the previous one untagged), then the
            # builder image warp keeps as its layer cache.
            built += [b.id for b in client.images.list(filters={"label": f"warp.image.builder-for={name}:latest"})]
            for image in built:
                try:
                    client.images.remove(image, force=True)
                except Exception:  # already gone with its tag
                    pass

    settings = spec
    print(f"examples/hello, {args.replicas} web replicas, {os.cpu_count()} CPUs; deploy settings: monitor {settings.monitor} s, "
          f"health interval {settings.health_interval} s, start-first, parallelism 1; client: dnsrr on the overlay network")
    print()
    print("| round | converge (whole `warp deploy`) | requests during it | failed |")
    print("|---|---|---|---|")
    for round_number, seconds, _, summary in rows:
        print(f"| {round_number} | {seconds:.1f} s | {summary['ok'] + summary['failed']:,} | {summary['failed']} |")
    failed = sum(r[3]["failed"] for r in rows)
    total = sum(r[3]["ok"] + r[3]["failed"] for r in rows)
    print()
    print(f"median converge {statistics.median(r[1] for r in rows):.1f} s; failed requests: {failed} of {total:,}")
    for _, _, _, summary in rows:
        if summary["errors"]:
            print("errors:", json.dumps(summary["errors"]))


if __name__ == "__main__":
    main()
