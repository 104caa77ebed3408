import os

import pytest

from warp.runtime.server.config import (AUTO_WORKERS_CAP, ConfigError, _cgroup_v1_quota, _cgroup_v2_quota,
                                default_workers, parse_args, usable_cpus)


def test_flags_beat_environment_which_beats_defaults():
    env = {"WEB_CONCURRENCY": "3", "WARP_TIMEOUT": "12", "PORT": "9000"}
    cfg = parse_args(["app:application", "--workers", "5"], env)
    assert cfg.workers == 5 and cfg.sources["workers"] == "flag"
    assert cfg.timeout == 12.0 and cfg.sources["timeout"] == "env"
    assert cfg.bind == ("0.0.0.0:9000",) and cfg.sources["bind"] == "default"
    assert cfg.max_requests == 0 and cfg.sources["max_requests"] == "default"


def test_port_defaults_to_8080_and_bind_repeats():
    assert parse_args(["app"], {}).bind == ("0.0.0.0:8080",)
    cfg = parse_args(["app", "-b", "127.0.0.1:1", "--bind", "unix:/tmp/x.sock"], {})
    assert cfg.bind == ("127.0.0.1:1", "unix:/tmp/x.sock")
    assert parse_args(["app"], {"WARP_BIND": "[::1]:5, 127.0.0.1:6"}).bind == ("[::1]:5", "127.0.0.1:6")


@pytest.mark.parametrize("argv, env, word", [
    (["app", "--workers", "0"], {}, "--workers"),
    (["app"], {"WEB_CONCURRENCY": "many"}, "WEB_CONCURRENCY"),
    (["app", "--timeout", "-1"], {}, "--timeout"),
    (["app", "--access-log-format", "xml"], {}, "--access-log-format"),
    ([":app"], {}, "module:callable"),
])
def test_bad_values_name_the_setting(argv, env, word):
    with pytest.raises(ConfigError, match=word):
        parse_args(argv, env)


def test_boolean_env(monkeypatch):
    assert parse_args(["app"], {"WARP_PRELOAD": "yes"}).preload is True
    assert parse_args(["app"], {"WARP_PRELOAD": "0"}).preload is False
    assert parse_args(["app", "--preload"], {}).preload is True


def _write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as fh:
        fh.write(text)


def test_cgroup_v2_quota_takes_the_tightest_ancestor(tmp_path):
    _write(str(tmp_path / "proc"), "0::/a/b\n")
    _write(str(tmp_path / "cg/a/b/cpu.max"), "max 100000\n")
    _write(str(tmp_path / "cg/a/cpu.max"), "150000 100000\n")
    _write(str(tmp_path / "cg/cpu.max"), "max 100000\n")
    assert _cgroup_v2_quota(str(tmp_path / "cg"), str(tmp_path / "proc")) == 1.5
    # 1.5 CPUs round up to 2: workers = 2 * 2 + 1
    assert usable_cpus(str(tmp_path / "cg"), str(tmp_path / "proc")) <= 2


def test_cgroup_v2_unlimited_and_v1(tmp_path):
    _write(str(tmp_path / "proc"), "0::/\n")
    _write(str(tmp_path / "cg/cpu.max"), "max 100000\n")
    assert _cgroup_v2_quota(str(tmp_path / "cg"), str(tmp_path / "proc")) is None
    _write(str(tmp_path / "v1/cpu,cpuacct/cpu.cfs_quota_us"), "50000\n")
    _write(str(tmp_path / "v1/cpu,cpuacct/cpu.cfs_period_us"), "100000\n")
    assert _cgroup_v1_quota(str(tmp_path / "v1")) == 0.5
    _write(str(tmp_path / "v1u/cpu/cpu.cfs_quota_us"), "-1\n")
    _write(str(tmp_path / "v1u/cpu/cpu.cfs_period_us"), "100000\n")
    assert _cgroup_v1_quota(str(tmp_path / "v1u")) is None


def test_default_workers_formula_and_cap():
    assert default_workers(1, memory=None) == 3
    assert default_workers(2, memory=None) == 5
    assert default_workers(64, memory=None) == AUTO_WORKERS_CAP
    # memory-bound containers: one worker per 256 MiB, at least one
    assert default_workers(4, memory=512 * 1024 * 1024) == 2
    assert default_workers(4, memory=100 * 1024 * 1024) == 1


def test_memory_limit_from_cgroup_v2_and_v1(tmp_path):
    from warp.runtime.server.config import memory_limit
    _write(str(tmp_path / "proc"), "0::/pod/app\n")
    _write(str(tmp_path / "cg/pod/app/memory.max"), "max\n")
    _write(str(tmp_path / "cg/pod/memory.max"), "1073741824\n")
    assert memory_limit(str(tmp_path / "cg"), str(tmp_path / "proc")) == 1073741824
    _write(str(tmp_path / "v1/memory/memory.limit_in_bytes"), "9223372036854771712\n")
    assert memory_limit(str(tmp_path / "v1"), str(tmp_path / "none")) is None


def test_default_workers_respects_affinity():
    cpus = len(os.sched_getaffinity(0))
    assert usable_cpus() <= cpus


def test_every_setting_has_a_flag_an_env_variable_and_docs():
    from warp.runtime.server.config import settings, settings_markdown
    table = settings_markdown()
    for f in settings():
        if f.name == "app":
            continue
        meta = f.metadata
        assert meta["flags"][-1].startswith("--") and meta["help"]
        assert meta["env"], f.name
        assert f"`{meta['flags'][-1]}`" in table and f"`{meta['env']}`" in table
