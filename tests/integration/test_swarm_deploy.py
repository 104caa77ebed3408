"""`warp deploy` on the real Docker Engine in swarm mode (.ci/run makes it a one-node swarm).

Images are built with `warp image` on the local base image (no image can be
pulled here). The ingress routing mesh does not forward on this machine (no
IPVS), so the multi-replica app is reached the way the machine allows: a client
container on the app's own overlay network, with endpoint mode dnsrr, resolves
the service to its healthy replicas; the single-replica app is published in
host mode and reached on 127.0.0.1. Every service, secret, network, container
and image a test makes is removed at the end, whatever happened.
"""

from pathlib import Path
import json
import shutil
import socket
import time
import uuid

import docker
import pytest

from support import REPO, fetch, free_port, one_error_line, wait_for, warp, write
from support.engine import BASE_IMAGE, base_image_or_skip, engine_or_skip

pytestmark = pytest.mark.docker

BASE = BASE_IMAGE
RUN_ID = uuid.uuid4().hex[:6]
CLIENT = REPO / "tests" / "support" / "swarm_client.py"
# Short windows so failures show quickly; the defaults are for real apps.
FAST = "deploy:\n  startup_timeout: 10\n  health_interval: 2\n  monitor: 3\n  timeout: 300\n"


def deploy_name(what):
    return f"wt-{what}-{RUN_ID}"


@pytest.fixture(scope="module")
def swarm():
    """(client, cleanup list): a swarm manager, and what the tests made, removed at the end."""
    client = engine_or_skip()
    if (client.info().get("Swarm") or {}).get("LocalNodeState") != "active":
        pytest.skip("the Docker engine is not in swarm mode; .ci/run runs `docker swarm init --advertise-addr 127.0.0.1`")
    base_image_or_skip(client)
    made = {"deploys": [], "images": [], "containers": []}
    yield client, made
    for container in made["containers"]:
        try:
            container.remove(force=True)
        except docker.errors.APIError:
            pass
    for name in made["deploys"]:
        result = warp("deploy", name, "--rm", timeout=300)
        assert result.returncode == 0, result.stderr
        assert not client.services.list(filters={"label": f"warp.deploy={name}"})
        assert not client.secrets.list(filters={"label": f"warp.deploy={name}"})
        assert not client.networks.list(filters={"label": f"warp.deploy={name}"})
    # Every version built, then the builder images warp keeps as its layer cache.
    builders = [image.id for name in set(made["images"]) if not name.startswith("sha256:")
                for image in client.images.list(filters={"label": f"warp.image.builder-for={name}:latest"})]
    for reference in made["images"] + builders:
        try:
            client.images.remove(reference, force=True)
        except docker.errors.APIError:
            pass


