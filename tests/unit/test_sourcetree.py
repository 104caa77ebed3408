"""The app's source tree: what counts as source, on real folders."""

from __future__ import annotations

from pathlib import Path

from warp.app.sourcetree import changes, snapshot

import support


def test_source_is_the_app_less_state_venvs_caches_and_ignored_files(tmp_path: Path) -> None:
    support.write(tmp_path, {
        "app.py": "x = 1\n",
        "pkg/views.py": "y = 2\n",
        "pkg/__pycache__/views.cpython-311.pyc": "",
        "pkg/old.pyc": "",
        ".warp/build.json": "{}",
        ".git/HEAD": "ref\n",
        "env/pyvenv.cfg": "home = /usr\n",
        "env/lib/site.py": "",
        "node_modules/x/index.js": "",
        "build/out.txt": "",
        "logs/today.log": "",
        "keep.log": "",
        "docs/build/page.html": "",
        ".gitignore": "build/\n*.log\n!keep.log\n",
        ".dockerignore": "/docs\n",
    })
    assert sorted(snapshot(tmp_path)) == [".dockerignore", ".gitignore", "app.py", "keep.log", "pkg/views.py"]


def test_changes_name_added_removed_and_edited_files(tmp_path: Path) -> None:
    support.write(tmp_path, {"a.py": "1\n", "b.py": "2\n"})
    before = snapshot(tmp_path)
    (tmp_path / "a.py").write_text("1 and more\n")
    (tmp_path / "b.py").unlink()
    (tmp_path / "c.py").write_text("3\n")
    assert changes(before, snapshot(tmp_path)) == ["a.py", "b.py", "c.py"]
    assert changes(snapshot(tmp_path), snapshot(tmp_path)) == []


def test_extra_excludes_and_anchoring(tmp_path: Path) -> None:
    support.write(tmp_path, {"data/x.csv": "", "src/data/y.csv": "", "src/main.py": ""})
    assert sorted(snapshot(tmp_path, ["/data"])) == ["src/data/y.csv", "src/main.py"]
    assert sorted(snapshot(tmp_path, ["data"])) == ["src/main.py"]
    assert sorted(snapshot(tmp_path, ["**/*.csv"])) == ["src/main.py"]
