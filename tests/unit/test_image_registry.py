"""Pushing: which registry a name names, and messages without credentials."""

from warp.image.registry import _said, registry_of, split_reference


def test_registry_of_a_reference():
    assert registry_of("127.0.0.1:5000/team/app:1") == "127.0.0.1:5000"
    assert registry_of("registry.example.invalid/app") == "registry.example.invalid"
    assert registry_of("localhost/app") == "localhost"
    assert registry_of("team/app:1") is None
    assert registry_of("app") is None


def test_split_reference():
    assert split_reference("127.0.0.1:5000/team/app:1") == ("127.0.0.1:5000/team/app", "1")
    assert split_reference("127.0.0.1:5000/team/app") == ("127.0.0.1:5000/team/app", "latest")


def test_messages_lose_what_looks_like_a_credential():
    said = _said("unauthorized: authentication required\n token=abc123, Authorization: Basic dXNlcjpwdw== "
                 "at https://user:pw@registry.invalid/v2/")
    assert said.startswith("unauthorized: authentication required token=[hidden]")
    for secret in ("abc123", "dXNlcjpwdw==", "user:pw", "\n"):
        assert secret not in said
