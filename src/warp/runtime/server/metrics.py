"""Request metrics in anonymous shared memory, written by workers, summed by the master.

The table is one ``mmap`` made by the master before any fork (like the scoreboard):
nothing on disk, no file per worker pid, nothing left behind when workers churn.
Each worker slot holds one *block* per writer: block 0 for the worker's I/O thread
(connection census, rejected requests, timeouts of the loop) and one per request
thread. Every field of a block has exactly one writer, so the hot path is a handful
of plain integer adds into a ``memoryview`` of 64-bit integers: no lock, no system
call. The master sums the blocks; when a worker is reaped its counters are folded
into per-slot and total accumulators, so every counter it exposes only grows.

A block's ``SEQ`` field is a single-writer sequence count (odd while a request
starts or ends) so the master reads a request's busy time and its counters together.

Durations go into fine fixed buckets (10 per decade from 0.1 ms, then up to 60 s)
for the percentiles ``warp status`` shows; the Prometheus exposition sums them into
the conventional 1 ms .. 60 s buckets.
"""

from __future__ import annotations

import mmap
import time
from bisect import bisect_left
from collections import deque
from typing import Any, Deque, Dict, List, Optional, Sequence, Tuple

# --- what is counted ---------------------------------------------------------------------

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other")
_METHOD_INDEX = {name: i for i, name in enumerate(METHODS[:-1])}
CODES = ("1xx", "2xx", "3xx", "4xx", "5xx")
PHASES = ("head", "body", "write", "request", "queue")
STATES = ("idle", "head", "body", "app", "writing", "closing")
CAUSES = ("max-requests", "max-memory", "timeout", "heartbeat", "crash", "reload")
# Exit causes a worker writes itself before it stops (the master knows the others).
EXIT_MAX_REQUESTS, EXIT_MAX_MEMORY = 1, 2
EXIT_CAUSES = {EXIT_MAX_REQUESTS: "max-requests", EXIT_MAX_MEMORY: "max-memory"}

_STEPS = (1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 7.5)
# Upper bounds (seconds) of the fine buckets; one more bucket holds the rest.
BOUNDS: Tuple[float, ...] = tuple(round(step * 10.0 ** exp, 6) for exp in range(-4, 1) for step in _STEPS) \
    + (10.0, 12.5, 15.0, 20.0, 25.0, 30.0, 40.0, 50.0, 60.0)
BOUNDS_US: Tuple[int, ...] = tuple(int(round(b * 1e6)) for b in BOUNDS)
NBUCKETS = len(BOUNDS) + 1
# The buckets the exposition shows (Prometheus `le`), each one of BOUNDS.
EXPOSED: Tuple[float, ...] = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

# --- the layout of one block (64-bit signed integers) --------------------------------------

SEQ, BUSY_SINCE, BUSY_US, BYTES, DUR_SUM, QUEUE_SUM, SHED, QUEUED, EXIT_CAUSE, CENSUS_AT = range(10)
REQ = 10                                   # METHODS x CODES request counts
DUR = REQ + len(METHODS) * len(CODES)      # duration histogram (fine buckets)
QUE = DUR + NBUCKETS                       # queue-time histogram
TMO = QUE + NBUCKETS                       # timeouts by phase
CONN = TMO + len(PHASES)                   # open connections by state (I/O block)
WIDTH = CONN + len(STATES)
# Fields that say how things are now, not how many so far: never accumulated.
GAUGES = frozenset([SEQ, BUSY_SINCE, QUEUED, EXIT_CAUSE, CENSUS_AT] + list(range(CONN, CONN + len(STATES))))
COUNTERS = tuple(i for i in range(WIDTH) if i not in GAUGES)

ENABLED = True  # benchmarks/server_speed.py turns recording off to measure its cost


def _us() -> int:
    return int(time.monotonic() * 1e6)


