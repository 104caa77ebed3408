"""The one worker-count rule (warp.runtime.workers), fed fake cgroup and proc files."""

import os

from warp.runtime.workers import Resources, cgroup_cpu_limit, cgroup_memory_limit, default_workers, resources


def test_default_workers_is_lower_of_cpu_and_memory_bounds():
    assert default_workers(Resources(cpus=2, memory_mib=24000, cpus_from="x", memory_from="y"))[0] == 5
    assert default_workers(Resources(cpus=8, memory_mib=512, cpus_from="x", memory_from="y"))[0] == 2
    assert default_workers(Resources(cpus=1, memory_mib=100, cpus_from="x", memory_from="y"))[0] == 1
    count, why = default_workers(Resources(cpus=4, memory_mib=1024, cpus_from="cgroup CPU quota", memory_from="cgroup memory limit"))
    assert count == 4 and "cgroup CPU quota" in why and "WEB_CONCURRENCY" in why


def fake_cgroup_v2(tmp_path, cpu_max, memory_max, nested="app.slice/web"):
    root = tmp_path / "cgroup"
    leaf = root / nested
    leaf.mkdir(parents=True)
    (root / "cpu.max").write_text("max 100000\n")
    (leaf / "cpu.max").write_text(cpu_max + "\n")
    (leaf / "memory.max").write_text(memory_max + "\n")
    proc = tmp_path / "proc-cgroup"
    proc.write_text(f"0::/{nested}\n")
    return root, proc


def test_cgroup_v2_limits_are_read_along_the_process_path(tmp_path):
    root, proc = fake_cgroup_v2(tmp_path, "150000 100000", str(512 * 1024 * 1024))
    assert cgroup_cpu_limit(str(root), str(proc)) == 1.5
    assert cgroup_memory_limit(str(root), str(proc)) == 512 * 1024 * 1024
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       262144000 kB\n")
    res = resources(str(root), str(proc), str(meminfo))
    assert (res.cpus, res.memory_mib, res.memory_from) == (min(2, len(os.sched_getaffinity(0))), 512, "cgroup memory limit")
    assert default_workers(res)[0] == 2


def test_unlimited_cgroup_falls_back_to_host_figures(tmp_path):
    root, proc = fake_cgroup_v2(tmp_path, "max 100000", "max")
    assert cgroup_cpu_limit(str(root), str(proc)) is None
    assert cgroup_memory_limit(str(root), str(proc)) is None


def test_cgroup_v1_limits(tmp_path):
    root = tmp_path / "cgroup"
    (root / "cpu").mkdir(parents=True)
    (root / "cpu" / "cpu.cfs_quota_us").write_text("200000\n")
    (root / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    (root / "memory").mkdir()
    (root / "memory" / "memory.limit_in_bytes").write_text(str(1024 * 1024 * 1024) + "\n")
    proc = tmp_path / "proc-cgroup"
    proc.write_text("4:memory:/\n1:cpu,cpuacct:/\n")
    assert cgroup_cpu_limit(str(root), str(proc)) == 2
    assert cgroup_memory_limit(str(root), str(proc)) == 1024 * 1024 * 1024




def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_cgroup_v2_quota_takes_the_tightest_ancestor(tmp_path):
    _write(tmp_path / "proc", "0::/a/b\n")
    _write(tmp_path / "cg/a/b/cpu.max", "max 100000\n")
    _write(tmp_path / "cg/a/cpu.max", "150000 100000\n")
    _write(tmp_path / "cg/cpu.max", "max 100000\n")
    assert cgroup_cpu_limit(str(tmp_path / "cg"), str(tmp_path / "proc")) == 1.5


def test_cgroup_v1_unlimited_quota_and_memory_are_no_limit(tmp_path):
    _write(tmp_path / "cg/cpu/cpu.cfs_quota_us", "-1\n")
    _write(tmp_path / "cg/cpu/cpu.cfs_period_us", "100000\n")
    _write(tmp_path / "cg/memory/memory.limit_in_bytes", "9223372036854771712\n")
    _write(tmp_path / "proc", "4:memory:/\n1:cpu,cpuacct:/\n")
    assert cgroup_cpu_limit(str(tmp_path / "cg"), str(tmp_path / "proc")) is None
    assert cgroup_memory_limit(str(tmp_path / "cg"), str(tmp_path / "proc")) is None


def test_memory_limit_takes_the_tightest_ancestor(tmp_path):
    _write(tmp_path / "proc", "0::/pod/app\n")
    _write(tmp_path / "cg/pod/app/memory.max", "max\n")
    _write(tmp_path / "cg/pod/memory.max", "1073741824\n")
    assert cgroup_memory_limit(str(tmp_path / "cg"), str(tmp_path / "proc")) == 1073741824


def test_no_cgroup_and_no_meminfo_still_gives_a_count(tmp_path):
    res = resources(str(tmp_path / "none"), str(tmp_path / "none"), str(tmp_path / "none"))
    assert res.cpus <= len(os.sched_getaffinity(0)) and res.memory_from == "assumed"
    count, why = default_workers(res)
    assert count >= 1 and "assumed" in why


def test_sixteen_cpus_and_64_gib_give_33_workers():
    """The machine of the issue: one rule now, so both entry points say 33 there."""
    count, why = default_workers(Resources(cpus=16, memory_mib=64 * 1024, cpus_from="CPU affinity", memory_from="MemTotal"))
    assert count == 33 and why.startswith("min(2 x 16 CPUs + 1, 65536 MiB / 256)")
