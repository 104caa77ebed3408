"""Loading the application the bundled server serves: module:callable, and factories as gunicorn takes them."""

import sys

import pytest

from warp.runtime.server.app import AppLoadError, load_app

from support import write


@pytest.fixture
def importable(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in [n for n in sys.modules if n.startswith("factoryapp")]:
        del sys.modules[name]


def test_factory_is_called_with_literal_arguments(importable):
    write(importable, {"factoryapp.py": '''
        def create_app(name="default", *, debug=False):
            def app(environ, start_response):
                return [f"{name} {debug}".encode()]
            return app
    '''})
    assert load_app("factoryapp:create_app()")(None, None) == [b"default False"]
    assert load_app("factoryapp:create_app('prod', debug=True)")(None, None) == [b"prod True"]


def test_factory_with_non_literal_arguments_or_raising_is_one_clear_error(importable):
    write(importable, {"factoryapp.py": '''
        def create_app(value=None):
            raise RuntimeError("no database")
    '''})
    with pytest.raises(AppLoadError, match="must be Python literals"):
        load_app("factoryapp:create_app(os.environ)")
    with pytest.raises(AppLoadError, match=r"factory factoryapp:create_app\(\) raised RuntimeError: no database"):
        load_app("factoryapp:create_app()")
