"""The Django buildpack on a project made by the real `django-admin startproject`."""

import shutil

import pytest

from warp.core.errors import BuildError

from support.buildpacks import build


@pytest.fixture
def project(django_env, tmp_path):
    python, template = django_env
    root = tmp_path / "app"
    shutil.copytree(template, root)
    return python, root


def test_collectstatic_defaults_static_root_when_settings_lack_it(project):
    python, root = project
    settings_before = (root / "mysite" / "settings.py").read_text()
    assert "STATIC_ROOT" not in settings_before  # what startproject writes
    (root / "mysite" / "settings.py").write_text(settings_before + "\nSTATICFILES_DIRS = [BASE_DIR / 'mysite' / 'static']\n")
    _, results = build(root, python=python)
    django = results[-1]
    assert django["collectstatic"] == "ran"
    assert django["static_root_defaulted"] is True
    assert django["static_root"] == str(root / "staticfiles")
    assert (root / "staticfiles" / "admin" / "css" / "base.css").is_file()
    assert (root / "staticfiles" / "site.css").read_text() == "body { color: #333 }\n"
    # The app's files are untouched and no wrapper is left behind.
    assert "STATIC_ROOT" not in (root / "mysite" / "settings.py").read_text()
    assert not list(root.glob("warp_*"))


def test_collectstatic_uses_the_settings_static_root(project):
    python, root = project
    settings = root / "mysite" / "settings.py"
    settings.write_text(settings.read_text() + "\nSTATIC_ROOT = BASE_DIR / 'public'\n")
    _, results = build(root, python=python)
    assert results[-1]["static_root_defaulted"] is False
    assert (root / "public" / "admin" / "css" / "base.css").is_file()
    assert not (root / "staticfiles").exists()


def test_disable_collectstatic_is_honoured(project):
    python, root = project
    _, results = build(root, {"DISABLE_COLLECTSTATIC": "1"}, python=python)
    assert results[-1]["collectstatic"] == "skipped"
    assert "DISABLE_COLLECTSTATIC" in results[-1]["reason"]
    assert not (root / "staticfiles").exists()


def test_broken_settings_fail_the_build_in_one_line(project):
    python, root = project
    settings = root / "mysite" / "settings.py"
    settings.write_text(settings.read_text() + "\nimport no_such_module_for_warp\n")
    with pytest.raises(BuildError) as info:
        build(root, python=python)
    text = str(info.value)
    assert "\n" not in text
    assert "mysite.settings" in text and "no_such_module_for_warp" in text and "DISABLE_COLLECTSTATIC" in text
