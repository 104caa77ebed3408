"""warp.runtime.accesslog: the one access-log record and its two formats."""

import json

import pytest

from warp.runtime.accesslog import FIELDS, AccessRecord, format_line

RECORD = AccessRecord(started=1764570000.25, duration=0.0012345, remote="10.0.0.1", method="GET", path="/a%20b",
                      query="q=1", protocol="HTTP/1.1", status=200, bytes=5, pid=42)


def test_json_has_every_field_in_utc_with_microseconds():
    record = json.loads(format_line(RECORD, "json"))
    assert tuple(record) == FIELDS
    assert record == {"time": "2025-12-01T06:20:00.250Z", "remote": "10.0.0.1", "method": "GET", "path": "/a%20b",
                      "query": "q=1", "protocol": "HTTP/1.1", "status": 200, "bytes": 5, "duration_us": 1234, "pid": 42}


def test_common_is_clf_then_duration_and_pid():
    assert format_line(RECORD, "common") == \
        '10.0.0.1 - - [01/Dec/2025:06:20:00 +0000] "GET /a%20b?q=1 HTTP/1.1" 200 5 0.001234s pid=42'


def test_a_quote_in_the_request_cannot_end_the_field():
    odd = AccessRecord(1.0, 0.0, "", 'GE"T', "/", "", "", 400, 0, 1)
    assert '"GE%22T /" 400 - ' in format_line(odd, "common")


def test_unknown_format_is_refused():
    with pytest.raises(ValueError):
        format_line(RECORD, "xml")


def test_native_templates_name_every_field_in_order():
    from warp.launch import gunicorn, mod_wsgi, uwsgi
    from warp.runtime.accesslog import native_json_format

    for module in (gunicorn, uwsgi, mod_wsgi):
        keys = [part.split('"')[1] for part in module.JSON_LOG[1:-1].split(", ")]
        assert keys == list(FIELDS), module.__name__
    with pytest.raises(ValueError, match="missing"):
        native_json_format({"time": '"x"'})
