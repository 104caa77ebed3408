"""warp.app.django: the one finder of a Django app's settings module."""

from warp.app.django import find_settings, manage_settings

MANAGE = '''import os, sys
def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", 'mysite.settings')
'''


def test_manage_py_names_the_settings(tmp_path):
    assert manage_settings(tmp_path) is None
    (tmp_path / "manage.py").write_text(MANAGE)
    assert manage_settings(tmp_path) == "mysite.settings"
    found = find_settings(tmp_path, {})
    assert (found.module, found.source) == ("mysite.settings", "manage.py")


def test_the_environment_wins_as_in_django(tmp_path):
    (tmp_path / "manage.py").write_text(MANAGE)
    found = find_settings(tmp_path, {"DJANGO_SETTINGS_MODULE": "mysite.settings_prod"})
    assert (found.module, found.source) == ("mysite.settings_prod", "environment")
    assert "environment" in found.reason


def test_without_manage_py_a_settings_file_with_installed_apps(tmp_path):
    (tmp_path / "config").mkdir()
    (tmp_path / "config/settings.py").write_text("INSTALLED_APPS = []\n")
    (tmp_path / "other").mkdir()
    (tmp_path / "other/settings.py").write_text("DEBUG = True\n")
    files = [tmp_path / "other/settings.py", tmp_path / "config/settings.py"]
    found = find_settings(tmp_path, {}, files)
    assert (found.module, found.source) == ("config.settings", "settings.py")
    assert "config/settings.py defines INSTALLED_APPS" == found.reason
    assert find_settings(tmp_path, {}, files[:1]).module is None
