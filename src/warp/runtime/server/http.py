"""Sans-I/O HTTP/1.1 request-head parser: bytes in, a `Request` or an `HTTPError` out.

Nothing here touches a socket.  `HeadReader.parse(buf)` looks at the bytes received so
far and returns ``(request, consumed)`` when a whole head is there, ``None`` when more
bytes are needed, or raises an `HTTPError` subclass carrying the status to answer with.
Every error closes the connection: after a framing error the next message boundary is
unknown, and guessing it is how request smuggling works.

The reference is RFC 9112 (message syntax and framing) and RFC 9110 (semantics); the
grammar lives in `grammar.py`.
"""

from __future__ import annotations

from warp.runtime.server import grammar


class HTTPError(Exception):
    """A request the server refuses; `status` and `reason` become the response."""

    status = 400
    reason = "Bad Request"

    def __init__(self, detail: str = "") -> None:
        super().__init__(detail or self.reason)
        self.detail = detail or self.reason


class BadRequest(HTTPError):
    status, reason = 400, "Bad Request"


class RequestTimeout(HTTPError):
    status, reason = 408, "Request Timeout"


class ContentTooLarge(HTTPError):
    status, reason = 413, "Content Too Large"


class URITooLong(HTTPError):
    status, reason = 414, "URI Too Long"


class ExpectationFailed(HTTPError):
    status, reason = 417, "Expectation Failed"


class FieldsTooLarge(HTTPError):
    status, reason = 431, "Request Header Fields Too Large"


class NotImplementedByServer(HTTPError):
    status, reason = 501, "Not Implemented"


class VersionNotSupported(HTTPError):
    status, reason = 505, "HTTP Version Not Supported"


# A whole request head (request line and all fields) larger than this gets 431.
MAX_HEAD = 64 * 1024


class Limits:
    """Size limits applied while parsing (0 for `max_body` means unlimited)."""

    __slots__ = ("max_line", "max_fields", "max_field_size", "max_body")

    def __init__(self, max_line: int = 8190, max_fields: int = 100,
                 max_field_size: int = 8190, max_body: int = 0) -> None:
        self.max_line = max_line
        self.max_fields = max_fields
        self.max_field_size = max_field_size
        self.max_body = max_body

    @property
    def max_head(self) -> int:
        """Most bytes a whole head may take.  Each field may be long and there may be
        many fields, but not both: every open connection may hold a head in memory."""
        return max(MAX_HEAD, self.max_line + self.max_field_size + 6)


class Request:
    """One parsed request head.  Strings are latin-1 decodings of the bytes received."""

    __slots__ = ("method", "target", "path", "query", "version", "headers",
                 "host", "content_length", "chunked", "keep_alive", "expect_continue")

    def __init__(self) -> None:
        self.method = ""
        self.target = ""          # request-target exactly as sent
        self.path = ""            # path part, still percent-encoded
        self.query = ""           # query part without the '?', raw
        self.version = "HTTP/1.1"
        self.headers: list[tuple[str, str]] = []  # (name as sent, value), in order
        self.host: str | None = None
        self.content_length = 0   # body length when not chunked
        self.chunked = False
        self.keep_alive = True
        self.expect_continue = False

    @property
    def has_body(self) -> bool:
        return self.chunked or self.content_length > 0

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.target} {self.version}>"


_MAX_LEADING_EMPTY_LINES = 4
_SUPPORTED_SCHEMES = (b"http", b"https")


