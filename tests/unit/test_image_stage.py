"""The build stage's last step: the build record and RECORD files made alike in every build."""

import json

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
