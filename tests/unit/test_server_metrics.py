"""The metrics table's arithmetic: what a recorder writes is what the master reads."""

from prometheus_client.parser import text_string_to_metric_families

from warp.runtime.server import metrics as mx
from warp.runtime.server.exposition import render


def test_exposed_buckets_are_fine_bucket_bounds_from_1ms_to_60s():
    assert set(mx.EXPOSED) <= set(mx.BOUNDS)
    assert mx.EXPOSED[0] == 0.001 and mx.EXPOSED[-1] == 60.0


def test_a_recorded_request_is_read_back_summed_over_blocks():
    table = mx.MetricsTable(4, 2)
    rec = mx.Recorder(table, 1)
    rec.request_started(0, 100.0, 0.003)
    rec.request_finished(0, "GET", 200, 12, 0.2)
    rec.request_started(1, 101.0, 0.0)
    rec.request_finished(1, "DELETE", 503, 5, 0.0005)
    rec.rejected(400, 30)
    rec.timeout("head")
    rec.census([3, 1, 0, 2, 1, 0], 4, 7)
    vector = table.read(1)
    assert mx.requests_of(vector) == 3
    assert mx.by_method_code(vector) == {"GET": {"2xx": 1}, "DELETE": {"5xx": 1}, "other": {"4xx": 1}}
    assert vector[mx.BYTES] == 47
    durations = vector[mx.DUR:mx.DUR + mx.NBUCKETS]
    cumulative = dict(zip(list(mx.EXPOSED) + ["+Inf"], mx.exposed_buckets(durations)))
    assert cumulative[0.001] == 1 and cumulative[0.1] == 1 and cumulative[0.25] == 2
    assert vector[mx.TMO + mx.PHASES.index("head")] == 1
    assert vector[mx.CONN:mx.CONN + 6] == [3, 1, 0, 2, 1, 0] and vector[mx.QUEUED] == 4 and vector[mx.SHED] == 7
    assert table.read(0) == [0] * mx.WIDTH  # other slots untouched


def test_a_request_never_shown_busy_records_what_a_shown_one_does():
    # request_done counts a quick request run on the I/O thread, flushed into the table
    # between loop turns: every figure read back (counts, bytes, both histograms, busy
    # time) must be what started+finished would have written.
    shown, quick = mx.MetricsTable(1, 1), mx.MetricsTable(1, 1)
    for started, method, status, nbytes, duration, queued in (
            (5.0, "GET", 200, 12, 0.0004, 0.0), (6.0, "POST", 404, 30, 0.2, 0.003),
            (7.0, "BREW", 500, 0, 1.5, 0.25)):
        rec = mx.Recorder(shown, 0)
        rec.request_started(0, started, queued)
        rec.request_finished(0, method, status, nbytes, duration)
    io = mx.Recorder(quick, 0)
    for method, status, nbytes, duration, queued in (
            ("GET", 200, 12, 0.0004, 0.0), ("POST", 404, 30, 0.2, 0.003)):
        io.request_done(method, status, nbytes, duration, queued)
    assert mx.requests_of(quick.read(0)) == 0     # counted, not yet in the table
    io.flush()
    io.request_done("BREW", 500, 0, 1.5, 0.25)
    io.flush()
    io.flush()                                    # nothing pending: nothing added twice
    # Every field but the seqlock's counter.
    figures = lambda table: table.read(0, now_us=99_000_000)[mx.SEQ + 1:]  # noqa: E731
    assert mx.SEQ == 0 and figures(quick) == figures(shown)
    assert mx.requests_of(quick.read(0)) == 3


def test_a_request_in_progress_counts_busy_time_up_to_now():
    table = mx.MetricsTable(1, 1)
    rec = mx.Recorder(table, 0)
    rec.request_started(0, 10.0, 0.0)
    assert table.read(0, now_us=12_500_000)[mx.BUSY_US] == 2_500_000
    rec.request_finished(0, "GET", 200, 0, 3.0)
    assert table.read(0, now_us=99_000_000)[mx.BUSY_US] == 3_000_000


def test_quantiles_interpolate_inside_the_bucket():
    counts = [0] * mx.NBUCKETS
    counts[mx.BOUNDS.index(0.2)] = 100  # every request in (0.15, 0.2]
    assert 0.15 < mx.quantile(0.5, counts) <= 0.2
    assert mx.quantile(0.99, [0] * mx.NBUCKETS) is None


def test_reaped_workers_keep_counting_in_the_totals():
    table = mx.MetricsTable(2, 1)
    agg = mx.Aggregator(table)
    rec = mx.Recorder(table, 0)
    rec.request_started(0, 1.0, 0.0)
    rec.request_finished(0, "GET", 200, 1, 0.01)
    rec.exit_cause(mx.EXIT_MAX_REQUESTS)
    assert agg.worker_gone(0) == "max-requests"
    table.reset(0)
    mx.Recorder(table, 0).request_started(0, 2.0, 0.0)
    mx.Recorder(table, 0).request_finished(0, "GET", 200, 1, 0.01)
    _, per_slot, total = agg.current([0])
    assert mx.requests_of(per_slot[0]) == 2 and mx.requests_of(total) == 2


def test_an_empty_document_still_renders_parseable_text():
    doc = {"workers": [], "metrics": {}, "threads": 1, "uptime": 1.0, "started": 1.0}
    names = {family.name for family in text_string_to_metric_families(render(doc))}
    assert {"warp_http_requests", "warp_http_request_duration_seconds", "warp_uptime_seconds"} <= names
