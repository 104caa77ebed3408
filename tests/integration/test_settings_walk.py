"""The registry drives every command: each declared flag, given a valid value, reaches
the command's result; each variable parses the same in `warp config` and in the
bundled server; both entry points pick the same default worker count.

Everything runs as a user would: `warp ...` and `python -m warp.runtime.server`
as subprocesses, on a real app built by `warp build`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import pytest

from warp.core.settings import SERVER, SETTINGS, Setting, config_settings, server_settings, settings_for

from support import SRC, free_port, warp, warp_env, write
from support.engine import BASE_IMAGE, base_image_or_skip, engine_or_skip

APP = {
    "app.py": '''
        def application(environ, start_response):
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"walk"]
    ''',
    "requirements.txt": "",
    "public/site.css": "h1 {}\n",
}
THIS_PYTHON = f"{sys.version_info[0]}.{sys.version_info[1]}"

# Values the registry cannot know: paths and versions of this machine.
MACHINE_VALUES = {"python": THIS_PYTHON, "wheelhouse": "wheels"}
# A flag whose only valid value here is its default must beat another value set in the
# environment, or the test could not tell the flag from the default.
ENV_TO_BEAT = {"server": ("WARP_SERVER", "waitress")}


def raw_value(setting: Setting) -> Optional[str]:
    """A valid raw flag value other than the default (None: a switch, given alone)."""
    if setting.switch:
        return None
    if setting.name in MACHINE_VALUES:
        return MACHINE_VALUES[setting.name]
    if setting.example is not None:
        return str(setting.example)
    choices = getattr(setting.parse, "choices", ())
    others = [c for c in choices if c != setting.default]
    assert others, f"{setting.name}: declare an example= so the walk can give its flag a value"
    return others[0]


def flag_args(setting: Setting) -> List[str]:
    value = raw_value(setting)
    return [setting.flag] if value is None else [setting.flag, value]


def expected(setting: Setting, cwd: Path) -> Any:
    value = raw_value(setting)
    if value is None:
        return True
    if setting.cwd_path:
        value = str(cwd / value)
    return setting.parse([value] if setting.multiple else value)


def jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value))


def walk(command: str) -> List[Any]:
    return [pytest.param(s, id=s.name) for s in settings_for(command) if s.flag]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    root = write(tmp_path_factory.mktemp("walk"), APP)
    (root / "wheels").mkdir()
    result = warp("build", cwd=root)
    assert result.returncode == 0, result.stderr
    return root


# -- (a) every flag of every command reaches the result ------------------------------------

@pytest.mark.parametrize("setting", walk("start"))
def test_start_flag_reaches_the_launch(built, setting):
    env = dict([ENV_TO_BEAT[setting.name]]) if setting.name in ENV_TO_BEAT else {}
    args = list(flag_args(setting))
    if setting.name == "venv":
        # A venv that exists (start needs one), named other than the default.
        args = [setting.flag, str(built / ".warp" / "venv")]
    result = warp("start", "--print", "--json", *args, cwd=built, env=env)
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert plan["sources"][setting.name] == "flag"
    got = plan["settings"][setting.name]
    if setting.name == "static":
        assert {prefix: Path(folder).name for prefix, folder in got} == expected(setting, built)
    elif setting.name == "venv":
        assert got == args[1]
    else:
        assert got == jsonable(expected(setting, built))
    if SERVER in setting.commands and setting.name not in ("host", "port", "entrypoint"):
        # The bundled server is told in its own flag of the same name.
        assert setting.flag in plan["argv"], plan["argv"]


@pytest.mark.parametrize("setting", walk("build"))
def test_build_flag_reaches_the_build_record(built, setting):
    env = dict([ENV_TO_BEAT[setting.name]]) if setting.name in ENV_TO_BEAT else {}
    result = warp("build", "--json", *flag_args(setting), cwd=built, env=env, timeout=600)
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    if setting.changes_build:
        assert record["settings"][setting.name] == jsonable(expected(setting, built))
    else:
        assert setting.name == "venv", f"{setting.name}: a build flag that changes no build"
        assert Path(record["venv"]) == built / expected(setting, built)
        assert (built / expected(setting, built) / "pyvenv.cfg").is_file()


@pytest.mark.parametrize("setting", walk("project"))
def test_project_flag_reaches_the_environment(tmp_path, setting):
    root = write(tmp_path, APP)
    result = warp("project", "--json", *flag_args(setting), cwd=root)
    assert result.returncode == 0, result.stderr
    made = json.loads(result.stdout)
    if setting.name == "venv":
        assert Path(made["venv"]) == root / expected(setting, root)
        assert (root / expected(setting, root) / "pyvenv.cfg").is_file()
    else:
        assert setting.name == "python", f"{setting.name}: no check for this project flag"
        assert made["python"].startswith(expected(setting, root) + ".")


@pytest.mark.parametrize("setting", walk(SERVER))
def test_server_flag_reaches_the_server_config(tmp_path, setting):
    argv = ["app:application"] if setting.positional else ["app:application", *flag_args(setting)]
    if setting.positional:
        argv = [raw_value(setting)]
    result = server(argv, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    dump = json.loads(result.stdout)
    assert dump["sources"][setting.name] == "flag"
    assert dump["settings"][setting.name] == jsonable(expected(setting, tmp_path))


@pytest.fixture(scope="module")
def image_runs(tmp_path_factory):
    """Two real `warp image` builds of one app (the second with every flag that has a
    value, then --no-cache on top), and a --push to a registry that is not there;
    the images are removed after."""
    client = engine_or_skip()
    base_image_or_skip(client)
    from docker.errors import ImageNotFound
    root = write(tmp_path_factory.mktemp("walk-image"), APP)
    registry = f"127.0.0.1:{free_port()}"
    names = [f"warp-walk-{os.getpid()}:1", f"{registry}/warp-walk-{os.getpid()}:1"]
    valued = [a for s in settings_for("image") if s.flag and not s.switch and s.name != "base_image"
              for a in flag_args(s)]
    runs = {}
    try:
        runs["values"] = warp("image", names[0], "--json", "--base-image", BASE_IMAGE, *valued, cwd=root, timeout=900)
        runs["no_cache"] = warp("image", names[0], "--json", "--base-image", BASE_IMAGE, "--no-cache", cwd=root,
                                timeout=900)
        runs["push"] = warp("image", names[1], "--base-image", BASE_IMAGE, "--push", cwd=root, timeout=900)
        yield root, registry, runs
    finally:
        for name in names:
            for image in client.images.list(filters={"label": f"warp.image.builder-for={name}"}):
                client.images.remove(image.id, force=True)
            try:
                client.images.remove(name, force=True)
            except ImageNotFound:
                pass


def _image_check(setting: Setting, root: Path, registry: str, runs: Dict[str, Any]) -> None:
    if setting.name == "no_cache":
        # The same build again reuses every layer unless the flag says otherwise.
        assert runs["no_cache"].returncode == 0, runs["no_cache"].stderr
        assert "Using cache" not in runs["no_cache"].stderr
        return
    if setting.name == "push":
        # The image is built, then pushed: the push is what fails, naming the registry.
        assert runs["push"].returncode == 1 and f"pushing {registry}/" in runs["push"].stderr, runs["push"].stderr
        return
    result = runs["values"]
    assert result.returncode == 0, result.stderr
    made = json.loads(result.stdout)
    if setting.name == "base_image":
        assert made["base_image"] == BASE_IMAGE
    elif setting.name == "sbom":
        assert made["sbom"] == str(expected(setting, root)) and Path(made["sbom"]).is_file()
    else:
        assert made[setting.name] == jsonable(expected(setting, root)), f"{setting.name}: not in warp image --json"


@pytest.mark.docker
@pytest.mark.parametrize("setting", walk("image"))
def test_image_flag_reaches_the_image(image_runs, setting):
    _image_check(setting, *image_runs)


# Deploy flags that only `warp deploy` (Docker Swarm) reads: `warp manifest kubernetes`
# accepts them and its manifests cannot show them.
SWARM_ONLY = {"deploy_publish", "deploy_publish_mode", "deploy_endpoint_mode"}


@pytest.mark.parametrize("setting", [
    pytest.param(s, id=s.name, marks=pytest.mark.xfail(strict=True, reason="Swarm only: walk it through `warp deploy`"))
    if s.name in SWARM_ONLY else pytest.param(s, id=s.name) for s in settings_for("deploy") if s.flag])
def test_deploy_flag_changes_the_kubernetes_manifests(tmp_path, setting):
    root = write(tmp_path, APP)
    plain = warp("manifest", "kubernetes", "--json", cwd=root)
    assert plain.returncode == 0, plain.stderr
    value = {"deploy_image": "walk:1", "deploy_scale": "web=3", "deploy_cpus": "0.5", "deploy_memory": "512M",
             "deploy_env": "WALK=1", "deploy_timeout": "30", "deploy_publish": "81"}.get(setting.name)
    if setting.name == "deploy_secrets":
        (root / "token.txt").write_text("s3cret\n")
        value = "token=token.txt"
    args = [setting.flag] if value is None and setting.switch else [setting.flag, value or raw_value(setting)]
    flagged = warp("manifest", "kubernetes", "--json", *args, cwd=root)
    assert flagged.returncode == 0, flagged.stderr
    assert json.loads(flagged.stdout) != json.loads(plain.stdout)


def test_every_command_that_takes_setting_flags_is_walked():
    walked = {"start", "build", "project", SERVER, "image", "deploy"}
    assert {c for s in SETTINGS if s.flag for c in s.commands} <= walked


# -- (b) the same raw value, the same answer, in warp config and in the server ------------

RAWS = ["7", "2.5", "-1", "0", "abc", "critical", "/s/=a,/t/=b", " 10.0.0.1 , ::1 ", "app:application"]
SHARED = [s for s in config_settings() if s in server_settings()]


def server(argv: List[str], cwd: Path, env: Optional[Dict[str, str]] = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "warp.runtime.server", "--print-config", *argv], cwd=cwd,
                          env=warp_env(**dict(env or {})), capture_output=True, text=True, timeout=60)


def _answer(result: subprocess.CompletedProcess[str], prefix: str, name: str) -> Tuple[str, Any]:
    if result.returncode == 0:
        data = json.loads(result.stdout)
        settings = data["settings"]
        if isinstance(settings, list):
            settings = {row["name"]: row["value"] for row in settings}
        return "value", settings[name]
    lines = [line for line in result.stderr.splitlines() if line.startswith(prefix)]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return "error", lines[0][len(prefix):]


def _both(tmp_path: Path, setting: Setting, variable: str, raw: str) -> Tuple[Any, Any]:
    env = {variable: raw}
    if setting.name != "entrypoint":
        env["APP_MODULE"] = "app:application"
    mine = warp("config", "--json", cwd=tmp_path, env=env)
    theirs = server([], cwd=tmp_path, env=env)
    return (_answer(mine, "warp: error: ", setting.name),
            _answer(theirs, "warp.runtime.server: error: ", setting.name))


def test_every_variable_parses_the_same_in_warp_config_and_the_server(tmp_path):
    assert {s.name for s in SHARED} >= {"timeout", "log_level", "workers", "port", "static"}
    cases = [(s, variable, raw) for s in SHARED for variable in s.env_names for raw in RAWS]
    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = list(pool.map(lambda case: _both(tmp_path, *case), cases))
    differ = [f"{variable}={raw!r}: warp config {mine}, server {theirs}"
              for (setting, variable, raw), (mine, theirs) in zip(cases, answers) if mine != theirs]
    assert differ == []
    # The two cases, accepted by both now, with the same value.
    got = dict(zip([(v, r) for _, v, r in cases], answers))
    assert got[("WARP_TIMEOUT", "2.5")][0] == ("value", 2.5)
    assert got[("WARP_LOG_LEVEL", "critical")][0] == ("value", "critical")
    assert got[("WARP_TIMEOUT", "abc")][0][0] == "error"


# -- (c) one worker count, from both entry points --------------------------------------------

def _worker_counts(built: Path, preexec=None) -> Tuple[int, str, int, str]:
    env = warp_env()
    start = subprocess.run([sys.executable, "-m", "warp.cli", "start", "--print", "--json"], cwd=built, env=env,
                           capture_output=True, text=True, timeout=120, preexec_fn=preexec)
    assert start.returncode == 0, start.stderr
    plan = json.loads(start.stdout)
    why = next(fact["value"] for fact in plan["facts"] if fact["label"] == "workers")
    served = subprocess.run([sys.executable, "-m", "warp.runtime.server", "--print-config", "app:application"],
                            cwd=built, env=env, capture_output=True, text=True, timeout=60, preexec_fn=preexec)
    assert served.returncode == 0, served.stderr
    dump = json.loads(served.stdout)
    return plan["settings"]["workers"], why, dump["settings"]["workers"], dump["workers_why"]


def test_warp_start_and_the_server_pick_the_same_worker_count(built):
    start_count, start_why, server_count, server_why = _worker_counts(built)
    assert start_count == server_count
    assert start_why == f"{start_count} ({server_why})"
    assert "CPU" in server_why and "MiB" in server_why


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs CPU affinity")
def test_one_cpu_of_affinity_gives_both_the_same_smaller_count(built):
    cpu = min(os.sched_getaffinity(0))
    start_count, _, server_count, server_why = _worker_counts(built, preexec=lambda: os.sched_setaffinity(0, {cpu}))
    assert start_count == server_count <= 3
    assert "2 x 1 CPUs + 1" in server_why



@pytest.mark.docker
def test_a_real_cgroup_limit_decides_the_count_in_a_container():
    """1.5 CPUs and 768 MiB: min(2 x 2 + 1, 768 / 256) = 3, from the cgroup, for the server
    and for the function `warp start` calls, whatever the host has."""
    client = engine_or_skip()
    image = base_image_or_skip(client)

    def run(*command: str) -> str:
        out = client.containers.run(image, list(command), remove=True, nano_cpus=1_500_000_000, mem_limit="768m",
                                    environment={"PYTHONPATH": "/warp-src"},
                                    volumes={str(SRC): {"bind": "/warp-src", "mode": "ro"}})
        return out.decode()

    dump = json.loads(run("python3", "-m", "warp.runtime.server", "--print-config", "app:application"))
    count, why = json.loads(run("python3", "-c", "import json; from warp.runtime.workers import default_workers; "
                                                 "print(json.dumps(default_workers()))"))
    assert dump["settings"]["workers"] == count == 3
    assert dump["workers_why"] == why
    assert "cgroup CPU quota" in why and "cgroup memory limit" in why
