"""`warp build` on an app with many source files: the no-op check, and a source-only change.

The issue's targets: a no-op `warp build` on an app with 5,000 source files
stays under 1 s (wall time of the whole process, Python start-up included),
and a source-only change re-runs the app steps (here a `build` hook that
bundles the sources) without installing anything.

    python benchmarks/build_fingerprint.py [--files 5000] [--rounds 10] [--json]

The app: 5,000 small .py/.txt files in 50 folders, an empty requirements.txt,
a bin/post_compile hook. It lives in a temporary folder removed afterwards.
"""

from pathlib import Path
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = Path(__file__).resolve().parents[1]
HOOK = "#!/bin/sh\nset -e\nmkdir -p static\ncat pkg1/*.txt > static/bundle.txt\n"


def make_app(root: Path, files: int) -> None:
    (root / "requirements.txt").write_text("# nothing to install\n")
    (root / "wsgi.py").write_text("def application(environ, start_response):\n    start_response('200 OK', [])\n    return [b'hi']\n")
    (root / "bin").mkdir()
    (root / "bin" / "post_compile").write_text(HOOK)
    (root / "bin" / "post_compile").chmod(0o755)
    for i in range(files):
        folder = root / f"pkg{i % 50}"
        folder.mkdir(exist_ok=True)
        suffix = ".txt" if i % 2 else ".py"
        (folder / f"m{i}{suffix}").write_text(f"value = {i}\n" * 20)


def timed_build(app: Path) -> tuple:
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "warp.cli", "build", "--json"], cwd=app, env=env,
                            capture_output=True, text=True)
    seconds = time.monotonic() - started
    if result.returncode != 0:
        raise SystemExit(f"warp build failed:\n{result.stderr}")
    return seconds, json.loads(result.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="warp-bench-fingerprint-"))
    try:
        app = folder / "app"
        app.mkdir()
        make_app(app, args.files)
        first, record = timed_build(app)
        assert record["steps"] == "all", record
        # The first no-op hashes what the full build's cache could not yet trust (files written
        # seconds before it); later ones read metadata only. Both kinds are reported.
        noops = []
        for _ in range(args.rounds):
            seconds, record = timed_build(app)
            assert record["noop"] is True, record
            noops.append(seconds)
        changes = []
        for round_ in range(args.rounds):
            (app / "pkg1" / "m1.txt").write_text(f"changed {round_}\n")
            seconds, record = timed_build(app)
            assert record["steps"] == "app" and record["buildpacks"] == [], record
            assert record["changes"] == {"added": {}, "removed": [], "upgraded": {}}, record
            assert (app / "static" / "bundle.txt").read_text().startswith(f"changed {round_}\n")
            changes.append(seconds)
        figures = {
            "source_files": record["tree"]["files"],
            "first_build_s": round(first, 2),
            "noop_median_s": round(statistics.median(noops), 3),
            "noop_slowest_s": round(max(noops), 3),
            "source_change_median_s": round(statistics.median(changes), 3),
            "source_change_slowest_s": round(max(changes), 3),
            "rounds": args.rounds,
        }
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        for name, value in figures.items():
            print(f"{name:26} {value}")


if __name__ == "__main__":
    main()
