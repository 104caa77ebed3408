"""Cold `warp build` time of small apps with pip and with uv as the installer.

Cold means nothing to reuse: a new app folder (so a new environment) and
empty pip and uv caches (PIP_CACHE_DIR / UV_CACHE_DIR point at fresh folders),
so every wheel is fetched from the index as this machine reaches it. The
figures are the whole `warp build` (environment, install, hooks, record) and,
from the build record, the dependency buildpack's own seconds.

    python benchmarks/install_speed.py [--runs 3] [--apps flask,django] [--json]

Runs alternate between installers so the network's mood is shared; the
median of the runs is shown.
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

APPS = {
    "flask": {
        "requirements.txt": "Flask==3.0.3\n",
        "app.py": "from flask import Flask\napp = Flask(__name__)\n\n@app.route('/')\ndef index():\n    return 'hi'\n",
    },
    "django": {
        "requirements.txt": "Django==5.2.8\n",
        "manage.py": "import os, sys\nos.environ.setdefault('DJANGO_SETTINGS_MODULE', 'site_settings')\n"
                     "from django.core.management import execute_from_command_line\nexecute_from_command_line(sys.argv)\n",
        "site_settings.py": "SECRET_KEY = 'bench'\nINSTALLED_APPS = ['django.contrib.staticfiles']\nSTATIC_URL = 'static/'\n"
                            "ROOT_URLCONF = 'site_urls'\nALLOWED_HOSTS = ['*']\n",
        "site_urls.py": "urlpatterns = []\n",
        "wsgi.py": "import os\nos.environ.setdefault('DJANGO_SETTINGS_MODULE', 'site_settings')\n"
                   "from django.core.wsgi import get_wsgi_application\napplication = get_wsgi_application()\n",
    },
}


def cold_build(app, installer, workdir):
    root = workdir / f"{app}-{installer}"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    for name, text in APPS[app].items():
        (root / name).write_text(text)
    caches = workdir / f"cache-{app}-{installer}"
    shutil.rmtree(caches, ignore_errors=True)
    env = {**os.environ, "WARP_INSTALLER": installer, "PIP_CACHE_DIR": str(caches / "pip"),
           "UV_CACHE_DIR": str(caches / "uv"), "PYTHONPATH": str(REPO / "src")}
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "warp.cli", "build"], cwd=root, env=env,
                            capture_output=True, text=True, timeout=900)
    total = time.monotonic() - started
    if result.returncode != 0:
        raise SystemExit(f"warp build of {app} with {installer} failed: {result.stderr.strip().splitlines()[-1:]}")
    record = json.loads((root / ".warp" / "build.json").read_text())
    install = sum(pack.get("seconds", 0) for pack in record.get("buildpacks", [])
                  if isinstance(pack, dict) and pack.get("name") == "requirements")
    shutil.rmtree(root, ignore_errors=True)
    shutil.rmtree(caches, ignore_errors=True)
    return total, install


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--apps", default="flask,django")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    apps = [a for a in args.apps.split(",") if a]
    rows = []
    with tempfile.TemporaryDirectory(prefix="warp-bench-") as tmp:
        workdir = Path(tmp)
        for app in apps:
            times = {"pip": [], "uv": []}
            for run in range(args.runs):
                order = ("pip", "uv") if run % 2 == 0 else ("uv", "pip")
                for installer in order:
                    times[installer].append(cold_build(app, installer, workdir))
            for installer, samples in times.items():
                rows.append({
                    "app": app, "installer": installer, "runs": len(samples),
                    "build_s": round(statistics.median(s[0] for s in samples), 2),
                    "install_s": round(statistics.median(s[1] for s in samples), 2),
                })
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(f"{'app':<8} {'installer':<10} {'cold warp build (s)':>20} {'dependency install (s)':>23} {'runs':>5}")
    for row in rows:
        print(f"{row['app']:<8} {row['installer']:<10} {row['build_s']:>20.2f} {row['install_s']:>23.2f} {row['runs']:>5}")


if __name__ == "__main__":
    main()