class MetricsTable:
    """The shared table: ``capacity`` worker slots of ``1 + threads`` blocks each."""

    def __init__(self, capacity: int, threads: int) -> None:
        self.capacity = capacity
        self.threads = max(1, threads)
        self.blocks = 1 + self.threads
        self.slot_width = self.blocks * WIDTH
        # MAP_SHARED|MAP_ANONYMOUS: the same pages in every process forked later.
        self._mem = mmap.mmap(-1, capacity * self.slot_width * 8)
        self.cells = memoryview(self._mem).cast("q")

    def base(self, slot: int, block: int = 0) -> int:
        if not 0 <= slot < self.capacity:
            raise IndexError(slot)
        return slot * self.slot_width + block * WIDTH

    def reset(self, slot: int) -> None:
        start = self.base(slot)
        self.cells[start:start + self.slot_width] = memoryview(bytes(self.slot_width * 8)).cast("q")

    def read(self, slot: int, now_us: Optional[int] = None) -> List[int]:
        """The slot's blocks summed field by field; a request in progress counts its busy
        time up to ``now_us``."""
        now_us = _us() if now_us is None else now_us
        total = [0] * WIDTH
        cells = self.cells
        for block in range(self.blocks):
            start = self.base(slot, block)
            for _ in range(50):
                seq = cells[start + SEQ]
                values = cells[start:start + WIDTH].tolist()
                if seq % 2 == 0 and cells[start + SEQ] == seq:
                    break
                time.sleep(0)
            since = values[BUSY_SINCE]
            if since:
                values[BUSY_US] += max(0, now_us - since)
            for i, value in enumerate(values):
                total[i] += value
        return total

    def close(self) -> None:
        self.cells.release()
        self._mem.close()


class Recorder:
    """A worker's writer into its own slot. Request-thread calls pass the thread's index
    (its block); the I/O thread writes block 0."""

    __slots__ = ("cells", "io", "threads", "slot", "pending")

    def __init__(self, table: MetricsTable, slot: int) -> None:
        self.cells = table.cells
        self.slot = slot
        self.io = table.base(slot, 0)
        self.threads = [table.base(slot, 1 + t) for t in range(table.threads)]
        # What request_done counted since the last flush, by field (the I/O thread's, in
        # a plain dict: an addition there costs a third of one into the shared table).
        self.pending: Dict[int, int] = {}

    # request threads

    def request_started(self, thread: int, now: float, queued: float) -> None:
        cells, b = self.cells, self.threads[thread]
        cells[b] += 1
        cells[b + BUSY_SINCE] = int(now * 1e6)
        queued_us = int(queued * 1e6) if queued > 0 else 0
        cells[b + QUE + bisect_left(BOUNDS_US, queued_us)] += 1
        cells[b + QUEUE_SUM] += queued_us
        cells[b] += 1

    def request_finished(self, thread: int, method: str, status: int, nbytes: int, duration: float) -> None:
        cells, b = self.cells, self.threads[thread]
        d = int(duration * 1e6)
        code = status // 100 - 1
        cells[b] += 1
        cells[b + BUSY_US] += d
        cells[b + BUSY_SINCE] = 0
        cells[b + REQ + _METHOD_INDEX.get(method, 7) * 5 + (code if 0 <= code < 5 else 4)] += 1
        cells[b + BYTES] += nbytes
        cells[b + DUR + bisect_left(BOUNDS_US, d)] += 1
        cells[b + DUR_SUM] += d
        cells[b] += 1

    # the I/O thread

    def request_done(self, method: str, status: int, nbytes: int, duration: float, queued: float) -> None:
        """What request_started and request_finished record, for a request run on the I/O
        thread and never shown busy (a quick one): counted in ``pending``, into the I/O
        thread's block at the next ``flush`` (the worker flushes after every loop turn)."""
        p = self.pending
        get = p.get
        d = int(duration * 1e6)
        queued_us = int(queued * 1e6) if queued > 0 else 0
        code = status // 100 - 1
        i = QUE + bisect_left(BOUNDS_US, queued_us)
        p[i] = get(i, 0) + 1
        i = REQ + _METHOD_INDEX.get(method, 7) * 5 + (code if 0 <= code < 5 else 4)
        p[i] = get(i, 0) + 1
        i = DUR + bisect_left(BOUNDS_US, d)
        p[i] = get(i, 0) + 1
        p[QUEUE_SUM] = get(QUEUE_SUM, 0) + queued_us
        p[BUSY_US] = get(BUSY_US, 0) + d
        p[DUR_SUM] = get(DUR_SUM, 0) + d
        p[BYTES] = get(BYTES, 0) + nbytes

    def flush(self) -> None:
        """Add what request_done counted into the shared table, under the block's seqlock.
        Called by the thread doing the I/O work between two turns (the I/O thread, or
        the watcher in its place while the I/O thread is held by a request: never both
        at once, so ``pending`` has one writer at a time)."""
        p = self.pending
        if not p:
            return
        self.pending = {}
        cells, b = self.cells, self.io
        cells[b] += 1
        for i, value in p.items():
            cells[b + i] += value
        cells[b] += 1

    def queue_timeout(self, thread: int) -> None:
        self.cells[self.threads[thread] + TMO + 4] += 1

    # the I/O thread

    def rejected(self, status: int, nbytes: int) -> None:
        """A request answered before the app saw it (400, 408, 413...)."""
        code = status // 100 - 1
        self.cells[self.io + REQ + 7 * 5 + (code if 0 <= code < 5 else 4)] += 1
        self.cells[self.io + BYTES] += nbytes

    def timeout(self, phase: str) -> None:
        self.cells[self.io + TMO + PHASES.index(phase)] += 1

    def census(self, states: Sequence[int], queued: int, shed: int) -> None:
        cells, b = self.cells, self.io
        for i, count in enumerate(states):
            cells[b + CONN + i] = count
        cells[b + QUEUED] = queued
        cells[b + SHED] = shed
        cells[b + CENSUS_AT] = _us()

    def exit_cause(self, cause: int) -> None:
        self.cells[self.io + EXIT_CAUSE] = cause


