"""How long `warp image` takes for a Flask app: cold, and after a source-only change.

The figure the issue asks for is the source-only rebuild (target: under 15 s):
editing application code must reuse the dependency layer, so only the source
copy, `warp build` (installing from the wheels already made) and the final
stage's copies run again.

    python benchmarks/image_rebuild.py [--base-image warp-test-base:bookworm] [--rebuilds 3] [--json]

Needs a running Docker engine and the base image (tests/images/debian-base.sh
makes the local Debian one). The cold build uses no layer cache at all; the
base image itself is not timed. The app is a copy of examples/hello.
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

from warp.image.build import build_image, connect, drain  # noqa: E402


def timed_build(app, name, base_image, no_cache=False):
    started = time.monotonic()
    cached_steps = []
    result = drain(build_image(app, name, base_image=base_image, no_cache=no_cache),
                   lambda line: cached_steps.append(line) if "Using cache" in line else None)
    return time.monotonic() - started, result, len(cached_steps)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-image", default="warp-test-base:bookworm")
    parser.add_argument("--rebuilds", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    name = f"warp-bench-rebuild-{uuid.uuid4().hex[:8]}"
    client = connect()
    with tempfile.TemporaryDirectory() as tmp:
        app = Path(tmp) / "hello"
        shutil.copytree(REPO / "examples/hello", app, ignore=shutil.ignore_patterns(".warp", "__pycache__"))
        try:
            cold, result, _ = timed_build(app, name, args.base_image, no_cache=True)
            rebuilds = []
            for i in range(args.rebuilds):
                source = app / "app.py"
                source.write_text(source.read_text() + f"\n# edit {i}\n")
                seconds, result, cached = timed_build(app, name, args.base_image)
                rebuilds.append((seconds, cached, result.timings.get("assemble", 0)))
        finally:
            # The image, then the builder image warp keeps as its layer cache.
            builders = client.images.list(filters={"label": f"warp.image.builder-for={name}:latest"})
            for image in [name] + [b.id for b in builders]:
                try:
                    client.images.remove(image, force=True)
                except Exception:
                    pass
    figures = {
        "app": "examples/hello (Flask)",
        "base_image": args.base_image,
        "cold_seconds": round(cold, 1),
        "source_only_rebuild_seconds": [round(s, 1) for s, _, _ in rebuilds],
        "source_only_rebuild_median_seconds": round(statistics.median(s for s, _, _ in rebuilds), 1),
        # Of which: the reproducible re-assembly (export, one normalised layer, load).
        "assemble_seconds": [round(a, 1) for _, _, a in rebuilds],
        "cached_steps_per_rebuild": [c for _, c, _ in rebuilds],
        "image_size_mb": round(result.size / 1e6, 1),
        "cpus": os.cpu_count(),
        "load_average_at_end": round(os.getloadavg()[0], 1),
    }
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        for key, value in figures.items():
            print(f"{key:40} {value}")


if __name__ == "__main__":
    main()
