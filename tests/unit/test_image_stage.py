"""The build stage's last step: the build record and RECORD files made alike in every build."""

import json
from pathlib import Path

from warp.image.stage import normalise_record, normalise_records


def test_build_record_gets_the_source_date_and_zero_durations(tmp_path):
    path = tmp_path / "build.json"
    path.write_text(json.dumps({
        "started_at": "2026-12-01T06:00:01+00:00", "finished_at": "2026-12-01T06:00:09+00:00",
        "timings": {"analyse": 0.1, "total": 8.2}, "buildpacks": [{"name": "python", "seconds": 3.3, "result": {}}],
        "env": "/app/.warp/envs/image", "packages": {"flask": "3.1.3"},
    }))
    normalise_record(path, 1700000000)
    record = json.loads(path.read_text())
    assert record["started_at"] == record["finished_at"] == "2023-11-14T22:13:20Z"
    assert record["timings"] == {"analyse": 0, "total": 0}
    assert record["buildpacks"][0]["seconds"] == 0
    assert record["env"] == "/app/.warp/envs/image" and record["packages"] == {"flask": "3.1.3"}


def test_records_lose_bytecode_lines_and_are_sorted(tmp_path):
    record = tmp_path / "site-packages" / "pip-26.3.dist-info" / "RECORD"
    record.parent.mkdir(parents=True)
    record.write_text("pip/b.py,sha256=x,1\npip/__pycache__/b.cpython-311.pyc,,\npip/a.py,sha256=y,2\n"
                      "pip/rich/c.cpython-311.pyc,,\npip-26.3.dist-info/RECORD,,\n")
    normalise_records([tmp_path])
    assert record.read_text() == "pip-26.3.dist-info/RECORD,,\npip/a.py,sha256=y,2\npip/b.py,sha256=x,1\n"


def test_repair_makes_missing_or_timestamp_bytecode_hash_checked_and_leaves_the_rest(tmp_path):
    import importlib.util
    import py_compile

    from warp.image.stage import repair

    good, stale, new = (tmp_path / name for name in ("good.py", "stale.py", "new.py"))
    for path in (good, stale, new):
        path.write_text(f"NAME = {path.stem!r}\n")
    py_compile.compile(str(good), invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH)
    py_compile.compile(str(stale), invalidation_mode=py_compile.PycInvalidationMode.TIMESTAMP)
    kept = Path(importlib.util.cache_from_source(str(good))).read_bytes()
    orphan = tmp_path / "__pycache__" / "gone.cpython-311.pyc"
    orphan.write_bytes(b"\0" * 16)

    assert repair(tmp_path) == 2
    for path in (good, stale, new):
        header = Path(importlib.util.cache_from_source(str(path))).read_bytes()[:8]
        assert int.from_bytes(header[4:8], "little") == 0b11, path
    assert Path(importlib.util.cache_from_source(str(good))).read_bytes() == kept
    assert not orphan.exists()
    assert repair(tmp_path) == 0


def test_the_source_tree_cache_of_the_build_machine_is_dropped(tmp_path):
    from warp.build.fingerprint import CACHE
    from warp.image.stage import drop_machine_caches

    (tmp_path / ".warp").mkdir()
    (tmp_path / ".warp" / CACHE).write_text('{"written_ns": 1}')
    (tmp_path / ".warp" / "build.json").write_text("{}")
    drop_machine_caches(tmp_path)
    assert sorted(p.name for p in (tmp_path / ".warp").iterdir()) == ["build.json"]
    drop_machine_caches(tmp_path)  # nothing to drop: fine