class NullRecorder:
    """Records nothing: a loop without a table, or recording turned off."""

    def request_started(self, thread: int, now: float, queued: float) -> None:
        pass

    def request_finished(self, thread: int, method: str, status: int, nbytes: int, duration: float) -> None:
        pass

    def request_done(self, method: str, status: int, nbytes: int, duration: float, queued: float) -> None:
        pass

    def flush(self) -> None:
        pass

    def queue_timeout(self, thread: int) -> None:
        pass

    def rejected(self, status: int, nbytes: int) -> None:
        pass

    def timeout(self, phase: str) -> None:
        pass

    def census(self, states: Sequence[int], queued: int, shed: int) -> None:
        pass

    def exit_cause(self, cause: int) -> None:
        pass


def recorder(table: Optional[MetricsTable], slot: int) -> Any:
    if table is None or not ENABLED:
        return NullRecorder()
    return Recorder(table, slot)


# --- figures from vectors -------------------------------------------------------------------

def quantile(q: float, counts: Sequence[int]) -> Optional[float]:
    """The q-quantile (seconds) of fine-bucket counts, interpolated inside its bucket
    (as Prometheus' histogram_quantile does); None without observations."""
    total = sum(counts)
    if not total:
        return None
    rank = q * total
    seen = 0
    for i, count in enumerate(counts):
        if count and seen + count >= rank:
            if i >= len(BOUNDS):
                return BOUNDS[-1]
            low = BOUNDS[i - 1] if i else 0.0
            return low + (BOUNDS[i] - low) * max(0.0, rank - seen) / count
        seen += count
    return BOUNDS[-1]


def exposed_buckets(counts: Sequence[int]) -> List[int]:
    """Cumulative counts at each EXPOSED bound, then +Inf."""
    out, running, i = [], 0, 0
    for bound in EXPOSED:
        while i < len(BOUNDS) and BOUNDS[i] <= bound + 1e-12:
            running += counts[i]
            i += 1
        out.append(running)
    out.append(sum(counts))
    return out


