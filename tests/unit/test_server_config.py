"""The bundled server's settings, derived from the registry (warp.core.settings)."""

import pytest

from warp.core import errors
from warp.core.settings import SERVER, SETTINGS
from warp.runtime.server.config import ConfigError, ServerConfig, build_parser, parse_args, settings


def test_flags_beat_environment_which_beats_defaults():
    env = {"WEB_CONCURRENCY": "3", "WARP_TIMEOUT": "12", "PORT": "9000"}
    cfg = parse_args(["app:application", "--workers", "5"], env)
    assert cfg.workers == 5 and cfg.sources["workers"] == "flag"
    assert cfg.timeout == 12 and cfg.sources["timeout"] == "env WARP_TIMEOUT"
    assert cfg.bind == ("0.0.0.0:9000",) and cfg.sources["bind"] == "default"
    assert cfg.max_requests == 0 and cfg.sources["max_requests"] == "default"


def test_port_defaults_to_8080_and_bind_repeats():
    assert parse_args(["app"], {}).bind == ("0.0.0.0:8080",)
    cfg = parse_args(["app", "-b", "127.0.0.1:1", "--bind", "unix:/tmp/x.sock"], {})
    assert cfg.bind == ("127.0.0.1:1", "unix:/tmp/x.sock")
    assert parse_args(["app"], {"WARP_BIND": "[::1]:5, 127.0.0.1:6"}).bind == ("[::1]:5", "127.0.0.1:6")
    assert parse_args(["app"], {"HOST": "::1", "WARP_PORT": "81"}).bind == ("[::1]:81",)


@pytest.mark.parametrize("argv, env, word", [
    (["app", "--workers", "0"], {}, "--workers"),
    (["app"], {"WEB_CONCURRENCY": "many"}, "WEB_CONCURRENCY"),
    (["app", "--timeout", "-1"], {}, "--timeout"),
    (["app", "--access-log-format", "xml"], {}, "--access-log-format"),
    ([":app"], {}, "module:callable"),
    ([], {}, "module:callable"),
])
def test_bad_values_name_the_setting(argv, env, word):
    with pytest.raises(ConfigError, match=word):
        parse_args(argv, env)


def test_the_server_error_is_warps_config_error():
    assert ConfigError is errors.ConfigError
    with pytest.raises(errors.UsageError):
        parse_args(["app", "--threads", "x"], {})


def test_seconds_and_log_levels_as_warp_reads_them():
    cfg = parse_args(["app"], {"WARP_TIMEOUT": "2.5", "WARP_LOG_LEVEL": "critical"})
    assert (cfg.timeout, cfg.log_level) == (2.5, "critical")


def test_entry_point_from_the_environment():
    assert parse_args([], {"APP_MODULE": "site.wsgi:application"}).entrypoint == "site.wsgi:application"
    assert parse_args(["a:b"], {"APP_MODULE": "site.wsgi:application"}).app == "a:b"


def test_boolean_env():
    assert parse_args(["app"], {"WARP_PRELOAD": "yes"}).preload is True
    assert parse_args(["app"], {"WARP_PRELOAD": "0"}).preload is False
    assert parse_args(["app", "--preload"], {}).preload is True


def test_config_is_immutable_and_knows_only_server_settings():
    cfg = ServerConfig(app="a:b", workers=2)
    with pytest.raises(AttributeError):
        cfg.workers = 3
    assert cfg.with_changes(workers=3).workers == 3 and cfg.workers == 2
    with pytest.raises(TypeError):
        ServerConfig(server_args=["x"])


def test_every_server_setting_has_a_flag_env_variable_and_doc_in_help():
    text = build_parser().format_help()
    assert settings() == [s for s in SETTINGS if SERVER in s.commands]
    for setting in settings():
        assert setting.doc and setting.env_names[0] == "WARP_" + setting.name.upper()
        if setting.positional:
            assert setting.positional in text
        else:
            assert setting.flag.startswith("--") and setting.flag in text, setting.name
