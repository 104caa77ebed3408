"""Reading TOML files of an application, with errors that say file:line.

tomllib is in the standard library from Python 3.11; before that warp depends
on tomli, the same parser under its original name.
"""

from pathlib import Path
from typing import Any, Dict, Type
import re
import sys

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

from warp.core.errors import DetectError, WarpError


def load_toml(path: Path, error: Type[WarpError] = DetectError) -> Dict[str, Any]:
    """The parsed TOML file at ``path``; ``error`` (file:line) when it is not valid TOML."""
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        # tomllib says "... (at line 3, column 5)"; turn that into path:3.
        text = str(exc)
        match = re.search(r"\(at line (\d+), column \d+\)", text)
        where = f"{path}:{match.group(1)}" if match else str(path)
        problem = re.sub(r"\s*\(at line \d+, column \d+\)", "", text)
        raise error(f"{where}: invalid TOML: {problem}", f"fix the syntax of {path.name}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{path}: cannot read: {exc}", f"make {path.name} a readable UTF-8 file") from None