def build_image(swarm, app, name):
    client, made = swarm
    made["images"].append(name)
    result = warp("image", name, "--app", str(app), "--base-image", BASE, "--json", timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    image_id = json.loads(result.stdout)["id"]
    made["images"].append(image_id)  # a rebuild under the same name leaves the previous one untagged
    return image_id


def deploy(name, app, *args, timeout=600):
    return warp("deploy", name, "--app", str(app), *args, timeout=timeout)


def services_of(client, name):
    return {s.attrs["Spec"]["Labels"]["warp.deploy.type"]: client.api.inspect_service(s.id)
            for s in client.services.list(filters={"label": f"warp.deploy={name}"})}


def running_image_ids(client, service):
    tasks = client.api.tasks(filters={"service": service["ID"], "desired-state": "running"})
    return {t["Spec"]["ContainerSpec"]["Image"] for t in tasks}


def on_network(swarm, network, command, detach=False):
    """Run ``command`` (python3 on the base image) in a container on ``network``."""
    client, made = swarm
    container = client.containers.run(
        BASE, command, network=network, detach=True,
        volumes={str(CLIENT): {"bind": "/client.py", "mode": "ro"}},
    )
    made["containers"].append(container)
    if detach:
        return container
    code = container.wait(timeout=120)["StatusCode"]
    output = container.logs().decode()
    assert code == 0, output
    return output


ASK_EACH = """
import socket, sys, urllib.request
name = sys.argv[1]
ips = sorted(socket.gethostbyname_ex(name)[2])
for ip in ips:
    body = urllib.request.urlopen("http://%s:8080/" % ip, timeout=10).read().decode()
    print(ip, body.strip().splitlines()[0])
"""


def answers(swarm, name):
    """{replica address: first line of its page} through the app's overlay network."""
    output = on_network(swarm, f"{name}_net", ["python3", "-c", ASK_EACH, f"{name}_web"])
    return dict(line.split(" ", 1) for line in output.strip().splitlines())


# -- the README's example app: two web replicas and a worker -------------------------

WORKER = """
import time
print("worker ready", flush=True)
while True:
    time.sleep(1)
"""


@pytest.fixture(scope="module")
def hello(swarm, tmp_path_factory):
    """examples/hello with a worker and a release in its Procfile, deployed with 2 web replicas."""
    client, made = swarm
    app = tmp_path_factory.mktemp("deploy") / "hello"
    shutil.copytree(REPO / "examples/hello", app, ignore=shutil.ignore_patterns(".warp", "__pycache__"))
    write(app, {
        "worker.py": WORKER,
        "Procfile": "worker: python worker.py\nrelease: python -c \"print('release ran')\"\n",
    })
    # Limits per replica: WEB_CONCURRENCY = min(2 x 1 CPU + 1, 512 MiB / 256 MiB) = 2.
    (app / "warp.yaml").write_text((app / "warp.yaml").read_text() + FAST + "  cpus: 1\n  memory: 512M\n")
    name = deploy_name("hello")
    image = build_image(swarm, app, name)
    made["deploys"].append(name)
    result = deploy(name, app, "--scale", "web=2", "--publish", "0", "--endpoint-mode", "dnsrr")
    assert result.returncode == 0, result.stderr
    return {"app": app, "name": name, "image": image, "first": result}


def test_web_replicas_and_worker_answer(swarm, hello):
    client, _ = swarm
    name = hello["name"]
    lines = hello["first"].stderr.splitlines()
    # The release ran, on the new image, before any service was created.
    ran = next(i for i, line in enumerate(lines) if "release| release ran" in line)
    created = next(i for i, line in enumerate(lines) if f"{name}_web: created" in line)
    assert ran < created
    assert not client.services.list(filters={"name": f"{name}_release"})

    pages = answers(swarm, name)
    assert len(pages) == 2, pages  # two replicas, each with its own address
    assert all("Hello from warp" in page for page in pages.values()), pages
    worker_logs = wait_for(lambda: "worker ready" in "".join(
        c.logs().decode() for c in client.containers.list(filters={"label": f"com.docker.swarm.service.name={name}_worker"})),
        timeout=60, what="the worker's first line")
    assert worker_logs

    status = warp("deploy", name, "--status", "--json")
    assert status.returncode == 0, status.stderr
    rows = {row["name"]: row for row in json.loads(status.stdout)["services"]}
    assert (rows[f"{name}_web"]["running"], rows[f"{name}_web"]["desired"]) == (2, 2)
    assert (rows[f"{name}_worker"]["running"], rows[f"{name}_worker"]["desired"]) == (1, 1)


def test_services_carry_the_rollout_health_and_stop_settings(swarm, hello):
    client, _ = swarm
    services = services_of(client, hello["name"])
    assert sorted(services) == ["web", "worker"]
    web = services["web"]["Spec"]
    update = web["UpdateConfig"]
    assert (update["Parallelism"], update["Order"], update["FailureAction"]) == (1, "start-first", "rollback")
    assert update["Monitor"] == 3 * 10**9
    container = web["TaskTemplate"]["ContainerSpec"]
    assert container["Healthcheck"]["Test"][:3] == ["CMD", "warp", "health"]
    assert container["StopGracePeriod"] > 30 * 10**9  # above the server's graceful timeout
    assert container["ReadOnly"] is True and container["CapabilityDrop"] == ["ALL"]
    assert web["TaskTemplate"]["Resources"]["Limits"] == {"NanoCPUs": 10**9, "MemoryBytes": 512 * 1024 * 1024}
    assert "WEB_CONCURRENCY=2" in container["Env"] and "PORT=8080" in container["Env"]
    assert web["TaskTemplate"]["RestartPolicy"]["Condition"] == "any"
    assert web["TaskTemplate"]["RestartPolicy"]["Delay"] > 0
    worker = services["worker"]["Spec"]["TaskTemplate"]["ContainerSpec"]
    assert worker["Healthcheck"]["Test"] == ["NONE"]
    assert not [e for e in worker["Env"] if e.startswith("WEB_CONCURRENCY=")]
    assert services["worker"]["Spec"]["UpdateConfig"]["Order"] == "stop-first"
    assert worker["Args"] == ["warp", "start", "worker", "--app", "/app"]
    network = client.networks.get(f"{hello['name']}_net")
    assert network.attrs["Driver"] == "overlay"


def test_changed_image_rolls_out_with_no_failed_request(swarm, hello):
    client, _ = swarm
    app, name = hello["app"], hello["name"]
    source = app / "app.py"
    source.write_text(source.read_text().replace("Hello from warp", "Hello again from warp"))
    new_image = build_image(swarm, app, name)
    looping = on_network(swarm, f"{name}_net", ["python3", "/client.py", f"{name}_web", "--seconds", "400"], detach=True)
    wait_for(lambda: "client ready" in looping.logs().decode(), timeout=60, what="the client")
    time.sleep(1)  # some requests before the update starts
    result = deploy(name, app, "--scale", "web=2", "--publish", "0", "--endpoint-mode", "dnsrr")
    looping.kill(signal="SIGTERM")
    looping.wait(timeout=60)
    summary = json.loads(looping.logs().decode().strip().splitlines()[-1])
    assert result.returncode == 0, result.stderr
    assert "updating one replica at a time (start-first)" in result.stderr
    assert summary["failed"] == 0, summary
    bodies = " ".join(summary["bodies"])
    assert "Hello from warp" in bodies and "Hello again from warp" in bodies, summary
    assert all("Hello again from warp" in page for page in answers(swarm, name).values())
    services = services_of(client, name)
    assert running_image_ids(client, services["web"]) == {new_image}
    assert running_image_ids(client, services["worker"]) == {new_image}
    hello["image"] = new_image


def test_failing_health_check_rolls_back_and_names_the_task(swarm, hello):
    client, _ = swarm
    app, name = hello["app"], hello["name"]
    good = hello["image"]
    config = app / "warp.yaml"
    config.write_text(config.read_text() + "health_path: /no-such-page\n")
    build_image(swarm, app, name)
    try:
        result = deploy(name, app, "--scale", "web=2", "--publish", "0", "--endpoint-mode", "dnsrr")
    finally:
        config.write_text(config.read_text().replace("health_path: /no-such-page\n", ""))
    line = one_error_line(result, 1, f"{name}_web rolled back", f"task {name}_web.", "404")
    assert "/no-such-page" in line
    services = services_of(client, name)
    assert services["web"]["UpdateStatus"]["State"] == "rollback_completed"
    assert running_image_ids(client, services["web"]) == {good}
    # Web goes first; its rollback leaves the other types untouched.
    assert running_image_ids(client, services["worker"]) == {good}
    assert all("Hello again from warp" in page for page in answers(swarm, name).values())


def test_failing_release_updates_nothing(swarm, hello):
    client, _ = swarm
    app, name = hello["app"], hello["name"]
    before = {t: s["Version"]["Index"] for t, s in services_of(client, name).items()}
    good = hello["image"]
    procfile = app / "Procfile"
    kept = procfile.read_text()
    procfile.write_text("worker: python worker.py\n"
                        "release: python -c \"import sys; print('migration exploded'); sys.exit(3)\"\n")
    source = app / "app.py"
    source.write_text(source.read_text().replace("Hello again from warp", "Hello, never served"))
    try:
        build_image(swarm, app, name)
        result = deploy(name, app, "--scale", "web=2", "--publish", "0", "--endpoint-mode", "dnsrr")
    finally:
        procfile.write_text(kept)
    one_error_line(result, 1, "release failed", "exit status 3", "migration exploded", "nothing was updated")
    assert "release| migration exploded" in result.stderr  # its log tail
    after = services_of(client, name)
    assert {t: s["Version"]["Index"] for t, s in after.items()} == before
    assert running_image_ids(client, after["web"]) == {good}
    assert not client.services.list(filters={"name": f"{name}_release"})
    assert all("Hello again from warp" in page for page in answers(swarm, name).values())


# -- secrets, host-mode publishing on 127.0.0.1, removal --------------------------------

SECRET_APP = {
    "wsgi.py": """
        import os

        def application(environ, start_response):
            if not environ["PATH_INFO"].startswith("/secret/"):
                start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
                return [b"ok"]
            name = environ["PATH_INFO"].rsplit("/", 1)[-1]
            try:
                with open("/run/secrets/" + name, "rb") as handle:
                    body, status = handle.read(), "200 OK"
            except OSError as exc:
                body, status = str(exc).encode(), "404 Not Found"
            leaked = [key for key, value in os.environ.items() if "s3cr3t" in value]
            body += ("\\nenv:" + ",".join(leaked)).encode()
            start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
            return [body]
        """,
    "warp.yaml": FAST,
}


def test_secrets_reach_the_app_as_files_and_no_inspect_output(swarm, tmp_path):
    client, made = swarm
    app = write(tmp_path / "app", SECRET_APP)
    name = deploy_name("secret")
    build_image(swarm, app, name)
    marker = f"s3cr3t-{uuid.uuid4().hex}"
    secret_file = tmp_path / "api-key.txt"
    secret_file.write_text(marker)
    port = free_port()
    made["deploys"].append(name)
    result = deploy(name, app, "--secret", f"api_key={secret_file}", "--publish", str(port), "--publish-mode", "host",
                    "--env", "GREETING=hello", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is True and report["created"] == [f"{name}_web"] and report["network"] == f"{name}_net"
    assert [(s["name"], s["running"], s["desired"]) for s in report["services"]] == [(f"{name}_web", 1, 1)]
    assert marker not in result.stdout + result.stderr
    status, body = wait_for(lambda: _fetch_or_none(port, "/secret/api_key"), timeout=60, what="the published port")
    assert (status, body.decode()) == (200, f"{marker}\nenv:")

    # In no inspect output: services, tasks, containers, secrets, network, image.
    outputs = [json.dumps(client.api.inspect_service(s.id)) for s in client.services.list(filters={"label": f"warp.deploy={name}"})]
    outputs += [json.dumps(client.api.inspect_container(c.id)) for c in client.containers.list(all=True, filters={"label": f"warp.deploy={name}"})]
    outputs += [json.dumps(client.api.tasks(filters={"service": s.id})) for s in client.services.list(filters={"label": f"warp.deploy={name}"})]
    outputs += [json.dumps(s.attrs) for s in client.secrets.list(filters={"label": f"warp.deploy={name}"})]
    outputs += [json.dumps(n.attrs) for n in client.networks.list(filters={"label": f"warp.deploy={name}"})]
    outputs += [json.dumps(client.images.get(name).attrs)]
    assert len(outputs) >= 5
    assert not [text for text in outputs if marker in text]
    assert "GREETING=hello" in outputs[0]

    # A changed file is a new secret; the old one goes once nothing uses it.
    secret_file.write_text(marker + "-2")
    result = deploy(name, app, "--secret", f"api_key={secret_file}", "--publish", str(port), "--publish-mode", "host")
    assert result.returncode == 0, result.stderr
    assert fetch(port, "/secret/api_key")[1].decode().startswith(marker + "-2")

    removed = warp("deploy", name, "--rm", "--json")
    assert removed.returncode == 0, removed.stderr
    gone = json.loads(removed.stdout)["removed"]
    assert f"{name}_web" in gone and f"{name}_net" in gone
    for kind in (client.services, client.secrets, client.networks):
        assert not kind.list(filters={"label": f"warp.deploy={name}"})
    made["deploys"].remove(name)


def _fetch_or_none(port, path):
    try:
        return fetch(port, path, timeout=5)
    except OSError:
        return None


# -- what cannot start: one line, exit 1, nothing made ------------------------------------

def nothing_made(client, name):
    for kind in (client.services, client.secrets, client.networks):
        assert not kind.list(filters={"label": f"warp.deploy={name}"}), kind


def test_missing_image_is_one_line_and_nothing_made(swarm, tmp_path):
    client, _ = swarm
    app = write(tmp_path / "app", SECRET_APP)
    name = deploy_name("noimage")
    result = deploy(name, app, "--image", f"warp-test-absent-{RUN_ID}:nope")
    one_error_line(result, 1, f"image warp-test-absent-{RUN_ID}:nope is not on this Docker engine", "warp image")
    nothing_made(client, name)


def test_port_taken_is_one_line_and_nothing_made(swarm, tmp_path, hello):
    client, _ = swarm
    app = write(tmp_path / "app", SECRET_APP)
    name = deploy_name("porttaken")
    # The image is there (the example's), so only the port can stop it.
    with socket.socket() as holder:
        holder.bind(("0.0.0.0", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = deploy(name, app, "--image", hello["name"], "--publish", str(port), "--publish-mode", "host",
                        "--secret", f"key={Path(app) / 'wsgi.py'}")
    one_error_line(result, 1, f"port {port} is already in use", "--publish")
    nothing_made(client, name)


def test_status_of_nothing_and_bad_name(swarm):
    result = warp("deploy", deploy_name("never"), "--status")
    assert result.returncode == 1 and "nothing deployed as" in result.stdout
    one_error_line(warp("deploy", "Not_A_Name", "--status"), 2, "not a usable deploy name")
