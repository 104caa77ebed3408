"""Static-file helpers: range parsing, Accept-Encoding, content types, path resolution."""

from __future__ import annotations

import os

import pytest

from warp.runtime.server.static import (StaticConfigError, StaticFiles, accepted_codings, content_type,
                                parse_range)


@pytest.mark.parametrize("header, result", [
    ("bytes=0-9", (0, 9)),
    ("bytes=5-", (5, 99)),
    ("bytes=-10", (90, 99)),
    ("bytes=-1000", (0, 99)),
    ("bytes=90-1000", (90, 99)),
    ("bytes=100-", "unsatisfiable"),
    ("bytes=-0", "unsatisfiable"),
    ("bytes=9-5", None),          # invalid range-spec: ignored
    ("bytes=0-1,3-4", None),      # several ranges: whole file
    ("items=0-1", None),
    ("bytes=a-b", None),
    ("bytes=-", None),
    ("bytes 0-1", None),
])
def test_parse_range(header, result):
    assert parse_range(header, 100) == result


def test_accepted_codings_honour_q_values():
    assert accepted_codings("gzip, br;q=0") == {"gzip"}
    assert accepted_codings("BR;q=0.1, identity") == {"br", "identity"}
    assert {"br", "gzip"} <= accepted_codings("*")
    assert accepted_codings(None) == set()


def test_content_types():
    assert content_type("a/site.css") == "text/css; charset=utf-8"
    assert content_type("x.woff2") == "font/woff2"
    assert content_type("x.svg") == "image/svg+xml; charset=utf-8"
    assert content_type("noextension") == "application/octet-stream"


def test_resolve_stays_inside_the_folder(tmp_path):
    root = tmp_path / "root"
    (root / "a").mkdir(parents=True)
    (root / "a" / "f.txt").write_text("x")
    (tmp_path / "outside.txt").write_text("secret")
    os.symlink(tmp_path / "outside.txt", root / "link.txt")
    static = StaticFiles.from_config([f"static={root}"])
    real_root = os.path.realpath(root)
    assert static.resolve("/static/a/f.txt") == (real_root, os.path.join(real_root, "a", "f.txt"))
    for bad in ("/static/../outside.txt", "/static/a/%2e%2e/%2e%2e/outside.txt", "/static/link.txt",
                "/static/a\\..\\..\\outside.txt", "/static/", "/static/a//f.txt", "/static/%ff"):
        assert static.resolve(bad) == (real_root, None), bad
    assert static.resolve("/other/a/f.txt") is None


def test_bad_static_entries_are_explained(tmp_path):
    with pytest.raises(StaticConfigError, match="PREFIX=FOLDER"):
        StaticFiles.from_config(["/static/"])
    # a missing folder is not fatal: its URLs answer 404 until it exists
    static = StaticFiles.from_config([f"/static/={tmp_path / 'missing'}"])
    assert static.resolve("/static/a.css")[1] is None or not os.path.exists(static.resolve("/static/a.css")[1])


def test_static_flag_is_checked_when_parsed():
    from warp.runtime.server.config import ConfigError, parse_args
    config = parse_args(["app:app", "--static", "/static/=staticfiles", "--static", "/m/=media"], environ={})
    assert config.static == {"/static/": "staticfiles", "/m/": "media"}
    with pytest.raises(ConfigError, match="PREFIX=FOLDER"):
        parse_args(["app:app", "--static", "staticfiles"], environ={})
    env = parse_args(["app:app"], environ={"WARP_STATIC": "/s/=a, /t/=b"})
    assert env.static == {"/s/": "a", "/t/": "b"}
