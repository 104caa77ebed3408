"""The workers' state table, in anonymous shared memory mapped before any fork.

One fixed-size slot per worker (and inside it one entry per request thread), the
"busy/available list" of the uWSGI model. The worker writes its own slot (heartbeat,
busy with which request since when, requests served, RSS); the master reads every slot
to time out stuck requests, detect wedged workers and answer the stats socket.

Shared memory instead of gunicorn's per-worker temp files: nothing touches the file
system (read-only roots work) and the master learns *which* request is stuck, not
only that a worker is late. Each slot is guarded by a sequence counter (a seqlock):
the writer makes it odd while writing, the reader retries until it reads the same
even value before and after, so readers never see a half-written slot.
"""

from __future__ import annotations

import mmap
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import List, Optional

FREE, BOOTING, READY, STOPPING, RETIRING = 0, 1, 2, 3, 4
STATE_NAMES = {FREE: "free", BOOTING: "starting", READY: "ready", STOPPING: "stopping",
               RETIRING: "retiring"}

# seq, pid, generation, state, booted, heartbeat, requests, rss, max_requests
_HEADER = struct.Struct("=QiIB3xddQQQ")
# busy, started, method, path, client
_ENTRY = struct.Struct("=B7xd16s240s48s")
# Offsets in the header of the fields the per-request writes change.
_SEQ = struct.Struct("=Q")
_REQUESTS_AT = struct.calcsize("=QiIB3xdd")
_RSS_AT = _REQUESTS_AT + 8


@dataclass
class RequestView:
    method: str
    path: str
    client: str
    started: float


@dataclass
class SlotView:
    index: int
    pid: int
    generation: int
    state: int
    booted: float
    heartbeat: float
    requests: int
    rss: int
    max_requests: int
    busy: List[RequestView] = field(default_factory=list)
    # When the worker's I/O thread began the request it runs and has not shown (0: none).
    inline_since: float = 0.0

    @property
    def state_name(self) -> str:
        if self.state == READY:
            return "busy" if self.busy else "idle"
        return STATE_NAMES.get(self.state, "unknown")

    def oldest_request(self) -> Optional[RequestView]:
        return min(self.busy, key=lambda r: r.started) if self.busy else None


