"""What `warp start --reload`'s watcher costs while nothing changes, and how fast it sees an edit.

    python benchmarks/reload_watcher.py [--files 5000] [--idle 20] [--edits 5]

Makes a source tree of --files Python files (100 per folder), runs the watcher in a
child process for --idle seconds with nothing changing and reads the child's CPU
time from /proc, then edits a file --edits times and measures how long each edit
takes to reach the watcher's callback. Both mechanisms: inotify (the default on
Linux) and polling (the fallback). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import os, sys, time
from pathlib import Path
from warp.launch.reloader import Watcher
root, mechanism = Path(sys.argv[1]), sys.argv[2]
def changed(paths):
    print("changed", time.time(), flush=True)
watcher = Watcher(root, changed, lambda line: None, use_inotify=(mechanism == "inotify"))
assert watcher.mechanism == mechanism, watcher.mechanism
watcher.start()
print("ready", flush=True)
for line in sys.stdin:
    if line.strip() == "cpu":
        fields = open(f"/proc/{os.getpid()}/stat").read().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        print("cpu", (int(fields[11]) + int(fields[12])) / ticks, flush=True)
"""


def make_tree(root: Path, files: int) -> None:
    for index in range(files):
        folder = root / f"pkg{index // 100}"
        folder.mkdir(exist_ok=True)
        (folder / f"module{index % 100}.py").write_text(f"VALUE = {index}\n")


def measure(root: Path, mechanism: str, idle: float, edits: int) -> dict:
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1] / "src"))
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(root), mechanism], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True, env=env)
    assert child.stdin is not None and child.stdout is not None
    try:
        assert child.stdout.readline().strip() == "ready"
        child.stdin.write("cpu\n")
        child.stdin.flush()
        before = float(child.stdout.readline().split()[1])
        time.sleep(idle)
        child.stdin.write("cpu\n")
        child.stdin.flush()
        after = float(child.stdout.readline().split()[1])
        delays = []
        for edit in range(edits):
            target = root / "pkg7" / "module42.py"
            started = time.time()
            target.write_text(f"VALUE = 'edit {edit}'\n")
            line = child.stdout.readline().split()
            assert line[0] == "changed", line
            delays.append(float(line[1]) - started)
            time.sleep(1.2)  # let the watcher settle before the next edit
        return {"cpu": (after - before) / idle * 100, "median": statistics.median(delays), "max": max(delays)}
    finally:
        child.kill()
        child.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--idle", type=float, default=20.0)
    parser.add_argument("--edits", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        make_tree(root, args.files)
        rows = [(mechanism, measure(root, mechanism, args.idle, args.edits)) for mechanism in ("inotify", "polling")]
    print(f"{args.files} source files, {args.idle:g} s idle, {args.edits} edits; "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    print()
    print("| mechanism | idle CPU (% of one core) | edit seen after, median | slowest |")
    print("|---|---|---|---|")
    for mechanism, row in rows:
        print(f"| {mechanism} | {row['cpu']:.2f}% | {row['median'] * 1000:.0f} ms | {row['max'] * 1000:.0f} ms |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
