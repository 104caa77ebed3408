"""What an image says about where it came from: OCI labels and the build's date.

Everything here is read from git, never from the build machine's folders: a
label is public, so it carries neither a local path nor credentials.

* ``org.opencontainers.image.source``: the URL of the remote the current
  branch tracks (else ``origin``, else the only remote), without user name,
  password or token, query or fragment. An ``scp``-style address
  (``git@host:team/app.git``) becomes ``ssh://host/team/app.git``. A remote
  that is a local path or ``file://`` URL gives no label: it names nothing a
  reader elsewhere can open.
* ``org.opencontainers.image.revision``: the commit, with ``-dirty`` when
  files under the app folder differ from it (untracked ones included, since
  they enter the image too).
* ``org.opencontainers.image.created``: the source date epoch, not the time
  of the build, so that two builds of one commit carry the same label.
"""

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
import os
import re
import subprocess
import time
from typing import Optional

import warp

SOURCE = "org.opencontainers.image.source"
REVISION = "org.opencontainers.image.revision"
CREATED = "org.opencontainers.image.created"
TITLE = "org.opencontainers.image.title"
WARP_VERSION = "warp.version"
SBOM = "warp.sbom"

_SCHEME = re.compile(r"^([a-z][a-z0-9+.-]*)://", re.I)
_SCP = re.compile(r"^(?:[^@/:]+@)?([^/:]+):(?!//)(.+)$")


def _git(app_dir, *args) -> Optional[str]:
    try:
        proc = subprocess.run(["git", "-C", str(app_dir), *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    out = proc.stdout.strip()
    return out if proc.returncode == 0 and out else None


def public_url(remote: str) -> Optional[str]:
    """``remote`` as a URL fit for a public label, or None for a local path."""
    remote = remote.strip()
    scheme = _SCHEME.match(remote)
    if scheme:
        if scheme.group(1).lower() == "file":
            return None
        rest = remote[scheme.end():]
        host_part, slash, path = rest.partition("/")
        host_part = host_part.rpartition("@")[2]  # user:password@ or token@
        path = re.split(r"[?#]", path, maxsplit=1)[0]
        return f"{scheme.group(1).lower()}://{host_part}{slash}{path}"
    scp = _SCP.match(remote)
    if scp and not remote.startswith((".", "/", "~")) and "\\" not in remote:
        return f"ssh://{scp.group(1)}/{scp.group(2).lstrip('/')}"
    return None  # a path on this machine (or another one's)


def _remote_name(app_dir) -> Optional[str]:
    branch = _git(app_dir, "symbolic-ref", "--quiet", "--short", "HEAD")
    if branch:
        tracked = _git(app_dir, "config", "--get", f"branch.{branch}.remote")
        if tracked and tracked != ".":
            return tracked
    remotes = (_git(app_dir, "remote") or "").split()
    if "origin" in remotes:
        return "origin"
    return remotes[0] if len(remotes) == 1 else None


@dataclass(frozen=True)
class GitFacts:
    source: Optional[str] = None  # public URL of the remote
    commit: Optional[str] = None
    dirty: bool = False
    commit_time: Optional[int] = None  # seconds since 1970, of the last commit

    @property
    def revision(self) -> Optional[str]:
        if not self.commit:
            return None
        return self.commit + ("-dirty" if self.dirty else "")


def git_facts(app_dir: "str | os.PathLike[str]") -> GitFacts:
    """What git knows about ``app_dir``; empty when it is no work tree (or git is absent)."""
    app_dir = Path(app_dir)
    commit = _git(app_dir, "rev-parse", "--verify", "--quiet", "HEAD")
    remote = _remote_name(app_dir)
    url = _git(app_dir, "remote", "get-url", remote) if remote else None
    if not commit:
        return GitFacts(source=public_url(url) if url else None)
    # Only the app's folder counts: a change elsewhere in the repository does
    # not enter the image. Ignored files do not make it dirty.
    status = _git(app_dir, "status", "--porcelain", "--untracked-files=normal", "--", ".")
    when = _git(app_dir, "log", "-1", "--format=%ct", "HEAD")
    return GitFacts(
        source=public_url(url) if url else None,
        commit=commit,
        dirty=bool(status),
        commit_time=int(when) if when and when.isdigit() else None,
    )


def source_date_epoch(facts: GitFacts, given: Optional[int] = None, now: Optional[float] = None) -> int:
    """The time every timestamp of the image is set to: ``given``, else the
    last commit's, else now (a folder outside git cannot be rebuilt the same)."""
    if given is not None:
        return int(given)
    if facts.commit_time is not None:
        return facts.commit_time
    return int(now if now is not None else time.time())


def iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def oci_labels(facts: GitFacts, reference: str, epoch: int) -> dict:
    """The labels warp sets on an image named ``reference``."""
    labels = {
        CREATED: iso(epoch),
        TITLE: reference.rsplit("/", 1)[-1].split(":", 1)[0],
        WARP_VERSION: warp.__version__,
    }
    if facts.source:
        labels[SOURCE] = facts.source
    if facts.revision:
        labels[REVISION] = facts.revision
    return labels
