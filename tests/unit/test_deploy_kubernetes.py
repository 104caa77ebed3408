"""`warp manifest kubernetes`: every object validated offline against the Kubernetes schemas.

kubernetes-validate checks each object in strict mode (unknown fields are
errors) for the newest Kubernetes minor version it knows and the one before.
"""

from pathlib import Path
import json
import os

import pytest
import yaml

from kubernetes_validate import utils as kv

from support import one_error_line, warp, write

from warp.core.errors import ConfigError
from warp.core.project import open_project
from warp.deploy import kubernetes
from warp.deploy.spec import app_spec

VERSIONS = sorted({v for v in kv.all_versions()}, key=lambda v: tuple(int(p) for p in v.split(".")))[-2:]


PLAIN = {"wsgi.py": "def application(environ, start_response):\n    pass\n"}

DJANGO = {
    "requirements.txt": "django>=4.2,<6\n",
    "manage.py": """
        import os, sys
        if __name__ == "__main__":
            os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
            from django.core.management import execute_from_command_line
            execute_from_command_line(sys.argv)
        """,
    "mysite/__init__.py": "",
    "mysite/settings.py": "SECRET_KEY = 'x'\n",
    "mysite/wsgi.py": "from django.core.wsgi import get_wsgi_application\napplication = get_wsgi_application()\n",
    "Procfile": "release: python manage.py migrate --noinput\n",
    "warp.yaml": """
        health_path: /healthz
        deploy:
          scale: {web: 3}
          cpus: 1.5
          memory: 1G
          autoscale: 3-12
          env:
            DJANGO_SETTINGS_MODULE: mysite.settings
          secrets:
            django_secret_key: secret.txt
        """,
    "secret.txt": "not in any manifest\n",
}

THREE = {
    "app.py": "def application(environ, start_response):\n    pass\n",
    "Procfile": "web: python -m http.server $PORT\nworker: python worker.py\nclock_beat: python clock.py\n",
    ".warp/hooks/ready": "#!/bin/sh\nexit 0\n",
    "warp.yaml": "graceful_timeout: 45\ndeploy:\n  scale: {worker: 2, clock_beat: 1}\n  read_only: false\n",
}


def spec_of(root, name="shop", flags=None):
    return app_spec(open_project(root, environ={}, flags=flags), name)


def validate_all(objects):
    for obj in objects:
        for version in VERSIONS:
            kv.validate(obj, version, strict=True)  # raises ValidationError with the path


@pytest.mark.parametrize("files", [PLAIN, DJANGO, THREE], ids=["plain", "django-release", "three-types"])
def test_every_object_is_valid_for_the_last_two_minor_versions(tmp_path, files):
    spec = spec_of(write(tmp_path, files))
    objects = [obj for _, obj in kubernetes.manifests(spec)]
    assert len(VERSIONS) == 2
    validate_all(objects)
    # The YAML stream says the same as the objects.
    assert [doc for doc in yaml.safe_load_all(kubernetes.render(spec)) if doc] == objects


def by_kind(spec):
    found = {}
    for _, obj in kubernetes.manifests(spec):
        found.setdefault(obj["kind"], []).append(obj)
    return found


