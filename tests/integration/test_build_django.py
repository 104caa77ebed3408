"""A project made by `django-admin startproject`, built by warp: collectstatic and the migrate hook."""

import json
import os

import pytest

from warp.core.environment import runtime_environ
from warp.build.hooks import run_hook
from warp.core.project import open_project

from support import warp


@pytest.fixture(scope="module")
def django_project(tmp_path_factory):
    """Django installed by a first build, then `startproject` run inside the app's environment."""
    root = tmp_path_factory.mktemp("django")
    (root / "requirements.txt").write_text("django\n")
    first = warp("build", cwd=root)
    assert first.returncode == 0, first.stderr
    made = warp("exec", "django-admin", "startproject", "mysite", ".", cwd=root)
    assert made.returncode == 0, made.stderr
    assert (root / "manage.py").is_file()
    return root


def test_build_collects_static_files_with_a_default_static_root(django_project):
    result = warp("build", "--json", cwd=django_project)
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["noop"] is False  # the new project's files are sources
    packs = {pack["name"]: pack for pack in record["buildpacks"]}
    # Only the app steps: Django was installed by the first build and requirements.txt did not change.
    assert record["steps"] == "app" and list(packs) == ["django"]
    assert packs["django"]["result"]["collectstatic"] == "ran"
    assert (django_project / "staticfiles" / "admin" / "css" / "base.css").is_file()
    assert "Django" in record["packages"]
    check = warp("exec", "python", "manage.py", "check", cwd=django_project)
    assert check.returncode == 0, check.stderr
    again = warp("build", "--json", cwd=django_project)
    assert json.loads(again.stdout)["noop"] is True


def test_disable_collectstatic_is_honoured(django_project):
    result = warp("build", "--json", cwd=django_project, env={"DISABLE_COLLECTSTATIC": "1"})
    assert result.returncode == 0, result.stderr
    packs = {pack["name"]: pack for pack in json.loads(result.stdout)["buildpacks"]}
    assert packs["django"]["result"]["collectstatic"] == "skipped"


def test_standard_migrate_hook_migrates_before_start(django_project):
    assert not (django_project / "db.sqlite3").exists()
    project = open_project(django_project, environ=dict(os.environ, WARP_MIGRATE="1"))
    lines = []
    ran = run_hook(project, "deploy", runtime_environ(project), lines.append)
    assert ran == ["warp's django-migrate/deploy"]
    assert any("Applying auth" in line for line in lines)
    assert (django_project / "db.sqlite3").is_file()


def test_disable_collectstatic_from_the_s2i_environment_file(django_project):
    """Environment files act at build as at start: s2i users keep their switch."""
    (django_project / ".s2i").mkdir()
    (django_project / ".s2i" / "environment").write_text("DISABLE_COLLECTSTATIC=1\n")
    try:
        result = warp("build", "--json", cwd=django_project)
    finally:
        (django_project / ".s2i" / "environment").unlink()
        (django_project / ".s2i").rmdir()
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    packs = {pack["name"]: pack for pack in record["buildpacks"]}
    assert packs["django"]["result"]["collectstatic"] == "skipped"
    assert record["settings"]["disable_collectstatic"] is True


def test_static_files_outside_the_app_static_folders_are_collected_again_when_changed(django_project):
    """STATICFILES_DIRS at depth two: the whole source tree keys collectstatic, not a guess at its folders."""
    settings = django_project / "mysite" / "settings.py"
    if "STATICFILES_DIRS" not in settings.read_text():
        settings.write_text(settings.read_text() + '\nSTATICFILES_DIRS = [BASE_DIR / "frontend" / "dist"]\n')
    source = django_project / "frontend" / "dist" / "app.css"
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_text("body { color: red }\n")
    first = warp("build", "--json", cwd=django_project)
    assert first.returncode == 0, first.stderr
    collected = django_project / "staticfiles" / "app.css"
    assert collected.read_text() == "body { color: red }\n"
    assert json.loads(warp("build", "--json", cwd=django_project).stdout)["noop"] is True
    source.write_text("body { color: blue }\n")
    # An edit in the same second as the last collection: collectstatic compares to the
    # second and would keep the stale copy unless warp makes it collect afresh.
    stamp = collected.stat().st_mtime
    os.utime(source, (stamp, stamp))
    again = warp("build", "--json", cwd=django_project)
    assert again.returncode == 0, again.stderr
    record = json.loads(again.stdout)
    assert record["noop"] is False and record["steps"] == "app"
    assert [pack["name"] for pack in record["buildpacks"]] == ["django"]  # nothing installed
    assert collected.read_text() == "body { color: blue }\n"
