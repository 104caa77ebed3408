"""A PYTHONPATH folder that exposes warp's package, and nothing else, to the app's interpreter.

The bundled server (``warp.runtime.server``) and the small adapters in ``warp.runtime.shim``
run inside the application's own virtualenv, where warp is not installed and
must not be (the app may pin its own click, pyyaml...). Putting warp's
site-packages on PYTHONPATH would leak every dependency of warp; instead the
folder holds one entry, a ``warp`` symlink to warp's package directory.

The folder lives in the app's ``.warp/run/`` when that is writable, else (a
read-only app folder in a container image) in a private per-user folder under
the system temporary directory. It is rebuilt atomically (symlink + rename), so
two starts at once never see it half-made.
"""

from pathlib import Path
import hashlib
import os
import tempfile

import warp

from warp.core.errors import StartError
from warp.core.project import Project

PACKAGE_DIR = Path(warp.__file__).resolve().parent


def _writable(folder):
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(folder, os.W_OK | os.X_OK)


def _link(folder, target):
    link = folder / "warp"
    if link.is_symlink() and Path(os.readlink(link)) == target:
        return True
    temporary = folder / f".warp-{os.getpid()}"
    try:
        if temporary.is_symlink() or temporary.exists():
            temporary.unlink()
        temporary.symlink_to(target, target_is_directory=True)
        os.replace(temporary, link)
    except OSError:
        return False
    return True


def warp_pythonpath(run_dir: Path, package_dir: Path = PACKAGE_DIR) -> Path:
    """The folder to put first on PYTHONPATH; created or refreshed here."""
    candidates = [Path(run_dir) / "pythonpath"]
    tag = hashlib.sha256(str(package_dir).encode()).hexdigest()[:12]
    candidates.append(Path(tempfile.gettempdir()) / f"warp-{os.getuid()}-pythonpath-{tag}")
    for folder in candidates:
        if _writable(folder) and _link(folder, package_dir):
            try:
                # Only the `warp` entry: anything else there would leak into the app.
                for extra in folder.iterdir():
                    if extra.name != "warp" and not extra.name.startswith(".warp-"):
                        extra.unlink()
            except OSError:
                pass
            if folder.parent == Path(tempfile.gettempdir()):
                os.chmod(folder, 0o700)
            return folder
    raise StartError(
        f"cannot make a folder for warp's server package in {candidates[0]} or {candidates[1]}",
        "make .warp/run in the app folder or the temporary directory writable",
    )


def run_dir_for(project: Project) -> Path:
    """The app's .warp/run when writable, else a private folder under the temporary directory."""
    run_dir = Path(project.run_dir)
    if _writable(run_dir):
        return run_dir
    tag = hashlib.sha256(str(project.root).encode()).hexdigest()[:12]
    fallback = Path(tempfile.gettempdir()) / f"warp-{os.getuid()}-run-{tag}"
    fallback.mkdir(mode=0o700, parents=True, exist_ok=True)
    return fallback
