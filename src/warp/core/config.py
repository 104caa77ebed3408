"""``warp.yaml`` and the resolution of every warp setting for one application.

The declarations live in ``warp.core.settings`` (standard library only); this
module adds what needs PyYAML: reading ``warp.yaml`` with the line of each key,
so a bad value is reported as ``warp.yaml:LINE``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple
import difflib
import os

import yaml

from warp.core.errors import ConfigError
from warp.core.settings import BY_NAME, CONFIG_FILE, SECTIONS, config_settings, resolve


@dataclass(frozen=True)
class Config:
    """The effective value of every setting, and where each came from."""

    values: Dict[str, Any]
    sources: Dict[str, str]
    path: Optional[Path] = None  # the warp.yaml read, if any

    def __getattr__(self, name: str) -> Any:
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(name) from None

    def source(self, name: str) -> str:
        return self.sources[name]

    def as_rows(self) -> List[Dict[str, Any]]:
        return [
            {"name": s.name, "value": self.values[s.name], "source": self.sources[s.name]}
            for s in config_settings()
        ]


def read_config_file(app_dir: Any) -> Tuple[Path, Dict[Any, Tuple[Any, Optional[int]]]]:
    """Parsed warp.yaml of ``app_dir`` as {key: (value, line)}; empty if absent."""
    path = Path(app_dir) / CONFIG_FILE
    if not path.exists():
        return path, {}
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}", "make it a readable UTF-8 YAML file") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{where}: invalid YAML: {problem}", "fix the syntax of warp.yaml") from None
    if data is None or node is None:
        return path, {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}:1: expected a mapping of settings at the top level", "write `key: value` lines, e.g. `server: gunicorn`")
    lines = {}
    for key_node, value_node in node.value:
        lines[key_node.value] = key_node.start_mark.line + 1
        if key_node.value in SECTIONS and isinstance(value_node, yaml.MappingNode):
            for sub_key, _ in value_node.value:
                lines[SECTIONS[key_node.value] + str(sub_key.value)] = sub_key.start_mark.line + 1
    result = {}
    for key, value in data.items():
        if key in SECTIONS:
            if not isinstance(value, dict):
                raise ConfigError(f"{path}:{lines.get(str(key))}: {key}: expected a mapping of settings",
                                  f"write e.g. `{key}:` then indented `key: value` lines")
            for sub_key, sub_value in value.items():
                name = SECTIONS[key] + str(sub_key)
                result[name] = (sub_value, lines.get(name))
            continue
        result[key] = (value, lines.get(str(key)))
    return path, result


def load_config(
    app_dir: Any = ".",
    environ: Optional[Mapping[str, str]] = None,
    flags: Optional[Mapping[str, Any]] = None,
    detected: Optional[Mapping[str, Any]] = None,
) -> Config:
    """Resolve every setting for the app in ``app_dir``.

    ``flags`` holds values given on the command line (None meaning not given),
    ``detected`` values warp found in the application itself.
    """
    environ = os.environ if environ is None else environ
    path, file_values = read_config_file(app_dir)
    known = {s.name for s in config_settings()}
    for key, (_, line) in file_values.items():
        if key in known:
            continue
        if key in BY_NAME:
            setting = BY_NAME[key]
            raise ConfigError(
                f"{path}:{line}: {key} is a setting of the bundled server only, not of warp.yaml",
                f"set {setting.env_names[0]} in the environment, or pass {setting.flag} through server_args",
            )
        near = difflib.get_close_matches(str(key), sorted(known), n=1)
        hint = f"did you mean {near[0]}?" if near else "see `warp config` for the known settings"
        raise ConfigError(f"{path}:{line}: unknown setting {key!r}", hint)
    located = {key: (raw, f"{path}:{line}") for key, (raw, line) in file_values.items()}
    values, sources = resolve(config_settings(), environ, flags=flags, file_values=located, detected=detected)
    return Config(values=values, sources=sources, path=path if file_values else None)
