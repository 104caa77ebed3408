"""Push an image to the registry its name names, and learn its digest.

The engine does the push (docker SDK), with the credentials of the Docker
config the user already has (``~/.docker/config.json`` or ``$DOCKER_CONFIG``,
credential helpers included): the SDK reads them and hands them to the
engine in a request header. warp never prints them, never puts them in an
image, and drops the engine's words about them from its messages.

The digest is the registry's manifest digest (``sha256:...``): the one
reference that always pulls this very image, whatever the tag says later.
"""

import re
from typing import Any, Generator, Optional, Tuple

from warp.core.errors import WarpError

_DIGEST = re.compile(r"\bdigest: (sha256:[0-9a-f]{64})\b")
_CREDENTIALS = (
    (re.compile(r"(?i)\b(authorization:\s*\w+\s+)\S+"), r"\1[hidden]"),
    (re.compile(r"(?i)\b(password|passwd|token|secret|auth)=[^\s,;&]+"), r"\1=[hidden]"),
    (re.compile(r"://[^/@\s]+@"), "://"),
)


def registry_of(reference: str) -> Optional[str]:
    """The registry host[:port] a reference names, or None for Docker Hub."""
    first, slash, _ = reference.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        return first
    return None


def split_reference(reference: str) -> Tuple[str, str]:
    """(repository, tag) of ``name[:tag]``."""
    last = reference.rsplit("/", 1)[-1]
    if ":" in last:
        repository, _, tag = reference.rpartition(":")
        return repository, tag
    return reference, "latest"


def _said(message: str) -> str:
    # One line, with anything that looks like a credential cut out.
    text = " ".join(str(message).split())
    for pattern, replacement in _CREDENTIALS:
        text = pattern.sub(replacement, text)
    return text


def push_image(client: Any, reference: str) -> Generator[str, None, str]:
    """Push ``reference``; yields progress lines, returns the digest."""
    import docker

    repository, tag = split_reference(reference)
    where = registry_of(reference) or "Docker Hub"
    hint = (f"log in with `docker login {registry_of(reference) or ''}`".replace("  ", " ").strip()
            + f" and check that {where} answers and lets you push {repository}")
    digest, shown = None, set()
    try:
        for event in client.api.push(repository, tag=tag, stream=True, decode=True):
            if event.get("error"):
                detail = (event.get("errorDetail") or {}).get("message") or event["error"]
                raise WarpError(f"pushing {reference} to {where} failed: {_said(detail)}", hint)
            aux = event.get("aux")
            if isinstance(aux, dict) and str(aux.get("Digest", "")).startswith("sha256:"):
                digest = aux["Digest"]
            status = str(event.get("status") or "")
            match = _DIGEST.search(status)
            if match and not digest:
                digest = match.group(1)
            # One line per layer and state, not the byte counters.
            line = f"{event['id']}: {status}" if event.get("id") else status
            if status and not event.get("progressDetail") and line not in shown:
                shown.add(line)
                yield line
    except docker.errors.APIError as exc:
        raise WarpError(f"pushing {reference} to {where} failed: {_said(exc.explanation or exc)}", hint) from None
    except docker.errors.DockerException as exc:
        raise WarpError(f"pushing {reference} to {where} failed: {_said(exc)}", hint) from None
    if not digest:
        raise WarpError(f"pushing {reference} to {where} gave no digest", "retry; the engine's log may say more")
    return digest
