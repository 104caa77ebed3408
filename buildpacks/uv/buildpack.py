"""uv.lock: installed exactly as locked by uv running from warp's side (never inside the app environment).

With the uv installer (the default when uv.lock is present) warp runs
``uv sync --locked`` aimed at the app's environment; uv checks every file
against the lock's hashes. With ``installer: pip`` warp has uv export the lock
as a hashed requirements file and installs that with ``pip --require-hashes``.
Either way the lock must match pyproject.toml (``--locked``): a stale lock
stops the build instead of being silently re-resolved.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
import tempfile

import warp.build.installer as installer
from warp.build.buildpacks import BuildContext
import warp.build.buildpacks.lockfile as lockfile
from warp.core.errors import BuildError

LOCK = "uv.lock"


def group_args(config: Any) -> list[str]:
    # Production installs: no default groups (uv's default includes dev),
    # only the groups and extras the user named.
    args = ["--no-default-groups"]
    for group in config.lock_groups:
        args += ["--group", group]
    for extra in config.extras:
        args += ["--extra", extra]
    return args


def venv_of(python: Path) -> Path:
    """The environment folder of an interpreter path such as <venv>/bin/python (links kept)."""
    return Path(python).parent.parent


def _build(ctx: BuildContext) -> dict[str, Any]:
    root = ctx.project.root
    config = ctx.project.config
    if not (root / "pyproject.toml").is_file():
        raise BuildError(f"{root}: uv.lock without pyproject.toml", "commit the pyproject.toml that uv.lock was made from")
    uv = installer.find_uv(ctx.environ)
    env = installer.uv_environ(ctx.python, ctx.environ)
    # uv sync re-resolves when the lock's index is not the one it is told to
    # use, so offline builds (wheelhouse, no index) install the exported
    # hashed requirements instead: same files, same hashes, from local wheels.
    offline = bool(ctx.wheelhouse or ctx.no_index)
    if ctx.installer == "uv" and not offline:
        ctx.say("installing uv.lock with uv sync (hashes checked)")
        env["UV_PROJECT_ENVIRONMENT"] = str(venv_of(ctx.python))
        # --inexact: keep what warp added (pip, the server) instead of
        # removing everything the lock does not name.
        argv = [uv, "sync", "--locked", "--inexact", "--python", str(ctx.python), *group_args(config),
                *installer.source_args(ctx)]
        installer.run(argv, env, root, "uv.lock")
        return {"installed_from": ["uv.lock"], "tool": "uv sync"}
    ctx.say(f"installing uv.lock with {ctx.installer} (exported by uv, hashes required{', local wheels only' if ctx.no_index else ''})")
    with tempfile.TemporaryDirectory(prefix="warp-uv-") as tmp:
        exported = Path(tmp) / "requirements.txt"
        argv = [uv, "export", "--frozen" if offline else "--locked", "--format", "requirements-txt", "--no-header", "--no-emit-project",
                *group_args(config), "-o", str(exported)]
        installer.run(argv, env, root, "uv.lock")
        # Workspace members and path dependencies come out as "-e ./libs/lib" with no hash
        # (there is no single file to hash): they install after the hashed entries, as uv sync does.
        reqs = lockfile.split_exported(exported.read_text(encoding="utf-8"), root)
        lockfile.install(ctx, reqs, "uv.lock")
    return {"installed_from": ["uv.lock"], "tool": f"uv export + {ctx.installer}"}


class Uv(lockfile.TomlLockBuildpack):
    order = 40
    prefers_installer = "uv"  # uv.lock is installed by uv unless the installer setting says pip
    lock = LOCK

    def build(self, ctx: BuildContext) -> dict[str, Any]:
        return _build(ctx)


buildpack = Uv()