def _text(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace")


def _clip(text: str, size: int) -> bytes:
    data = text.encode("utf-8", "replace")[:size]
    return data


class Scoreboard:
    def __init__(self, capacity: int, threads: int) -> None:
        self.capacity = capacity
        self.threads = threads
        self.slot_size = _HEADER.size + threads * _ENTRY.size
        # MAP_SHARED|MAP_ANONYMOUS (fileno -1): shared with every process forked later.
        self._mem = mmap.mmap(-1, self.slot_size * capacity)
        self._lock = threading.Lock()  # serialises writers inside one worker process
        # One byte per slot: how many request threads of that worker are free now. A
        # worker whose threads are all busy reads it to learn whether a sibling could
        # take a ready request at once (see loop.Handoff); one byte, no seqlock needed.
        self._free = mmap.mmap(-1, capacity)
        self._no_free = bytes(capacity)
        # One double per slot: since when the worker's I/O thread runs a request it has
        # not shown (0.0: none), so that the master knows a worker died in a request
        # (replace it at once) or is stuck in one. One aligned 8-byte store per request
        # start and end, no seqlock: what the quick requests cost instead of the entry.
        self._inline = mmap.mmap(-1, 8 * capacity)
        self._inline_since = memoryview(self._inline).cast("d")

    def _offset(self, index: int) -> int:
        if not 0 <= index < self.capacity:
            raise IndexError(index)
        return index * self.slot_size

    # --- writers ----------------------------------------------------------------------

    def _write(self, index: int, update) -> None:
        """Apply ``update(header_fields: list, offset)`` to a slot under the seqlock."""
        off = self._offset(index)
        with self._lock:
            fields = list(_HEADER.unpack_from(self._mem, off))
            # Odd while writing. It may already be odd if the slot's previous worker was
            # killed in the middle of a write; the master's reset then makes it even.
            seq = fields[0] if fields[0] % 2 else fields[0] + 1
            struct.pack_into("=Q", self._mem, off, seq)
            fields[0] = seq
            update(fields, off)
            fields[0] = seq + 1
            _HEADER.pack_into(self._mem, off, *fields)   # even again: consistent

    def reset(self, index: int, generation: int = 0, state: int = FREE) -> None:
        """Master: clear a slot (before a fork into it, or after its worker was reaped)."""
        self._free[index] = 0
        self._inline_since[index] = 0.0
        def update(fields, off):
            fields[1:] = [0, generation, state, time.monotonic() if state != FREE else 0.0, 0.0, 0, 0, 0]
            self._mem[off + _HEADER.size: off + self.slot_size] = bytes(self.slot_size - _HEADER.size)
        self._write(index, update)

    def set_pid(self, index: int, pid: int) -> None:
        def update(fields, off):
            fields[1] = pid
        self._write(index, update)

    def set_state(self, index: int, state: int) -> None:
        def update(fields, off):
            fields[3] = state
            fields[5] = time.monotonic()
        self._write(index, update)

    def beat(self, index: int, rss: Optional[int] = None, requests: Optional[int] = None) -> None:
        """The heartbeat; also the worker's requests served so far, since the requests
        that finish without ever being shown (see request_finished) are counted here."""
        def update(fields, off):
            fields[5] = time.monotonic()
            if requests is not None:
                fields[6] = requests
            if rss is not None:
                fields[7] = rss
        self._write(index, update)

    def set_max_requests(self, index: int, limit: int) -> None:
        def update(fields, off):
            fields[8] = limit
        self._write(index, update)

    # The two writes of a request that is shown touch only the fields they change (no
    # read and rewrite of the whole header): they are on the server's hot path. They
    # leave the heartbeat alone: the worker beats at least every BEAT_INTERVAL between
    # its loop turns, and the master reads the heartbeat only of a worker with no
    # request. A quick request run on the worker's I/O thread is never shown: it ends
    # before anyone could look, and only its count reaches the slot, with the beat.

    def request_started(self, index: int, thread: int, method: str, path: str, client: bytes,
                        now: Optional[float] = None) -> None:
        """``client`` is already encoded (it is the same for every request of a
        connection); ``struct`` cuts each text to its field's size."""
        if now is None:
            now = time.monotonic()
        off = self._offset(index)
        mem = self._mem
        with self._lock:
            seq = _SEQ.unpack_from(mem, off)[0] | 1      # odd while writing
            _SEQ.pack_into(mem, off, seq)
            _ENTRY.pack_into(mem, off + _HEADER.size + thread * _ENTRY.size, 1, now,
                             method.encode("latin-1", "replace"), path.encode("utf-8", "replace"), client)
            _SEQ.pack_into(mem, off, seq + 1)

    def request_finished(self, index: int, thread: int, requests: int, rss: Optional[int] = None) -> None:
        """Mark the thread idle; ``requests``: the worker's total served so far."""
        off = self._offset(index)
        mem = self._mem
        with self._lock:
            seq = _SEQ.unpack_from(mem, off)[0] | 1
            _SEQ.pack_into(mem, off, seq)
            _SEQ.pack_into(mem, off + _REQUESTS_AT, requests)
            if rss is not None:
                _SEQ.pack_into(mem, off + _RSS_AT, rss)
            mem[off + _HEADER.size + thread * _ENTRY.size] = 0
            _SEQ.pack_into(mem, off, seq + 1)

    def inline_started(self, index: int, now: float) -> None:
        self._inline_since[index] = now

    def inline_finished(self, index: int) -> None:
        self._inline_since[index] = 0.0

    def set_free(self, index: int, threads: int) -> None:
        self._free[index] = min(255, max(0, threads))

    def others_free(self, index: int) -> bool:
        """Whether a worker other than ``index`` has a free request thread."""
        data = bytearray(self._free[:])
        data[index] = 0
        return data != self._no_free

    # --- reader -----------------------------------------------------------------------

    def read(self, index: int) -> SlotView:
        off = self._offset(index)
        for _ in range(100):
            seq1 = struct.unpack_from("=Q", self._mem, off)[0]
            raw = bytes(self._mem[off:off + self.slot_size])
            if seq1 % 2 == 0 and struct.unpack_from("=Q", self._mem, off)[0] == seq1:
                break
            # A writer is mid-update (let it finish), or died mid-update: then, after
            # these tries, the last copy is the best there is.
            time.sleep(0)
        header = _HEADER.unpack_from(raw, 0)
        busy = []
        for t in range(self.threads):
            b, started, method, path, client = _ENTRY.unpack_from(raw, _HEADER.size + t * _ENTRY.size)
            if b:
                busy.append(RequestView(_text(method), _text(path), _text(client), started))
        return SlotView(index, header[1], header[2], header[3], header[4], header[5],
                        header[6], header[7], header[8], busy, self._inline_since[index])

    def close(self) -> None:
        self._inline_since.release()
        self._inline.close()
        self._mem.close()
        self._free.close()
