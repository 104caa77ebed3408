"""Static files served by the worker without calling the application.

A static map is a list of ``PREFIX=FOLDER`` entries (``/static/=/app/staticfiles``);
Django's STATIC_URL/STATIC_ROOT become one such entry through the launcher.  Requests
under a prefix get the file with Content-Type, ETag/Last-Modified (304 on a match),
single byte ranges (206/416), a precompressed ``.br``/``.gz`` sibling when the client
accepts it, and the bytes go out with `os.sendfile`.  A path can never leave its folder:
``..`` and ``.`` segments, NUL and backslashes are refused, and the resolved real path
(symlinks followed) must still be inside the folder.
"""

from __future__ import annotations

import logging
import mimetypes
import os
import stat
from email.utils import parsedate_to_datetime
from typing import Iterable, Mapping, Optional, Tuple, Union
from urllib.parse import unquote_to_bytes

from warp.core.settings import ConfigError
from warp.runtime.server.http import Request
from warp.runtime.server.wsgi import Client, date_header, http_date

log = logging.getLogger("warp.runtime.server")

# Types that the platform's mime tables get wrong or lack (slim images have no
# /etc/mime.types), for the files a web app's static folder typically holds.
_TYPES = {
    ".js": "text/javascript", ".mjs": "text/javascript", ".css": "text/css",
    ".html": "text/html", ".htm": "text/html", ".txt": "text/plain", ".json": "application/json",
    ".map": "application/json", ".xml": "application/xml", ".svg": "image/svg+xml",
    ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
    ".webp": "image/webp", ".avif": "image/avif", ".ico": "image/vnd.microsoft.icon",
    ".woff": "font/woff", ".woff2": "font/woff2", ".ttf": "font/ttf", ".otf": "font/otf",
    ".wasm": "application/wasm", ".pdf": "application/pdf", ".webmanifest": "application/manifest+json",
}
_CHARSET_TYPES = ("text/", "application/json", "application/xml", "application/manifest+json",
                  "image/svg+xml")
# Precompressed siblings in order of preference: (Accept-Encoding coding, file suffix).
_ENCODINGS = (("br", ".br"), ("gzip", ".gz"))


class StaticConfigError(ConfigError):
    """A static map entry that cannot be used (given to StaticFiles directly, not
    through the static setting, whose parser refuses it first)."""


def content_type(name: str) -> str:
    ext = os.path.splitext(name)[1].lower()
    ctype = _TYPES.get(ext) or mimetypes.guess_type(name)[0] or "application/octet-stream"
    if ctype.startswith(_CHARSET_TYPES):
        ctype += "; charset=utf-8"
    return ctype


def accepted_codings(header: str | None) -> set:
    """Codings with q > 0 in an Accept-Encoding value (RFC 9110 12.5.3)."""
    accepted: set[str] = set()
    if not header:
        return accepted
    for item in header.split(","):
        coding, _, params = item.partition(";")
        coding = coding.strip().lower()
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q > 0:
            accepted.add(coding)
    if "*" in accepted:
        accepted.update(c for c, _ in _ENCODINGS)
    return accepted


def parse_range(header: str, size: int) -> Union[Tuple[int, int], str, None]:
    """One byte range from a Range header as (first, last), "unsatisfiable", or None
    when the header is to be ignored (other unit, several ranges, bad syntax)."""
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    if not dash:
        return None
    first, last = first.strip(), last.strip()
    if (first and not first.isdigit()) or (last and not last.isdigit()) or not (first or last):
        return None
    if not first:  # suffix range: the last N bytes
        length = int(last)
        if length == 0 or size == 0:
            return "unsatisfiable"
        return max(0, size - length), size - 1
    start = int(first)
    end = int(last) if last else size - 1
    if last and end < start:
        return None  # invalid range-spec: ignored
    if start >= size:
        return "unsatisfiable"
    return start, min(end, size - 1)