class HeadReader:
    """Finds and parses request heads; remembers how far it searched so that a client
    sending one byte at a time does not make the server rescan its buffer each time."""

    __slots__ = ("limits", "_searched")

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._searched = 0

    def parse(self, buf: bytes | bytearray) -> tuple[Request, int] | None:
        """Parse the head at the start of `buf` (bytes or bytearray).

        Returns ``(request, consumed)`` or ``None`` if the head is incomplete.
        Raises `HTTPError` for anything invalid or over a limit.
        """
        start = 0
        # RFC 9112 2.2: a server SHOULD ignore at least one empty line before the request-line.
        while buf.startswith(b"\r\n", start):
            start += 2
            if start > 2 * _MAX_LEADING_EMPTY_LINES:
                raise BadRequest("too many empty lines before the request line")
        end = buf.find(b"\r\n\r\n", max(start, self._searched - 3))
        if end < 0:
            self._check_incomplete(buf, start)
            self._searched = len(buf)
            return None
        self._searched = 0
        if end - start > self.limits.max_head:
            raise FieldsTooLarge("request head too large")
        request = parse_head(bytes(buf[start:end]), self.limits)
        return request, end + 4

    def _check_incomplete(self, buf, start: int) -> None:
        """Reject early what can never become a valid head, instead of waiting for a
        timeout: over-long lines and heads, and bare CR or LF (a client that ends its
        lines in LF alone believes its request complete and would wait forever)."""
        size = len(buf) - start
        line_end = buf.find(b"\r\n", start)
        if line_end < 0:
            if size > self.limits.max_line:
                raise URITooLong("request line too long")
            # A request line is printable ASCII: anything else (a TLS handshake sent to
            # the plain HTTP port, binary junk) is refused now, not at the timeout.
            end = len(buf) - 1 if buf.endswith(b"\r") else len(buf)
            if grammar.NOT_REQUEST_LINE_BYTE.search(buf, start, end):
                raise BadRequest("not an HTTP request")
        elif size > self.limits.max_head:
            raise FieldsTooLarge("request head too large")
        # Only the new bytes are searched; the lookbehind still sees the byte before.
        # A CR at the very end is left alone: its LF may still be on the way.
        end = len(buf) - 1 if buf.endswith(b"\r") else len(buf)
        if grammar.BARE_CR_OR_LF.search(buf, max(start, self._searched - 1), end):
            raise BadRequest("bare CR or LF in request head")
        last_lf = buf.rfind(b"\n")
        if last_lf >= 0 and len(buf) - last_lf - 1 > self.limits.max_field_size + 2:
            raise FieldsTooLarge("header field too large")