def requests_of(vector: Sequence[int]) -> int:
    return sum(vector[REQ:DUR])


def by_method_code(vector: Sequence[int]) -> Dict[str, Dict[str, int]]:
    table: Dict[str, Dict[str, int]] = {}
    for m, method in enumerate(METHODS):
        for c, code in enumerate(CODES):
            value = vector[REQ + m * 5 + c]
            if value:
                table.setdefault(method, {})[code] = value
    return table


def _diff(new: Sequence[int], old: Optional[Sequence[int]]) -> List[int]:
    if old is None:
        return list(new)
    return [max(0, a - b) for a, b in zip(new, old)]


class Aggregator:
    """The master's view: live slots plus what reaped workers left, and a one-second
    history of both (two minutes) for rates, percentiles and capacity over a window."""

    HISTORY = 125

    def __init__(self, table: MetricsTable) -> None:
        self.table = table
        self.retired = [0] * WIDTH                    # every reaped worker, all slots
        self.slot_retired: Dict[int, List[int]] = {}  # per slot, so per-slot series only grow
        self.history: Deque[Tuple[float, Dict[int, List[int]], List[int]]] = deque(maxlen=self.HISTORY)
        self._last_sample = 0.0

    def worker_gone(self, slot: int) -> str:
        """Fold a reaped worker's counters in; returns the exit cause it wrote ('' if none)."""
        vector = self.table.read(slot)
        into = self.slot_retired.setdefault(slot, [0] * WIDTH)
        for i in COUNTERS:
            self.retired[i] += vector[i]
            into[i] += vector[i]
        return EXIT_CAUSES.get(vector[EXIT_CAUSE], "")

    def current(self, slots: Sequence[int], now: Optional[float] = None) -> Tuple[float, Dict[int, List[int]], List[int]]:
        """(now, {slot: vector including the slot's reaped workers}, total vector)."""
        now = time.monotonic() if now is None else now
        now_us = int(now * 1e6)
        per_slot = {}
        total = list(self.retired)
        for slot in slots:
            raw = self.table.read(slot, now_us)
            for i in range(WIDTH):
                total[i] += raw[i]
            past = self.slot_retired.get(slot)
            if past:
                for i in COUNTERS:
                    raw[i] += past[i]
            per_slot[slot] = raw
        return now, per_slot, total

    def tick(self, slots: Sequence[int], now: Optional[float] = None) -> None:
        """Keep a sample a second (called from the master's loop, at most a second apart)."""
        now = time.monotonic() if now is None else now
        if now - self._last_sample >= 1.0:
            self._last_sample = now
            self.history.append(self.current(slots, now))

    def before(self, when: float) -> Optional[Tuple[float, Dict[int, List[int]], List[int]]]:
        """The newest sample taken at or before ``when`` (else the oldest there is)."""
        chosen = None
        for sample in self.history:
            if sample[0] <= when + 0.05:
                chosen = sample
            else:
                break
        if chosen is None and self.history:
            chosen = self.history[0]
        return chosen



def window_figures(new: Sequence[int], old: Optional[Sequence[int]], seconds: float, threads: int) -> Dict[str, Any]:
    """Rates and percentiles between two vectors ``seconds`` apart."""
    delta = _diff(new, old)
    seconds = max(seconds, 1e-6)
    durations = delta[DUR:DUR + NBUCKETS]
    queue = delta[QUE:QUE + NBUCKETS]
    return {
        "seconds": round(seconds, 3),
        "requests": requests_of(delta),
        "requests_per_second": round(requests_of(delta) / seconds, 3),
        "p50": _round(quantile(0.50, durations)),
        "p95": _round(quantile(0.95, durations)),
        "p99": _round(quantile(0.99, durations)),
        "queue_p99": _round(quantile(0.99, queue)),
        "capacity": round(min(1.0, delta[BUSY_US] / 1e6 / (seconds * max(1, threads))), 4),
    }


def _round(value: Optional[float]) -> Optional[float]:
    return None if value is None else round(value, 6)
