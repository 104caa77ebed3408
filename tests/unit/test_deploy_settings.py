"""The deploy settings: a `deploy:` mapping in warp.yaml, and the value types they add."""

import pytest

from warp.core.errors import ConfigError
from warp.core.config import load_config


def config_of(tmp_path, text, environ=None, flags=None):
    (tmp_path / "warp.yaml").write_text(text)
    return load_config(tmp_path, environ=environ or {}, flags=flags)


def test_deploy_mapping_sets_the_prefixed_settings(tmp_path):
    config = config_of(tmp_path, "deploy:\n  scale: {web: 3, worker: 0}\n  memory: 512M\n  cpus: 0.5\n"
                                 "  env:\n    DEBUG: false\n    LEVEL: 2\n")
    assert config.deploy_scale == {"web": 3, "worker": 0}
    assert config.deploy_memory == 512 * 1024 * 1024
    assert config.deploy_cpus == 0.5
    assert config.deploy_env == {"DEBUG": "false", "LEVEL": "2"}
    assert config.source("deploy_scale") == "warp.yaml"


def test_flags_and_environment_win_over_the_mapping(tmp_path):
    config = config_of(tmp_path, "deploy:\n  scale: {web: 3}\n", environ={"WARP_DEPLOY_MEMORY": "1Gi"},
                       flags={"deploy_scale": ["web=2", "worker=1"], "deploy_env": ["A=1=2"]})
    assert config.deploy_scale == {"web": 2, "worker": 1}
    assert config.deploy_memory == 1024 ** 3
    assert config.deploy_env == {"A": "1=2"}


@pytest.mark.parametrize("text, words", [
    ("deploy: 3\n", "warp.yaml:1: deploy: expected a mapping"),
    ("deploy:\n  scael: {web: 2}\n", "warp.yaml:2: unknown setting 'deploy_scael' (did you mean deploy_scale?)"),
    ("deploy:\n  scale: {web: many}\n", "warp.yaml:2: deploy_scale="),
    ("deploy:\n  memory: lots\n", "expected a size such as 512M"),
    ("deploy:\n  env: [A]\n", "expected NAME=VALUE"),
])
def test_bad_deploy_values_name_the_line(tmp_path, text, words):
    with pytest.raises(ConfigError) as caught:
        config_of(tmp_path, text)
    assert words in str(caught.value)