def parse_head(head: bytes, limits: Limits) -> Request:
    """Parse a complete request head (without its final empty line)."""
    lines = head.split(b"\r\n")
    line = lines[0]
    if len(line) > limits.max_line:
        raise URITooLong("request line too long")
    m = grammar.REQUEST_LINE.fullmatch(line)
    if m is None:
        raise BadRequest("malformed request line")
    req = Request()
    method = m.group("method")
    version = m.group("version")
    if version == b"1.1":
        req.version = "HTTP/1.1"
    elif version == b"1.0":
        req.version = "HTTP/1.0"
        req.keep_alive = False
    elif version[0:1] == b"1":
        # RFC 9110 2.5: a higher minor version is answered as the highest we support.
        req.version = "HTTP/1.1"
    else:
        raise VersionNotSupported("only HTTP/1.x is supported")
    req.method = method.decode("ascii")

    if len(lines) - 1 > limits.max_fields:
        raise FieldsTooLarge("too many header fields")
    headers = req.headers
    content_length = None
    transfer_encoding = None
    hosts = 0
    connection = None
    expect = None
    for line in lines[1:]:
        if len(line) > limits.max_field_size:
            raise FieldsTooLarge("header field too large")
        fm = grammar.FIELD_LINE.fullmatch(line)
        if fm is None:
            if line[:1] in (b" ", b"\t"):
                # RFC 9112 5.2: obs-fold in a request MUST be rejected (or replaced).
                raise BadRequest("obsolete line folding in header")
            raise BadRequest("malformed header field")
        name = fm.group("name").decode("ascii")
        value = fm.group("value").decode("latin-1")
        headers.append((name, value))
        lname = name.lower()
        if lname == "host":
            hosts += 1
            req.host = value
        elif lname == "content-length":
            if content_length is not None:
                raise BadRequest("duplicate Content-Length")
            content_length = value
        elif lname == "transfer-encoding":
            transfer_encoding = value if transfer_encoding is None else transfer_encoding + "," + value
        elif lname == "connection":
            connection = value if connection is None else connection + "," + value
        elif lname == "expect":
            expect = value if expect is None else expect + "," + value

    # RFC 9112 3.2: 400 for an HTTP/1.1 request without Host, with several, or an invalid one.
    if hosts > 1:
        raise BadRequest("more than one Host header")
    if hosts == 0 and req.version == "HTTP/1.1":
        raise BadRequest("missing Host header")
    if req.host is not None and grammar.HOST.fullmatch(req.host.encode("latin-1")) is None:
        raise BadRequest("invalid Host header")

    _parse_target(req, m.group("target"))

    if transfer_encoding is not None:
        if content_length is not None:
            # RFC 9112 6.1: both at once is the classic smuggling vector; reject.
            raise BadRequest("both Transfer-Encoding and Content-Length")
        if req.version == "HTTP/1.0":
            # RFC 9112 6.1: Transfer-Encoding in HTTP/1.0 means the framing is faulty.
            raise BadRequest("Transfer-Encoding in an HTTP/1.0 request")
        codings = [c.strip(" \t").lower() for c in transfer_encoding.split(",")]
        codings = [c for c in codings if c]
        if not codings or codings[-1] != "chunked":
            raise BadRequest("chunked must be the final transfer coding")
        if codings.count("chunked") > 1:
            raise BadRequest("chunked applied more than once")
        if len(codings) > 1:
            raise NotImplementedByServer("unsupported transfer coding")
        req.chunked = True
    elif content_length is not None:
        if grammar.CONTENT_LENGTH.fullmatch(content_length.encode("latin-1")) is None:
            raise BadRequest("invalid Content-Length")
        if len(content_length) > 18:
            raise ContentTooLarge("request body too large")
        req.content_length = int(content_length)
        if limits.max_body and req.content_length > limits.max_body:
            raise ContentTooLarge("request body too large")

    if connection is not None:
        tokens = [t.strip(" \t").lower() for t in connection.split(",")]
        if "close" in tokens:
            req.keep_alive = False
        elif req.version == "HTTP/1.0" and "keep-alive" in tokens:
            req.keep_alive = True

    if expect is not None:
        # RFC 9110 10.1.1: 100-continue is the only expectation defined; others get 417.
        if expect.strip(" \t").lower() != "100-continue":
            raise ExpectationFailed("unsupported expectation")
        req.expect_continue = req.version == "HTTP/1.1"
    return req


def _parse_target(req: Request, target: bytes) -> None:
    """Split the request-target into path and query (RFC 9112 3.2)."""
    if target[:1] == b"/":
        path, sep, query = target.partition(b"?")
    elif target == b"*":
        if req.method != "OPTIONS":
            raise BadRequest("asterisk-form is only for OPTIONS")
        path, query = b"*", b""
    elif req.method == "CONNECT":
        raise NotImplementedByServer("CONNECT is not supported")
    else:
        am = grammar.ABSOLUTE_FORM.fullmatch(target)
        if am is None or am.group("scheme").lower() not in _SUPPORTED_SCHEMES:
            raise BadRequest("invalid request target")
        authority = am.group("authority")
        if b"@" in authority or grammar.HOST.fullmatch(authority) is None or not authority:
            raise BadRequest("invalid authority in request target")
        # RFC 9112 3.2.2: with absolute-form, the target's authority replaces Host.
        req.host = authority.decode("latin-1")
        rest = am.group("rest") or b"/"
        if rest[:1] == b"?":
            rest = b"/" + rest
        path, sep, query = rest.partition(b"?")
    if b"#" in target:
        raise BadRequest("fragment in request target")
    if b"%" in path and grammar.BAD_PERCENT.search(path):
        raise BadRequest("invalid percent-encoding in path")
    req.target = target.decode("latin-1")
    req.path = path.decode("latin-1")
    req.query = query.decode("latin-1")