def test_plain_app_web_deployment_service_and_budget(tmp_path):
    spec = spec_of(write(tmp_path, PLAIN))
    kinds = by_kind(spec)
    assert sorted(kinds) == ["Deployment", "PodDisruptionBudget", "Service"]
    (deployment,) = kinds["Deployment"]
    assert deployment["metadata"]["name"] == "shop-web"
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["args"] == ["warp", "start", "--app", "/app"]
    assert pod["securityContext"] == {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    assert container["securityContext"] == {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                                            "readOnlyRootFilesystem": True, "runAsNonRoot": True}
    # No fixed UID: the image's 1001:0, or any UID OpenShift assigns in group 0.
    assert "runAsUser" not in json.dumps(deployment)
    assert {m["mountPath"] for m in container["volumeMounts"]} == {"/tmp", "/app/.warp/run"}
    assert all("emptyDir" in v for v in pod["volumes"])
    # HTTP probes on health_path; the startup probe covers the startup timeout (60 s default).
    startup = container["startupProbe"]
    assert startup["httpGet"] == {"path": "/", "port": "http"}
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 60
    assert container["readinessProbe"]["httpGet"]["path"] == "/"
    assert container["livenessProbe"]["httpGet"]["path"] == "/"
    # Drain first, then TERM with more time than the server's graceful timeout (30 s default).
    assert container["lifecycle"]["preStop"]["exec"]["command"] == ["sleep", "5"]
    assert pod["terminationGracePeriodSeconds"] > 5 + 30
    # No limits asked for: none set, and WEB_CONCURRENCY left to the server.
    assert "resources" not in container
    assert [e["name"] for e in container["env"]] == ["PORT"]
    (service,) = kinds["Service"]
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert kinds["PodDisruptionBudget"][0]["spec"]["maxUnavailable"] == 1


def test_django_release_job_limits_concurrency_secrets_and_autoscaler(tmp_path):
    spec = spec_of(write(tmp_path, DJANGO))
    names = [name for name, _ in kubernetes.manifests(spec)]
    assert names[0] == "job-release.yaml"  # applied, and waited for, before the rest
    kinds = by_kind(spec)
    (job,) = kinds["Job"]
    assert job["metadata"]["name"].startswith("shop-release-")
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never" and job["spec"]["backoffLimit"] == 0
    assert pod["containers"][0]["args"] == ["warp", "start", "release", "--app", "/app"]
    (deployment,) = kinds["Deployment"]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"]["limits"] == {"cpu": "1500m", "memory": "1024Mi"}
    env = {e["name"]: e["value"] for e in container["env"]}
    # min(2 x ceil(1.5) + 1, 1024 MiB / 256) = 4
    assert env["WEB_CONCURRENCY"] == "4"
    assert env["DJANGO_SETTINGS_MODULE"] == "mysite.settings"
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    # The HPA owns the replica count.
    assert "replicas" not in deployment["spec"]
    (hpa,) = kinds["HorizontalPodAutoscaler"]
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 12)
    # The secret is a file from a Secret the user makes; its content is nowhere.
    assert any(m["mountPath"] == "/run/secrets" for m in container["volumeMounts"])
    text = kubernetes.render(spec)
    assert "not in any manifest" not in text
    assert "kubectl create secret generic shop-secrets --from-file=django_secret_key=FILE" in text


def test_three_process_types_exec_probes_and_names(tmp_path):
    spec = spec_of(write(tmp_path, THREE))
    kinds = by_kind(spec)
    deployments = {d["metadata"]["name"]: d for d in kinds["Deployment"]}
    assert sorted(deployments) == ["shop-clock-beat", "shop-web", "shop-worker"]
    assert [s["metadata"]["name"] for s in kinds["Service"]] == ["shop-web"]
    assert len(kinds["PodDisruptionBudget"]) == 3
    worker = deployments["shop-worker"]
    assert worker["spec"]["replicas"] == 2
    assert worker["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 0, "maxUnavailable": 1}
    container = worker["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == ["warp", "start", "worker", "--app", "/app"]
    assert "readinessProbe" not in container and "ports" not in container
    assert container["securityContext"]["readOnlyRootFilesystem"] is False
    web = deployments["shop-web"]["spec"]["template"]["spec"]
    # A ready hook: probes run `warp health`, which runs it.
    assert web["containers"][0]["readinessProbe"]["exec"]["command"][:3] == ["warp", "health", "--ready"]
    assert web["terminationGracePeriodSeconds"] > 5 + 45


@pytest.mark.parametrize("files, flags, words", [
    (PLAIN, {"deploy_scale": "worker=2"}, "deploy_scale names worker"),
    (PLAIN, {"deploy_autoscale": "2-10"}, "needs deploy_cpus"),
    (PLAIN, {"deploy_autoscale": "ten", "deploy_cpus": "1"}, "not MIN-MAX"),
    (PLAIN, {"deploy_secrets": ["key=/no/such/file"]}, "secret key: no such file"),
])
def test_settings_that_cannot_work_are_config_errors(tmp_path, files, flags, words):
    with pytest.raises(ConfigError, match=words):
        spec_of(write(tmp_path, files), flags=flags)


def test_cli_prints_writes_and_refuses_bad_names(tmp_path):
    app = write(tmp_path / "My_Shop", THREE)
    proc = warp("manifest", "kubernetes", "--app", str(app), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    docs = [d for d in yaml.safe_load_all(proc.stdout) if d]
    assert {d["metadata"]["name"] for d in docs if d["kind"] == "Deployment"} >= {"my-shop-web"}
    out = tmp_path / "out"
    proc = warp("manifest", "kubernetes", "--app", str(app), "--name", "shop", "-o", str(out), "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    files = json.loads(proc.stdout)["files"]
    assert sorted(Path(f).name for f in files) == sorted(os.listdir(out))
    validate_all([yaml.safe_load(Path(f).read_text()) for f in files])
    proc = warp("manifest", "kubernetes", "--app", str(app), "--name", "Bad_Name", cwd=tmp_path)
    one_error_line(proc, 2, "'Bad_Name' is not a usable deploy name")
    proc = warp("manifest", "kubernetes", "--app", str(app), "--scale", "nope=1", cwd=tmp_path)
    one_error_line(proc, 2, "deploy_scale names nope")
