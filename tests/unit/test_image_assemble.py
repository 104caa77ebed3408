"""One normalised layer from the final stage's layers, and the config around it."""

import io
import tarfile

from warp.image.assemble import image_config, merge_layers

EPOCH = 1700000000


def layer(tmp_path, name, entries):
    """A layer tar: entries are (name, kind, data-or-linkname, uid, mtime)."""
    path = tmp_path / name
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for entry_name, kind, data, uid, mtime in entries:
            info = tarfile.TarInfo(entry_name)
            info.uid, info.uname, info.mtime, info.mode = uid, "someone", mtime, 0o644
            if kind == "dir":
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            elif kind == "link":
                info.type, info.linkname = tarfile.LNKTYPE, data
                tar.addfile(info)
            elif kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, data
                tar.addfile(info)
            else:
                info.size = len(data)
                if kind == "xattr":
                    info.pax_headers = {"SCHILY.xattr.security.capability": "x", "atime": "123.4"}
                tar.addfile(info, io.BytesIO(data))
    return str(path)


def merged(paths):
    out = io.BytesIO()
    merge_layers(paths, out, EPOCH)
    out.seek(0)
    with tarfile.open(fileobj=out) as tar:
        return {m.name.rstrip("/"): (m, tar.extractfile(m).read() if m.isfile() else None) for m in tar.getmembers()}, out.getvalue()


def test_later_layers_win_and_whiteouts_apply(tmp_path):
    first = layer(tmp_path, "1.tar", [
        ("app", "dir", None, 1001, 5), ("app/a.py", "file", b"old", 1001, 5), ("app/gone.py", "file", b"x", 1001, 5),
        ("app/sub", "dir", None, 1001, 5), ("app/sub/x", "file", b"x", 1001, 5),
    ])
    second = layer(tmp_path, "2.tar", [
        ("app/a.py", "file", b"new", 1001, 9), ("app/.wh.gone.py", "file", b"", 0, 9),
        ("app/.wh.sub", "file", b"", 0, 9), ("etc/.wh.motd", "file", b"", 0, 9),
    ])
    entries, _ = merged([first, second])
    assert entries["app/a.py"][1] == b"new"
    assert "app/gone.py" not in entries and "app/sub/x" not in entries and "app/sub" not in entries
    # Whiteouts for paths the base may have stay in the layer.
    assert {"app/.wh.gone.py", "app/.wh.sub", "etc/.wh.motd"} <= set(entries)


def test_times_owners_names_order_and_hard_links_are_normalised(tmp_path):
    one = layer(tmp_path, "1.tar", [
        ("./b", "file", b"b", 0, 77), ("./a", "file", b"data", 1001, 88), ("./c", "link", "a", 1001, 99),
        ("./d", "symlink", "/usr/bin/python3", 0, 11), ("./e", "xattr", b"e", 0, 12),
    ])
    entries, data = merged([one])
    assert list(entries) == sorted(entries)
    assert {m.mtime for m, _ in entries.values()} == {EPOCH}
    assert {m.uname for m, _ in entries.values()} == {""}
    assert entries["a"][0].uid == 1001 and entries["b"][0].uid == 0
    assert entries["c"][0].isfile() and entries["c"][1] == b"data"
    assert entries["d"][0].issym() and entries["d"][0].linkname == "/usr/bin/python3"
    assert entries["e"][0].pax_headers.get("SCHILY.xattr.security.capability") == "x"
    assert "atime" not in entries["e"][0].pax_headers

    # The same files with other times and owner names give the same bytes.
    again = layer(tmp_path, "2.tar", [
        ("./e", "xattr", b"e", 0, 1), ("./d", "symlink", "/usr/bin/python3", 0, 2), ("./c", "link", "a", 1001, 3),
        ("./a", "file", b"data", 1001, 4), ("./b", "file", b"b", 0, 5),
    ])
    assert merged([again])[1] == data


def test_config_keeps_settings_drops_intermediates_and_sets_every_time():
    raw = {
        "architecture": "amd64", "os": "linux", "created": "2026-01-01T10:11:12.123Z",
        "container": "abc", "docker_version": "20.10", "container_config": {"Image": "x"},
        "config": {"User": "1001", "Image": "sha256:intermediate", "Hostname": "abc",
                   "Labels": {"base": "yes", "warp.image.builder-for": "app:latest", "created": "old"}},
        "history": [{"created": "2020-01-01T00:00:00Z", "comment": "base"},
                    {"created": "2026-01-01T10:11:12Z", "created_by": "RUN x"}],
        "rootfs": {"type": "layers", "diff_ids": ["sha256:base", "sha256:a", "sha256:b"]},
    }
    config = image_config(raw, 1, ["sha256:base"], "sha256:new", EPOCH, {"created": "2023-11-14T22:13:20Z"},
                          "warp image", drop_labels=("warp.image.builder-for",))
    assert set(config) == {"architecture", "os", "created", "config", "history", "rootfs"}
    assert config["created"] == "2023-11-14T22:13:20Z"
    assert config["config"] == {"User": "1001", "Labels": {"base": "yes", "created": "2023-11-14T22:13:20Z"}}
    assert config["history"][0] == {"created": "2020-01-01T00:00:00Z", "comment": "base"}
    assert config["history"][1]["created"] == "2023-11-14T22:13:20Z" and len(config["history"]) == 2
    assert config["rootfs"] == {"type": "layers", "diff_ids": ["sha256:base", "sha256:new"]}


def test_start_interval_goes_into_the_health_check_where_given():
    raw = {"config": {"Healthcheck": {"Test": ["CMD", "warp", "health"], "StartPeriod": 70 * 10**9}}, "history": []}
    plain = image_config(raw, 0, [], "sha256:new", EPOCH, {}, "warp image")
    assert "StartInterval" not in plain["config"]["Healthcheck"]
    quick = image_config(raw, 0, [], "sha256:new", EPOCH, {}, "warp image", start_interval=1)
    assert quick["config"]["Healthcheck"] == {"Test": ["CMD", "warp", "health"], "StartPeriod": 70 * 10**9,
                                              "StartInterval": 10**9}
