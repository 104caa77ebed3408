"""The static-file map every server serves: the ``static`` setting plus Django's STATIC_URL -> STATIC_ROOT.

Django's values are learnt without importing the app into warp's process: from
the build record when ``warp build`` stored them (``django.static_url`` /
``django.static_root`` in ``.warp/build.json``), else by running the app's own
interpreter on a tiny script that loads the settings module and prints JSON.
A settings module without STATIC_ROOT gets the folder ``warp build``'s
collectstatic uses by default, ``staticfiles`` in the app folder.
"""

from pathlib import Path
from typing import Dict, List, Mapping, Optional, Tuple, Union
import json
import re
import subprocess

from warp.app.django import DEFAULT_STATIC_ROOT, find_settings
from warp.core.project import Project

_PROBE = r"""
import json, os, sys
sys.path.insert(0, os.getcwd())
os.environ.setdefault("DJANGO_SETTINGS_MODULE", sys.argv[1])
from django.conf import settings
root = getattr(settings, "STATIC_ROOT", None)
print(json.dumps({"static_url": getattr(settings, "STATIC_URL", None), "static_root": str(root) if root else None}))
"""


def _from_build_record(record_path):
    try:
        record = json.loads(Path(record_path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict):
        return None
    # warp build's django buildpack reports what collectstatic used.
    for pack in record.get("buildpacks") or []:
        result = pack.get("result") if isinstance(pack, dict) else None
        if isinstance(result, dict) and result.get("static_url") and result.get("collectstatic") == "ran":
            return {"static_url": result["static_url"], "static_root": result.get("static_root")}
    return None


def probe_django(python: Union[str, Path], root: Path, settings_module: str, environ: Mapping[str, str],
                 timeout: float = 60) -> Optional[Dict[str, Optional[str]]]:
    """{static_url, static_root} read by the app's interpreter; None when it cannot tell."""
    try:
        result = subprocess.run(
            [str(python), "-c", _PROBE, settings_module],
            cwd=str(root), env=environ, capture_output=True, text=True, timeout=timeout,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if result.returncode != 0:
        return None
    lines = result.stdout.strip().splitlines()
    try:
        return json.loads(lines[-1]) if lines else None
    except ValueError:
        return None


def django_static(project: Project, python: Union[str, Path],
                  environ: Mapping[str, str]) -> Tuple[Optional[Tuple[str, str]], Optional[str]]:
    """((url prefix, folder), why) for a Django app, or (None, why)."""
    home = project.app_dir
    if not (home / "manage.py").is_file():
        return None, None
    settings_module = find_settings(home, environ).module
    if not settings_module:
        return None, None
    values = _from_build_record(project.build_record)
    source = "build record"
    if values is None:
        values = probe_django(python, home, settings_module, environ)
        source = f"{settings_module}"
    if not values:
        return None, f"Django settings {settings_module} could not be read (run warp build)"
    url = values.get("static_url") or ""
    if re.match(r"^[a-z][a-z0-9+.-]*://", url, re.I) or url.startswith("//"):
        return None, f"STATIC_URL {url} is on another host"
    if not url:
        return None, "STATIC_URL is not set"
    prefix = "/" + url.strip("/") + "/"
    folder = values.get("static_root")
    why = f"Django STATIC_URL/STATIC_ROOT from {source}"
    if not folder:
        folder = str(home / DEFAULT_STATIC_ROOT)
        why = f"Django STATIC_URL from {source}, STATIC_ROOT unset so warp build's default {DEFAULT_STATIC_ROOT}/"
    return (prefix, str(Path(home, folder).resolve())), why


def static_map(project: Project, python: Union[str, Path],
               environ: Mapping[str, str]) -> Tuple[Tuple[Tuple[str, str], ...], List[str]]:
    """(((prefix, folder), ...), [why, ...]): the ``static`` setting first, then Django's."""
    entries: Dict[str, str] = {}
    reasons: List[str] = []
    for prefix, folder in (project.config.static or {}).items():
        entries[prefix] = str((project.root / folder).resolve())
    if entries:
        reasons.append(f"static setting from {project.config.source('static')}")
    django, why = django_static(project, python, environ)
    if django and django[0] not in entries:
        entries[django[0]] = django[1]
    if why:
        reasons.append(why)
    return tuple(sorted(entries.items())), reasons
