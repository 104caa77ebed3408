"""Build context: .dockerignore with Docker's rules, warp's defaults, a
reproducible tar, and dependency files found for the early layer."""

import io
import os
import tarfile

from warp.image.context import app_paths, dependency_files, ignore_patterns, make_context

from support import write


def make_app(root):
    files = {
        "app.py": "app = None\n",
        "requirements.txt": "flask>=2\n",
        "pkg/__init__.py": "",
        "pkg/__pycache__/x.cpython-311.pyc": "junk",
        ".git/HEAD": "ref: refs/heads/main\n",
        ".warp/venv/pyvenv.cfg": "home = /usr\n",
        ".warp/envs/abc/pyvenv.cfg": "home = /usr\n",
        ".warp/hooks/build": "#!/bin/sh\n",
        ".warp/tree.json": "{}",
        ".warp/build.lock": "",
        "notes/secret.txt": "s3cret\n",
        "notes/keep.txt": "keep\n",
    }
    write(root, files, dedent=False)
    os.chmod(root / ".warp/hooks/build", 0o755)
    return root


def test_defaults_keep_vcs_venvs_and_caches_out(tmp_path):
    app = make_app(tmp_path)
    paths = app_paths(app, ignore_patterns(app))
    assert "app.py" in paths and "pkg/__init__.py" in paths
    assert ".warp/hooks/build" in paths
    for gone in (".git/HEAD", ".warp/venv/pyvenv.cfg", ".warp/envs/abc/pyvenv.cfg", "pkg/__pycache__/x.cpython-311.pyc",
                 ".warp/tree.json", ".warp/build.lock"):
        assert gone not in paths


def test_dockerignore_excludes_and_reincludes(tmp_path):
    app = make_app(tmp_path)
    (app / ".dockerignore").write_text("# notes stay home\nnotes/\n!notes/keep.txt\n!.git\n")
    paths = app_paths(app, ignore_patterns(app))
    assert "notes/secret.txt" not in paths
    assert "notes/keep.txt" in paths
    assert ".git/HEAD" in paths  # the app's own pattern wins over warp's default


def test_a_venv_set_elsewhere_in_the_app_is_excluded(tmp_path):
    app = make_app(tmp_path)
    (app / "env/bin").mkdir(parents=True)
    (app / "env/bin/python").write_text("")
    assert "env/bin/python" not in app_paths(app, ignore_patterns(app, venv=app / "env"))


def test_tar_is_reproducible_and_owner_free(tmp_path):
    app = make_app(tmp_path)
    patterns = ignore_patterns(app)
    os.utime(app / "app.py", (1234567, 1234567))
    warp_files = {"build/pip.conf": b"[global]\n", "entrypoint.sh": (b"#!/bin/sh\n", 0o755)}
    first = make_context(app, "FROM b\n", warp_files, patterns)
    os.chmod(app / "app.py", 0o600)  # umask noise must not change the bytes
    second = make_context(app, "FROM b\n", warp_files, patterns)
    assert first.data == second.data
    with tarfile.open(fileobj=io.BytesIO(first.data)) as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert names == sorted(names)
    assert "Dockerfile" in names and "app/app.py" in names and "warp/build/pip.conf" in names
    assert all(m.uid == 0 and m.gid == 0 and m.uname == "" and m.gname == "" for m in members)
    # The app's files keep their mtime (Last-Modified of static files); warp's are 0.
    assert {m.name: m.mtime for m in members}["app/app.py"] == 1234567
    assert all(m.mtime == 0 for m in members if not m.name.startswith("app/") or m.isdir())
    modes = {m.name: m.mode for m in members}
    assert modes["app/.warp/hooks/build"] == 0o755
    assert modes["app/app.py"] == 0o644
    assert modes["warp/entrypoint.sh"] == 0o755


def test_dependency_files_follow_includes(tmp_path):
    (tmp_path / "requirements.txt").write_text("-r requirements/base.txt\n--constraint=constraints.txt\nflask  # web\n")
    (tmp_path / "requirements").mkdir()
    (tmp_path / "requirements/base.txt").write_text("requests==2.31.0\n")
    (tmp_path / "constraints.txt").write_text("urllib3<3\n")
    deps = dependency_files(tmp_path)
    assert deps.files == ("constraints.txt", "requirements.txt", "requirements/base.txt")
    assert deps.prefetch == ("requirements.txt",)


def test_local_paths_mean_no_early_layer(tmp_path):
    for line in ("-e .", "./libs/mylib", "mylib @ file:///src/mylib", "dist/mylib-1.0-py3-none-any.whl"):
        (tmp_path / "requirements.txt").write_text(f"flask\n{line}\n")
        deps = dependency_files(tmp_path)
        assert deps.prefetch == (), line
        assert "local path" in deps.reason


def test_no_requirements_file_or_other_package_manager(tmp_path):
    assert dependency_files(tmp_path).reason == "no requirements.txt"
    (tmp_path / "requirements.txt").write_text("flask\n")
    assert dependency_files(tmp_path, "poetry").prefetch == ()
    (tmp_path / "requirements.txt").write_text("-r ../outside.txt\n")
    assert "outside" in dependency_files(tmp_path).reason


def test_a_dockerignored_requirements_file_means_no_early_layer(tmp_path):
    (tmp_path / "requirements.txt").write_text("-r extra.txt\nflask\n")
    (tmp_path / "extra.txt").write_text("requests\n")
    (tmp_path / ".dockerignore").write_text("extra.txt\n")
    included = set(app_paths(tmp_path, ignore_patterns(tmp_path)))
    deps = dependency_files(tmp_path, included=included)
    assert deps.prefetch == () and "extra.txt is left out by .dockerignore" == deps.reason
