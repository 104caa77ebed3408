"""Sans-I/O request-body receivers (Content-Length and chunked) and the body buffer.

A receiver is fed the bytes received so far and returns how many it consumed; it
writes the decoded body into a sink: a `BodyBuffer` (the blocking driver, which calls
the app once the whole body is in), a `CountingSink` (the worker's loop checking a
body's framing before the app is called) or the loop's streaming ``wsgi.input``.
Either way ``wsgi.input`` can never read past the body.
"""

from __future__ import annotations

import io
import tempfile
import typing

from warp.runtime.server import grammar
from warp.runtime.server.http import BadRequest, ContentTooLarge, FieldsTooLarge, Limits, Request

# Bodies up to this size stay in memory; larger ones spill to an anonymous temp file
# (every connection of a worker may be receiving a body at the same time).
SPOOL_SIZE = 256 * 1024
# A chunk-size line (size + extensions) longer than this is refused.
MAX_CHUNK_LINE = 4096


class BodyBuffer:
    """Collects a request body in memory, spilling to a temporary file when large."""

    __slots__ = ("_mem", "_file", "size")

    def __init__(self) -> None:
        self._mem = bytearray()
        self._file: typing.Optional[typing.IO[bytes]] = None
        self.size = 0

    def write(self, data: bytes) -> None:
        self.size += len(data)
        if self._file is not None:
            self._file.write(data)
            return
        self._mem += data
        if len(self._mem) > SPOOL_SIZE:
            self._file = tempfile.TemporaryFile()
            self._file.write(self._mem)
            self._mem = bytearray()

    def finish(self) -> typing.IO[bytes]:
        """Return a readable binary file positioned at the start of the body."""
        if self._file is not None:
            self._file.seek(0)
            return self._file
        return io.BytesIO(bytes(self._mem))


class CountingSink:
    """A body sink that keeps nothing: checks a body's framing before the app is called."""

    __slots__ = ("size",)

    def __init__(self) -> None:
        self.size = 0

    def write(self, data: bytes) -> None:
        self.size += len(data)


# Where a receiver puts the body it decodes.
Sink = typing.Union[BodyBuffer, CountingSink]


class FixedReceiver:
    """Reads a Content-Length body."""

    __slots__ = ("remaining", "body", "done")

    def __init__(self, length: int, body: Sink | None = None) -> None:
        self.remaining = length
        self.body: Sink = BodyBuffer() if body is None else body
        self.done = length == 0

    def feed(self, buf: bytes) -> int:
        take = min(len(buf), self.remaining)
        if take:
            self.body.write(buf[:take])
            self.remaining -= take
        if self.remaining == 0:
            self.done = True
        return take


_SIZE, _DATA, _DATA_END, _TRAILER, _DONE = range(5)


class ChunkedReceiver:
    """Decodes a chunked body (RFC 9112 7.1); trailer fields are checked and dropped."""

    __slots__ = ("limits", "body", "done", "_state", "_left", "_trailers")

    def __init__(self, limits: Limits, body: Sink | None = None) -> None:
        self.limits = limits
        self.body: Sink = BodyBuffer() if body is None else body
        self.done = False
        self._state = _SIZE
        self._left = 0
        self._trailers = 0

    def feed(self, buf: bytes) -> int:
        pos = 0
        end = len(buf)
        while pos < end and not self.done:
            state = self._state
            if state == _DATA:
                take = min(end - pos, self._left)
                self.body.write(buf[pos:pos + take])
                pos += take
                self._left -= take
                if self._left == 0:
                    self._state = _DATA_END
            elif state == _DATA_END:
                if end - pos < 2:
                    break
                if buf[pos:pos + 2] != b"\r\n":
                    raise BadRequest("chunk data not followed by CRLF")
                pos += 2
                self._state = _SIZE
            else:
                eol = buf.find(b"\r\n", pos)
                if eol < 0:
                    limit = MAX_CHUNK_LINE if state == _SIZE else self.limits.max_field_size
                    if end - pos > limit:
                        raise BadRequest("chunk line too long")
                    if b"\n" in buf[pos:end] or b"\r" in buf[pos:end - 1]:
                        raise BadRequest("bare CR or LF in chunked body")
                    break
                line = bytes(buf[pos:eol])
                pos = eol + 2
                if state == _SIZE:
                    self._size_line(line)
                else:
                    self._trailer_line(line)
        return pos

    def _size_line(self, line: bytes) -> None:
        if len(line) > MAX_CHUNK_LINE:
            raise BadRequest("chunk line too long")
        m = grammar.CHUNK_LINE.fullmatch(line)
        if m is None:
            raise BadRequest("invalid chunk size line")
        digits = m.group("size")
        if len(digits) > 16:
            raise ContentTooLarge("chunk too large")
        size = int(digits, 16)
        if size == 0:
            self._state = _TRAILER
            return
        if self.limits.max_body and self.body.size + size > self.limits.max_body:
            raise ContentTooLarge("request body too large")
        self._left = size
        self._state = _DATA

    def _trailer_line(self, line: bytes) -> None:
        if not line:
            self._state = _DONE
            self.done = True
            return
        if len(line) > self.limits.max_field_size:
            raise FieldsTooLarge("trailer field too large")
        self._trailers += 1
        if self._trailers > self.limits.max_fields:
            raise FieldsTooLarge("too many trailer fields")
        if grammar.FIELD_LINE.fullmatch(line) is None:
            raise BadRequest("malformed trailer field")


class RequestReader:
    """Bytes in, whole requests out: a head parser followed by the body receiver the
    head calls for.  ``next()`` returns ``(request, body)`` (body is None or a
    `BodyBuffer`), or None when more bytes are needed; it raises `HTTPError`.

    `continue_due` turns true when a head asked for ``Expect: 100-continue`` and its
    body has not fully arrived: the connection should send the interim response."""

    __slots__ = ("buf", "heads", "request", "receiver", "body", "limits", "continue_due")

    def __init__(self, limits: Limits) -> None:
        from warp.runtime.server.http import HeadReader
        self.limits = limits
        self.buf = b""
        self.heads = HeadReader(limits)
        self.request: Request | None = None
        self.receiver: FixedReceiver | ChunkedReceiver | None = None
        self.body: BodyBuffer | None = None  # what the receiver fills
        self.continue_due = False

    def feed(self, data: bytes) -> None:
        self.buf = self.buf + data if self.buf else data

    @property
    def in_body(self) -> bool:
        return self.request is not None

    def next(self) -> tuple[Request, BodyBuffer | None] | None:
        if self.request is None:
            if not self.buf:
                return None
            parsed = self.heads.parse(self.buf)
            if parsed is None:
                return None
            req, used = parsed
            self.buf = self.buf[used:]
            if not req.has_body:
                return req, None
            self.request = req
            self.body = BodyBuffer()
            self.receiver = ChunkedReceiver(self.limits, self.body) if req.chunked \
                else FixedReceiver(req.content_length, self.body)
            self.continue_due = req.expect_continue
        receiver = self.receiver
        assert receiver is not None  # set together with self.request, just above or on an earlier call
        used = receiver.feed(self.buf)
        if used:
            self.buf = self.buf[used:]
        if not receiver.done:
            return None
        req, body = self.request, self.body
        self.request = self.receiver = self.body = None
        self.continue_due = False
        return req, body
