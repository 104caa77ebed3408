"""Forwarding the host's pip settings: only what works in a container."""


from warp.image.pipconf import build_files, parse_config_list, read_pip_config


def test_parse_prefers_env_over_install_over_global():
    lines = [
        "global.index-url='https://global.invalid/simple'",
        "install.index-url='https://install.invalid/simple'",
        "global.timeout='60'",
        ":env:.index-url='https://env.invalid/simple'",
        "not a setting line",
    ]
    assert parse_config_list(lines) == {"index-url": "https://env.invalid/simple", "timeout": "60"}


def test_only_http_urls_are_forwarded_and_local_files_become_content(tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    constraints = tmp_path / "constraints.txt"
    constraints.write_text("torch<=2\n")
    options = {
        "index-url": "https://mirror.invalid/simple",
        "extra-index-url": "file:///opt/pypi/simple https://u:p@extra.invalid/simple",
        "find-links": "/opt/wheels",
        "trusted-host": "mirror.invalid extra.invalid",
        "cert": str(ca),
        "constraint": str(constraints),
        "no-index": "false",
        "client-cert": "/home/me/key.pem",
    }
    out = build_files(options)
    conf = out.files["pip.conf"].decode()
    assert "index-url = https://mirror.invalid/simple" in conf
    assert "https://u:p@extra.invalid/simple" in conf
    assert "file://" not in conf and "/opt/wheels" not in conf
    assert "find-links" not in conf and "no-index" not in conf and "client-cert" not in conf
    assert "cert = /etc/warp-build/ca.pem" in conf
    assert "constraint = /etc/warp-build/constraints.txt" in conf
    assert "    mirror.invalid" in conf and "    extra.invalid" in conf
    assert out.files["ca.pem"] == ca.read_bytes()
    assert b"torch<=2" in out.files["constraints.txt"]
    assert out.environment == {"SSL_CERT_FILE": "/etc/warp-build/ca.pem", "REQUESTS_CA_BUNDLE": "/etc/warp-build/ca.pem"}
    assert "find-links=/opt/wheels" in out.dropped


def test_nothing_to_forward_gives_an_empty_global_section():
    out = build_files({})
    assert set(out.files) == {"pip.conf"}
    assert out.files["pip.conf"].decode().strip().endswith("[global]")
    assert out.environment == {}


def test_reads_pip_itself(tmp_path):
    # The real pip reads a config file named by PIP_CONFIG_FILE and PIP_* variables.
    conf = tmp_path / "pip.conf"
    conf.write_text("[global]\ntrusted-host = conf.invalid\n")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PIP_CONFIG_FILE": str(conf),
           "PIP_EXTRA_INDEX_URL": "https://env.invalid/simple"}
    options = read_pip_config(env)
    assert options["trusted-host"] == "conf.invalid"
    assert options["extra-index-url"] == "https://env.invalid/simple"
