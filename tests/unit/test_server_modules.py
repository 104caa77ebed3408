"""Every launch/<server>.py module declares the whole contract the launcher reads,
so the launcher reads each name directly instead of guessing a default."""

import pytest

from warp.core.settings import SERVERS
from warp.launch import server_module


@pytest.mark.parametrize("name", SERVERS)
def test_server_module_declares_the_contract(name):
    module = server_module(name)
    assert isinstance(module.REQUIREMENTS, tuple)
    assert isinstance(module.NATIVE_STATIC, bool)
    assert isinstance(module.ALWAYS_SHIM, bool)
    assert set(module.INTERFACES) <= {"wsgi", "asgi"} and module.INTERFACES
    assert callable(module.command)