def _etag_matches(header: str, etag: str) -> bool:
    """If-None-Match comparison (weak, RFC 9110 13.1.2)."""
    if header.strip() == "*":
        return True
    bare = etag[2:] if etag.startswith("W/") else etag
    for candidate in header.split(","):
        candidate = candidate.strip()
        if candidate.startswith("W/"):
            candidate = candidate[2:]
        if candidate == bare:
            return True
    return False


def _not_modified_since(header: str, mtime: float) -> bool:
    try:
        when = parsedate_to_datetime(header).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return False
    return int(mtime) <= when


class StaticFiles:
    """The static map of one worker."""

    def __init__(self, mounts: Iterable[Tuple[str, str]]) -> None:
        # Longest prefix first, so /static/admin/ wins over /static/.
        self.mounts = sorted(mounts, key=lambda m: len(m[0]), reverse=True)
        self.prefixes = tuple(prefix for prefix, _ in self.mounts)

    @classmethod
    def from_config(cls, entries: Union[Mapping[str, str], Iterable[str]]) -> StaticFiles:
        """From the static setting's {prefix: folder} map, or PREFIX=FOLDER strings."""
        mounts = []
        if isinstance(entries, dict):
            entries = [f"{prefix}={folder}" for prefix, folder in entries.items()]
        for entry in entries:
            prefix, sep, folder = entry.partition("=")
            prefix, folder = prefix.strip(), folder.strip()
            if not sep or not prefix or not folder:
                raise StaticConfigError(
                    f"static entry {entry!r} is not PREFIX=FOLDER (e.g. /static/=staticfiles)")
            if not prefix.startswith("/"):
                prefix = "/" + prefix
            if not prefix.endswith("/"):
                prefix += "/"
            root = os.path.realpath(folder)
            if not os.path.isdir(root):
                # Not fatal: the app still runs and these URLs answer 404 until the folder
                # exists (e.g. collectstatic has not run yet).
                log.warning("static folder %s for %s does not exist (yet): its URLs answer 404",
                            folder, prefix)
            mounts.append((prefix, root))
        return cls(mounts)

    def resolve(self, path: str) -> Optional[Tuple[str, Optional[str]]]:
        """(mount root, real file path) for a raw URL path, or None when it does not
        name a file inside the folder."""
        mount = next(((prefix, root) for prefix, root in self.mounts if path.startswith(prefix)), None)
        if mount is None:
            return None
        prefix, root = mount
        rel = path[len(prefix):]
        if "%" in rel:
            try:
                rel = unquote_to_bytes(rel).decode("utf-8")
            except UnicodeDecodeError:
                return root, None
        if not rel or "\x00" in rel or "\\" in rel:
            return root, None
        parts = rel.split("/")
        if any(part in ("", ".", "..") for part in parts):
            return root, None
        real = os.path.realpath(os.path.join(root, *parts))
        if not real.startswith(root + os.sep):
            return root, None
        return root, real

    def serve(self, conn: Client, req: Request) -> Tuple[int, int, bool]:
        """Answer `req` if it is under a static prefix: (status, bytes sent, keep-alive);
        status 0 means "not mine" and the app gets the request."""
        resolved = self.resolve(req.path)
        if resolved is None:
            return 0, 0, False
        keep_alive = req.keep_alive and not conn.should_close()
        if req.method not in ("GET", "HEAD"):
            return 405, self._plain(conn, req, 405, "Method Not Allowed", keep_alive,
                                    "Allow: GET, HEAD\r\n"), keep_alive
        _, real = resolved
        fd = self._open(real) if real else None
        if real is None or fd is None:
            return 404, self._plain(conn, req, 404, "Not Found", keep_alive), keep_alive
        headers = {}
        for name, value in req.headers:
            lname = name.lower()
            if lname in ("accept-encoding", "if-none-match", "if-modified-since", "range", "if-range"):
                headers[lname] = value
        extra = ""
        coding = None
        variants = [(c, suffix) for c, suffix in _ENCODINGS if os.path.isfile(real + suffix)]
        if variants:
            extra = "Vary: Accept-Encoding\r\n"
            accepted = accepted_codings(headers.get("accept-encoding"))
            for c, suffix in variants:
                variant_fd = self._open(real + suffix) if c in accepted else None
                if variant_fd is not None:
                    os.close(fd)
                    fd, coding = variant_fd, c
                    extra += f"Content-Encoding: {c}\r\n"
                    break
        try:
            return self._send(conn, req, real, fd, coding, headers, extra, keep_alive)
        finally:
            os.close(fd)

    @staticmethod
    def _open(real: str):
        try:
            fd = os.open(real, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except OSError:
            return None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            return None
        return fd

    def _send(self, conn, req, real, fd, coding, headers, extra, keep_alive):
        st = os.fstat(fd)
        size = st.st_size
        # The representation (identity, br, gzip) is part of the tag: RFC 9110 8.8.3.
        etag = '"%x-%x%s"' % (st.st_mtime_ns, size, "-" + coding if coding else "")
        last_modified = http_date(st.st_mtime)
        extra += (f"ETag: {etag}\r\nLast-Modified: {last_modified}\r\n"
                  f"Content-Type: {content_type(real)}\r\nAccept-Ranges: bytes\r\n")
        inm = headers.get("if-none-match")
        ims = headers.get("if-modified-since")
        if (inm is not None and _etag_matches(inm, etag)) or \
                (inm is None and ims is not None and _not_modified_since(ims, st.st_mtime)):
            conn.send(self._head(req, 304, "Not Modified", keep_alive, extra))
            return 304, 0, keep_alive
        status, reason, first, count = 200, "OK", 0, size
        rng = headers.get("range")
        if rng is not None and req.method == "GET" and self._if_range_ok(headers, etag, last_modified):
            parsed = parse_range(rng, size)
            if parsed == "unsatisfiable":
                sent = self._plain(conn, req, 416, "Range Not Satisfiable", keep_alive,
                                   f"Content-Range: bytes */{size}\r\n")
                return 416, sent, keep_alive
            if isinstance(parsed, tuple):
                first, last = parsed
                count = last - first + 1
                status, reason = 206, "Partial Content"
                extra += f"Content-Range: bytes {first}-{last}/{size}\r\n"
        conn.send(self._head(req, status, reason, keep_alive, extra + f"Content-Length: {count}\r\n"))
        if req.method == "HEAD":
            return status, 0, keep_alive
        sent = conn.sendfile(fd, first, count)
        if sent < count:
            return status, sent, False  # the file shrank while being sent: framing is broken
        return status, sent, keep_alive

    @staticmethod
    def _if_range_ok(headers: dict, etag: str, last_modified: str) -> bool:
        """RFC 9110 13.1.5: apply Range only if If-Range (when sent) still matches."""
        if_range = headers.get("if-range")
        if if_range is None:
            return True
        if_range = if_range.strip()
        if if_range.startswith('"') or if_range.startswith("W/"):
            return if_range == etag  # strong comparison
        return if_range == last_modified

    @staticmethod
    def _head(req, status: int, reason: str, keep_alive: bool, extra: str) -> bytes:
        connection = "" if keep_alive and req.version == "HTTP/1.1" else \
            "Connection: keep-alive\r\n" if keep_alive else "Connection: close\r\n"
        return (f"HTTP/1.1 {status} {reason}\r\n{date_header()}{extra}{connection}\r\n").encode("latin-1")

    def _plain(self, conn, req, status: int, reason: str, keep_alive: bool, extra: str = "") -> int:
        body = f"{status} {reason}\n".encode()
        head = self._head(req, status, reason, keep_alive,
                          extra + f"Content-Type: text/plain; charset=utf-8\r\nContent-Length: {len(body)}\r\n")
        conn.send(head if req.method == "HEAD" else head + body)
        return 0 if req.method == "HEAD" else len(body)
