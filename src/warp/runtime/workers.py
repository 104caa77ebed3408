"""The default worker count: one rule for ``warp start`` and ``python -m warp.runtime.server``.

When the ``workers`` setting (``WEB_CONCURRENCY``) is unset, the count is the
lower of ``2 x CPUs + 1`` (one worker can wait on I/O while another computes)
and ``memory in MiB / 256`` (each worker holds a whole copy of the app), and at
least 1, as Heroku's Python buildpack computes it. CPUs and memory are what the
process can really use: a container limited by cgroups to 1.5 CPUs and 512 MiB
on a 64-core, 256 GiB host gets min(2*2+1, 2) = 2 workers, not 129.

Standard library only: the bundled server computes it inside the app's interpreter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Iterator, Optional, Tuple
import math
import os

MIB_PER_WORKER = 256
CGROUP_ROOT = "/sys/fs/cgroup"
# cgroup v1 writes "no limit" as a huge page-aligned number; treat anything above this as none.
_UNLIMITED = 1 << 60


@dataclass(frozen=True)
class Resources:
    cpus: int
    memory_mib: int
    cpus_from: str
    memory_from: str


def _read(path: str) -> Optional[str]:
    try:
        with open(path) as handle:
            return handle.read().strip()
    except OSError:
        return None


def _cgroup_paths(proc_cgroup: str) -> Dict[str, str]:
    """{controller: path} from /proc/self/cgroup ('' is the v2 unified hierarchy)."""
    paths: Dict[str, str] = {}
    text = _read(proc_cgroup) or ""
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3:
            for controller in parts[1].split(",") if parts[1] else [""]:
                paths[controller] = parts[2]
    return paths


def _ancestors(root: str, rel: Optional[str]) -> Iterator[str]:
    """The cgroup folder of this process and each parent up to the root (limits nest)."""
    rel = (rel or "/").strip("/")
    while True:
        yield os.path.join(root, rel) if rel else root
        if not rel:
            return
        rel = os.path.dirname(rel)


def cgroup_cpu_limit(root: str = CGROUP_ROOT, proc_cgroup: str = "/proc/self/cgroup") -> Optional[float]:
    """CPUs allowed by the tightest cgroup CPU quota (v2 cpu.max, v1 cfs quota), or None."""
    paths = _cgroup_paths(proc_cgroup)
    best: Optional[float] = None
    for folder in _ancestors(root, paths.get("")):
        text = _read(os.path.join(folder, "cpu.max"))
        if text:
            quota, _, period = text.partition(" ")
            try:
                if quota != "max" and period and float(period) > 0:
                    best = min(best or math.inf, float(quota) / float(period))
            except ValueError:
                continue  # an unreadable limit is no limit
    for sub in ("cpu", "cpu,cpuacct", "cpuacct,cpu"):
        base = os.path.join(root, sub)
        if not os.path.isdir(base):
            continue
        for folder in _ancestors(base, paths.get("cpu")) if paths.get("cpu") else [base]:
            cfs_quota, cfs_period = _read(os.path.join(folder, "cpu.cfs_quota_us")), _read(os.path.join(folder, "cpu.cfs_period_us"))
            if cfs_quota and cfs_period and cfs_quota.lstrip("-").isdigit() and cfs_period.isdigit() \
                    and int(cfs_quota) > 0 and int(cfs_period) > 0:
                best = min(best or math.inf, int(cfs_quota) / int(cfs_period))
        break
    return best


def cgroup_memory_limit(root: str = CGROUP_ROOT, proc_cgroup: str = "/proc/self/cgroup") -> Optional[int]:
    """Bytes allowed by the tightest cgroup memory limit (v2 memory.max, v1 limit_in_bytes), or None."""
    paths = _cgroup_paths(proc_cgroup)
    best: Optional[int] = None
    for folder in _ancestors(root, paths.get("")):
        text = _read(os.path.join(folder, "memory.max"))
        if text and text.isdigit():
            best = min(best or _UNLIMITED, int(text))
    base = os.path.join(root, "memory")
    if os.path.isdir(base):
        folders = list(_ancestors(base, paths.get("memory"))) if paths.get("memory") else [base]
        for folder in folders:
            text = _read(os.path.join(folder, "memory.limit_in_bytes"))
            if text and text.isdigit() and int(text) < _UNLIMITED:
                best = min(best or _UNLIMITED, int(text))
    return best if best is not None and best < _UNLIMITED else None


def _meminfo_total(path: str = "/proc/meminfo") -> Optional[int]:
    for line in (_read(path) or "").splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return None


def resources(root: str = CGROUP_ROOT, proc_cgroup: str = "/proc/self/cgroup", meminfo: str = "/proc/meminfo") -> Resources:
    """The CPUs and memory this process may really use, and where each figure came from."""
    try:
        cpus, cpus_from = float(len(os.sched_getaffinity(0))), "CPU affinity"
    except (AttributeError, OSError):
        cpus, cpus_from = float(os.cpu_count() or 1), "CPU count"
    quota = cgroup_cpu_limit(root, proc_cgroup)
    if quota is not None and quota < cpus:
        cpus, cpus_from = quota, "cgroup CPU quota"
    memory, memory_from = _meminfo_total(meminfo), "MemTotal"
    limit = cgroup_memory_limit(root, proc_cgroup)
    if limit is not None and (memory is None or limit < memory):
        memory, memory_from = limit, "cgroup memory limit"
    if memory is None:
        memory, memory_from = 512 * 1024 * 1024, "assumed"
    return Resources(cpus=max(1, math.ceil(cpus)), memory_mib=memory // (1024 * 1024), cpus_from=cpus_from, memory_from=memory_from)


def default_workers(res: Optional[Resources] = None) -> Tuple[int, str]:
    """(count, why): min(2 x CPUs + 1, MiB / 256), at least 1."""
    res = res or resources()
    by_cpu = 2 * res.cpus + 1
    by_memory = res.memory_mib // MIB_PER_WORKER
    count = max(1, min(by_cpu, by_memory))
    why = (
        f"min(2 x {res.cpus} CPUs + 1, {res.memory_mib} MiB / {MIB_PER_WORKER}) "
        f"from {res.cpus_from} and {res.memory_from}; set WEB_CONCURRENCY to choose"
    )
    return count, why
