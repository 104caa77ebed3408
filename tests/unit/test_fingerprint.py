"""The source tree's fingerprint: what counts as source, and content read only where metadata changed."""

import os
import time

from warp.build.fingerprint import CACHE, source_tree

from support import write


def _age(root, seconds=3600):
    """Every file's mtime moved into the past, as files long unchanged are (so the cache may trust them)."""
    past = time.time() - seconds
    for folder, _, files in os.walk(root):
        for name in files:
            os.utime(os.path.join(folder, name), (past, past))


def test_unchanged_tree_is_read_from_metadata_only(tmp_path):
    root, state = tmp_path / "app", tmp_path / "state"
    write(root, {f"pkg/m{i}.py": f"x = {i}\n" for i in range(50)})
    _age(root)
    first = source_tree(root, state)
    assert (first.files, first.hashed) == (50, 50)
    assert (state / CACHE).is_file()
    second = source_tree(root, state)
    assert second.digest == first.digest and second.hashed == 0


def test_content_change_with_the_same_size_and_a_touch_without_change(tmp_path):
    root, state = tmp_path / "app", tmp_path / "state"
    write(root, {"a.py": "x = 1\n", "b.py": "y = 2\n"})
    _age(root)
    before = source_tree(root, state)
    (root / "a.py").write_text("x = 9\n")
    _age(root, 1800)
    changed = source_tree(root, state)
    assert changed.digest != before.digest and changed.hashed == 2
    (root / "a.py").write_text("x = 1\n")
    _age(root, 900)
    assert source_tree(root, state).digest == before.digest


def test_executable_bit_is_part_of_the_tree(tmp_path):
    root, state = tmp_path / "app", tmp_path / "state"
    write(root, {"run.sh": "echo hi\n"})
    before = source_tree(root, state).digest
    (root / "run.sh").chmod(0o755)
    assert source_tree(root, state).digest != before


def test_what_is_never_source_is_left_out(tmp_path):
    root, state = tmp_path / "app", tmp_path / "state"
    write(root, {"app.py": "x = 1\n", ".gitignore": "*.log\n/build/\ndocs/_out\n!keep.log\n",
                 ".dockerignore": "secrets\n"})
    base = source_tree(root, state)
    write(root, {
        ".warp/build.json": "{}", ".git/HEAD": "ref", "pkg/__pycache__/m.cpython-312.pyc": "x",
        "venv/pyvenv.cfg": "home = /usr", "venv/lib/site.py": "x", "node_modules/x/index.js": "x",
        "server.log": "x", "sub/deeper.log": "x", "build/out.txt": "x", "docs/_out/index.html": "x",
        "secrets/key": "x", ".mypy_cache/x": "x",
    })
    assert source_tree(root, state).digest == base.digest
    # Not left out: a negated pattern, a nested build/ (the pattern is anchored), .gitignore'd names elsewhere.
    write(root, {"keep.log": "x"})
    with_keep = source_tree(root, state)
    assert with_keep.digest != base.digest
    write(root, {"src/build/out.txt": "x"})
    assert source_tree(root, state).digest != with_keep.digest


def test_skip_leaves_out_a_named_path(tmp_path):
    root, state = tmp_path / "app", tmp_path / "state"
    write(root, {"app.py": "x = 1\n"})
    base = source_tree(root, state)
    write(root, {"envs/here/bin/python": "x"})
    assert source_tree(root, state, skip=("envs/here",)).digest == base.digest
