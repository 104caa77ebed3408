"""`warp build` in two steps: dependencies keyed on what decides them, app steps on the whole source tree.

A build hook that generates files from the sources (an asset step) runs again
when any source changes, and only the app steps run; a dependency change runs
both; nothing changed is a no-op; what .gitignore leaves out changes nothing.
"""

import json
import os

from support import warp, write

HOOK = """#!/bin/sh
set -e
# An asset step: bundle the sources, and count the runs outside the tree.
mkdir -p static
cat src/*.txt src/deep/nested/*.txt > static/bundle.txt
echo run >> "$HOOK_LOG"
"""


def _app(root, log):
    write(root, {
        "requirements.txt": "# no dependencies yet\n",
        "wsgi.py": "def application(environ, start_response):\n    start_response('200 OK', [])\n    return [b'hi']\n",
        "src/a.txt": "alpha\n",
        "src/deep/nested/b.txt": "beta\n",
        ".gitignore": "*.log\nscratch/\n",
        "bin/post_compile": HOOK,
    })
    (root / "bin" / "post_compile").chmod(0o755)
    return {"HOOK_LOG": str(log)}


def _build(root, env):
    result = warp("build", "--json", cwd=root, env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_source_change_reruns_app_steps_only_and_dependency_change_reruns_both(tmp_path):
    root, log = tmp_path / "app", tmp_path / "hook.log"
    env = _app(root, log)
    first = _build(root, env)
    assert first["noop"] is False and first["steps"] == "all"
    assert (root / "static" / "bundle.txt").read_text() == "alpha\nbeta\n"
    assert log.read_text().count("run") == 1

    # Nothing changed (the hook's own output included): a no-op.
    assert _build(root, env)["noop"] is True
    assert log.read_text().count("run") == 1

    # A source file deep in the tree: the hook again, nothing installed.
    (root / "src" / "deep" / "nested" / "b.txt").write_text("beta two\n")
    second = _build(root, env)
    assert second["noop"] is False and second["steps"] == "app"
    assert [pack["name"] for pack in second["buildpacks"]] == []
    assert second["changes"] == {"added": {}, "removed": [], "upgraded": {}}
    assert (root / "static" / "bundle.txt").read_text() == "alpha\nbeta two\n"
    assert log.read_text().count("run") == 2

    # What .gitignore leaves out, caches and warp's state are not sources.
    (root / "debug.log").write_text("noise\n")
    (root / "scratch").mkdir()
    (root / "scratch" / "notes.txt").write_text("noise\n")
    (root / "src" / "__pycache__").mkdir()
    (root / "src" / "__pycache__" / "x.pyc").write_bytes(b"\0")
    assert _build(root, env)["noop"] is True

    # Touched but not changed: metadata differs, content does not; still a no-op.
    os.utime(root / "src" / "a.txt")
    assert _build(root, env)["noop"] is True

    # A dependency file: both steps.
    (root / "requirements.txt").write_text("# still none, but the file changed\n")
    third = _build(root, env)
    assert third["noop"] is False and third["steps"] == "all"
    assert [pack["name"] for pack in third["buildpacks"]] == ["requirements"]
    assert log.read_text().count("run") == 3


def test_a_new_file_and_a_removed_file_are_changes(tmp_path):
    root, log = tmp_path / "app", tmp_path / "hook.log"
    env = _app(root, log)
    _build(root, env)
    (root / "src" / "c.txt").write_text("gamma\n")
    assert _build(root, env)["steps"] == "app"
    assert (root / "static" / "bundle.txt").read_text() == "alpha\ngamma\nbeta\n"
    (root / "src" / "c.txt").unlink()
    assert _build(root, env)["steps"] == "app"
    assert (root / "static" / "bundle.txt").read_text() == "alpha\nbeta\n"
    assert log.read_text().count("run") == 3
