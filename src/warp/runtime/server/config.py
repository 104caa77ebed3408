"""The bundled server's settings: derived from warp's one registry, ``warp.core.settings``.

The server reads every setting whose ``commands`` include ``server``: the
argparse options, the environment variables, the parsers and their error lines
all come from those declarations, so ``python -m warp.runtime.server`` and
``warp config`` accept and refuse the same raw values with the same words.
Precedence: command-line flag > environment > default. ``ServerConfig.sources``
records where each value came from so a confusing setup can be explained
(``--print-config`` shows it).

Standard library only: this runs inside the application's interpreter.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any, Dict, Iterator, Mapping, Optional, Sequence, Tuple

from warp.core.settings import ConfigError, Setting, resolve, server_settings
from warp.runtime.workers import default_workers

__all__ = ["ConfigError", "ServerConfig", "build_parser", "parse_args", "settings"]

# Names the server's callers used before the registry gave each setting one name.
_ALIASES = {"app": "entrypoint", "forwarded_allow_ips": "trusted_proxies"}


def settings() -> list:
    """The registry entries the server reads, in declaration order."""
    return server_settings()


def _frozen(value: Any) -> Any:
    """Lists become tuples: a config is shared by threads and must not change."""
    return tuple(value) if isinstance(value, list) else value


class ServerConfig:
    """Validated, immutable server settings: one attribute per server setting.

    Build it with :func:`parse_args`; ``ServerConfig(**values)`` fills the rest
    from the registry's defaults (tests and embedders use that).
    """

    __slots__ = ("_values", "sources")

    def __init__(self, sources: Optional[Mapping[str, str]] = None, **values: Any) -> None:
        known = {s.name: s for s in server_settings()}
        data: Dict[str, Any] = {name: _frozen(s.fresh_default()) for name, s in known.items()}
        for name, value in values.items():
            name = _ALIASES.get(name, name)
            if name not in known:
                raise TypeError(f"ServerConfig has no setting {name!r}")
            data[name] = _frozen(value)
        if not data["bind"]:
            data["bind"] = (_address(data["host"], data["port"]),)
        if not data["workers"]:
            data["workers"] = default_workers()[0]
        object.__setattr__(self, "_values", data)
        object.__setattr__(self, "sources", dict(sources or {}))

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[_ALIASES.get(name, name)]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("ServerConfig is immutable; use with_changes()")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ServerConfig) and self._values == other._values

    def __repr__(self) -> str:
        return "ServerConfig(" + ", ".join(f"{k}={v!r}" for k, v in self._values.items()) + ")"

    def __iter__(self) -> Iterator[Tuple[str, Any]]:
        return iter(self._values.items())

    def with_changes(self, **changes: Any) -> "ServerConfig":
        values = dict(self._values)
        values.update({_ALIASES.get(k, k): v for k, v in changes.items()})
        return ServerConfig(sources=self.sources, **values)

    def as_dict(self) -> Dict[str, Any]:
        return {name: (list(value) if isinstance(value, tuple) else value) for name, value in self._values.items()}


def _address(host: str, port: int) -> str:
    host = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"{host}:{port}"


def _help(setting: Setting) -> str:
    text = setting.doc
    if setting.default_doc:
        text += f" Default: {setting.default_doc}."
    elif setting.default not in (None, "", [], {}) and not setting.switch:
        default = ",".join(setting.default) if isinstance(setting.default, list) else setting.default
        text += f" Default: {default}."
    return text + " [env " + ", ".join(setting.env_names) + "]"


def build_parser(prog: str = "python -m warp.runtime.server") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="warp's prefork WSGI server: a master binds the sockets and supervises "
        "worker processes that import the application and serve requests.",
        epilog="Signals to the master: HUP graceful reload, TERM graceful stop, INT/QUIT "
        "fast stop, TTIN/TTOU one worker more/less, USR1 reopen log files.",
    )
    for setting in settings():
        help_text = _help(setting).replace("%", "%%")
        if setting.positional:
            parser.add_argument(setting.name, metavar=setting.positional, nargs="?", default=None, help=help_text)
            continue
        if not setting.flag:
            continue
        kwargs: Dict[str, Any] = {"dest": setting.name, "help": help_text, "default": None}
        if setting.switch:
            kwargs.update(action="store_const", const=True)
        else:
            if setting.multiple:
                kwargs["action"] = "append"
            choices = getattr(setting.parse, "choices", ())
            if setting.metavar or choices:
                kwargs["metavar"] = setting.metavar or "{" + ",".join(choices) + "}"
        parser.add_argument(*setting.flags, **kwargs)
    parser.add_argument("--print-config", action="store_true",
                        help="print the settings as JSON (value and source of each), then exit")
    return parser


def parse_args(argv: Optional[Sequence[str]] = None,
               environ: Optional[Mapping[str, str]] = None) -> ServerConfig:
    """Build a ServerConfig from command-line arguments and the environment.

    Raises ConfigError for a bad value; argparse itself exits 2 for unknown flags.
    """
    return parse_command_line(argv, environ)[0]


def parse_command_line(argv: Optional[Sequence[str]] = None,
                       environ: Optional[Mapping[str, str]] = None) -> Tuple[ServerConfig, bool]:
    """(config, whether --print-config was asked)."""
    environ = os.environ if environ is None else environ
    namespace = build_parser().parse_args(argv)
    flags = {s.name: getattr(namespace, s.name, None) for s in settings()}
    values, sources = resolve(settings(), environ, flags=flags)
    app = values.get("entrypoint") or ""
    if not str(app).split(":", 1)[0].strip():
        entry = next(s for s in settings() if s.positional)
        raise ConfigError(f"{entry.positional}: expected the application as module:callable, e.g. myapp.wsgi:application",
                          "pass it as the first argument, or set " + " or ".join(entry.env_names))
    return ServerConfig(sources=sources, **values), bool(namespace.print_config)


def describe(config: ServerConfig) -> str:
    """The JSON ``--print-config`` prints: every setting's value and source."""
    return json.dumps({"ok": True, "settings": config.as_dict(), "sources": config.sources,
                       "workers_why": _workers_why(config)}, indent=2, sort_keys=True)


def _workers_why(config: ServerConfig) -> str:
    source = config.sources.get("workers", "default")
    if source != "default":
        return f"from {source}"
    return default_workers()[1]

