"""Settings: one declaration, four sources, one precedence, clear errors."""

import pytest

from warp.core.errors import ConfigError
from warp.core.config import load_config
from warp.core.settings import SETTINGS


def write(tmp_path, text):
    (tmp_path / "warp.yaml").write_text(text)


def test_defaults_when_nothing_is_set(tmp_path):
    config = load_config(tmp_path, environ={})
    assert config.port == 8080
    assert config.server == "bundled"
    assert config.source("port") == "default"
    assert config.path is None


def test_precedence_flag_over_env_over_file_over_detected(tmp_path):
    write(tmp_path, "port: 9000\nentrypoint: file:app\n")
    detected = {"port": 7000, "entrypoint": "detected:app", "server": "uvicorn"}
    config = load_config(tmp_path, environ={}, detected=detected)
    assert (config.port, config.source("port")) == (9000, "warp.yaml")
    assert (config.server, config.source("server")) == ("uvicorn", "detected")
    config = load_config(tmp_path, environ={"PORT": "7100"}, detected=detected)
    assert (config.port, config.source("port")) == (7100, "env PORT")
    config = load_config(tmp_path, environ={"PORT": "7100", "WARP_PORT": "7200"})
    assert (config.port, config.source("port")) == (7200, "env WARP_PORT")
    config = load_config(tmp_path, environ={"WARP_PORT": "7200"}, flags={"port": "7300"})
    assert (config.port, config.source("port")) == (7300, "flag")


def test_conventional_variables_are_honoured(tmp_path):
    env = {"WEB_CONCURRENCY": "3", "APP_MODULE": "site.wsgi:application", "DISABLE_COLLECTSTATIC": "1"}
    config = load_config(tmp_path, environ=env)
    assert config.workers == 3
    assert config.entrypoint == "site.wsgi:application"
    assert config.disable_collectstatic is True


@pytest.mark.parametrize(
    "text, expected",
    [
        ("server: [\n", "warp.yaml:2: invalid YAML"),
        ("port: 80\nsever: gunicorn\n", "warp.yaml:2: unknown setting 'sever'"),
        ("port: abc\n", "warp.yaml:1: port='abc' is not valid: expected a whole number"),
        ("server: nginx\n", "warp.yaml:1: server='nginx' is not valid: expected one of bundled"),
        ("- port\n", "warp.yaml:1: expected a mapping"),
    ],
)
def test_bad_config_file_names_file_and_line(tmp_path, text, expected):
    write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path, environ={})
    assert expected in str(info.value)
    assert info.value.exit_code == 2


def test_unknown_setting_suggests_the_near_one(tmp_path):
    write(tmp_path, "sever: gunicorn\n")
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path, environ={})
    assert info.value.hint == "did you mean server?"


def test_bad_environment_value_names_the_variable(tmp_path):
    with pytest.raises(ConfigError, match="environment variable WEB_CONCURRENCY"):
        load_config(tmp_path, environ={"WEB_CONCURRENCY": "many"})


def test_static_map_from_yaml_and_from_string(tmp_path):
    write(tmp_path, "static:\n  static: public\n")
    assert load_config(tmp_path, environ={}).static == {"/static/": "public"}
    config = load_config(tmp_path, environ={"WARP_STATIC": "/s/=a,/media=b"})
    assert config.static == {"/s/": "a", "/media/": "b"}


def test_every_setting_has_doc_and_warp_env_name():
    for setting in SETTINGS:
        assert setting.doc
        assert setting.env_names[0] == "WARP_" + setting.name.upper()


def test_names_are_unique_and_each_command_takes_a_flag_once():
    from warp.core.settings import settings_for

    assert len({s.name for s in SETTINGS}) == len(SETTINGS)
    commands = {command for s in SETTINGS for command in s.commands}
    for command in commands:
        flags = [flag for s in settings_for(command) for flag in s.flags]
        assert len(flags) == len(set(flags)), command


def test_list_items_stay_whole_and_one_string_is_split(tmp_path):
    write(tmp_path, 'server_args: ["--hook-post-fork", "exec:mkdir a || { touch b; }"]\n')
    config = load_config(tmp_path, environ={"WARP_LOCK_GROUPS": "dev, test docs"}, flags={"extras": ["a", "b"]})
    assert config.server_args == ["--hook-post-fork", "exec:mkdir a || { touch b; }"]
    assert config.lock_groups == ["dev", "test", "docs"]
    assert config.extras == ["a", "b"]
