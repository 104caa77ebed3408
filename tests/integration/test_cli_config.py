"""`warp config` through the real console script: values, sources, one-line errors."""

import json

from support import warp


def test_config_json_shows_value_and_source(tmp_path):
    (tmp_path / "warp.yaml").write_text("server: gunicorn\n")
    result = warp("config", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)["settings"]}
    assert rows["server"] == {"name": "server", "value": "gunicorn", "source": "warp.yaml"}
    assert rows["port"]["source"] == "default"


def test_broken_yaml_is_one_line_and_exit_2(tmp_path):
    (tmp_path / "warp.yaml").write_text("server: [\n")
    result = warp("config", cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "warp.yaml:2: invalid YAML" in lines[0]


def test_missing_app_folder_is_a_usage_error(tmp_path):
    result = warp("config", "--app", str(tmp_path / "nope"), cwd=tmp_path)
    assert result.returncode == 2
    assert "no such folder" in result.stderr
