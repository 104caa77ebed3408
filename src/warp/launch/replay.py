"""`warp replay DIR`: send recorded requests again and say where the answers differ.

Recordings come from ``warp start --record DIR`` (``warp.runtime.devtools``): one
JSON file per request, in time order. Each request is sent again, in order, to a
running app; its status, its response headers (less those that differ by nature:
``Date``, cookies, ``Server`` and the ones the user names) and its body (compared
as JSON, less the ignored JSON paths, when both sides are JSON) are compared with
the recording. A difference is a failure: recorded traffic becomes a regression test.

Redacted headers were never recorded, so they are not sent; a truncated body is
compared only as far as it was kept.
"""

from __future__ import annotations

import base64
import http.client
import json
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from warp.core.errors import UsageError

# Headers that differ between two correct answers by nature.
IGNORED_HEADERS = ("date", "set-cookie", "server", "content-length", "transfer-encoding", "connection",
                   "keep-alive", "etag", "last-modified", "expires", "age", "x-request-id")
# Request headers that describe the original connection, not the request.
NOT_RESENT = ("host", "content-length", "connection", "keep-alive", "transfer-encoding")
REDACTION = "[redacted]"


@dataclass
class Outcome:
    name: str
    method: str
    target: str
    differences: List[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences

    def to_dict(self) -> Dict[str, Any]:
        return {"recording": self.name, "method": self.method, "target": self.target, "ok": self.ok,
                "differences": list(self.differences)}


def _body_bytes(body: Dict[str, Any]) -> bytes:
    if "text" in body:
        return body["text"].encode("utf-8")
    return base64.b64decode(body.get("base64", ""))


def recordings(folder: Path) -> List[Tuple[str, Dict[str, Any]]]:
    """(file name, recording) of every recording in ``folder``, oldest first."""
    if not folder.is_dir():
        raise UsageError(f"{folder}: no such folder", "record one with `warp start --record DIR`")
    found = []
    for path in sorted(folder.glob("*.json")):
        try:
            found.append((path.name, json.loads(path.read_text(encoding="utf-8"))))
        except (OSError, ValueError) as exc:
            raise UsageError(f"{path}: not a readable recording ({exc})", "remove it, or record again") from None
    if not found:
        raise UsageError(f"{folder}: no recordings", "record some with `warp start --record DIR`")
    return found


def _drop_path(document: Any, path: str) -> Any:
    """``document`` without the value at dotted ``path`` (``*`` matches every key or index)."""
    head, _, rest = path.partition(".")
    if isinstance(document, dict):
        keys = list(document) if head == "*" else [head]
        for key in keys:
            if key in document:
                if rest:
                    document[key] = _drop_path(document[key], rest)
                else:
                    del document[key]
    elif isinstance(document, list):
        indexes = range(len(document)) if head == "*" else ([int(head)] if head.isdigit() else [])
        for index in sorted(indexes, reverse=True):
            if index < len(document):
                if rest:
                    document[index] = _drop_path(document[index], rest)
                else:
                    del document[index]
    return document


def compare_bodies(recorded: Dict[str, Any], actual: bytes, ignore_json: Sequence[str]) -> Optional[str]:
    """None when the bodies agree (as JSON when both are, as far as the recording kept)."""
    expected = _body_bytes(recorded)
    if recorded.get("truncated"):
        actual = actual[: len(expected)]
    try:
        left, right = json.loads(expected), json.loads(actual)
    except ValueError:
        if expected == actual:
            return None
        return f"body differs: recorded {_preview(expected)}, got {_preview(actual)}"
    for path in ignore_json:
        left, right = _drop_path(left, path), _drop_path(right, path)
    if left == right:
        return None
    return f"JSON body differs: recorded {_preview(json.dumps(left, sort_keys=True).encode())}, " \
           f"got {_preview(json.dumps(right, sort_keys=True).encode())}"


def _preview(data: bytes, limit: int = 120) -> str:
    text = data[:limit].decode("utf-8", "replace")
    return repr(text + ("..." if len(data) > limit else ""))


def replay(folder: Path, against: str, ignore_headers: Sequence[str] = (), ignore_json: Sequence[str] = (),
           timeout: float = 30.0) -> List[Outcome]:
    """Send every recording in ``folder`` to ``against`` (http://HOST:PORT) and compare."""
    url = urllib.parse.urlsplit(against)
    if url.scheme not in ("http", "") or not url.hostname:
        raise UsageError(f"--against {against}: expected http://HOST:PORT", "e.g. --against http://127.0.0.1:8080")
    ignored = set(IGNORED_HEADERS) | {name.lower() for name in ignore_headers}
    outcomes = []
    for name, record in recordings(folder):
        request, response = record["request"], record.get("response")
        target = request["path"] + (f"?{request['query']}" if request.get("query") else "")
        outcome = Outcome(name, request["method"], target)
        outcomes.append(outcome)
        headers = {key: value for key, value in request.get("headers", [])
                   if key.lower() not in NOT_RESENT and value != REDACTION}
        connection = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=timeout)
        try:
            connection.request(request["method"], url.path.rstrip("/") + target,
                               body=_body_bytes(request.get("body", {})) or None, headers=headers)
            answer = connection.getresponse()
            body = answer.read()
        except (OSError, http.client.HTTPException) as exc:
            outcome.differences.append(f"no answer: {exc}")
            continue
        finally:
            connection.close()
        if response is None:
            outcome.differences.append(f"the recording has no response (the app raised: {record.get('exception')}); "
                                       f"got {answer.status}")
            continue
        if answer.status != response["status"]:
            outcome.differences.append(f"status: recorded {response['status']}, got {answer.status}")
        recorded_headers = {key.lower(): value for key, value in response.get("headers", [])
                            if key.lower() not in ignored and value != REDACTION}
        got_headers = {key.lower(): value for key, value in answer.getheaders() if key.lower() not in ignored}
        for key in sorted(set(recorded_headers) | set(got_headers)):
            if recorded_headers.get(key) != got_headers.get(key):
                outcome.differences.append(
                    f"header {key}: recorded {recorded_headers.get(key)!r}, got {got_headers.get(key)!r}")
        difference = compare_bodies(response.get("body", {}), body, ignore_json)
        if difference:
            outcome.differences.append(difference)
    return outcomes
