"""``python -m warp.runtime.server module:callable --bind ... --workers N``

Runs in the application's own interpreter: standard library only.
"""

import sys
from typing import Optional, Sequence

from warp.runtime.server.config import ConfigError, describe, parse_command_line


def main(argv: Optional[Sequence[str]] = None) -> int:
    try:
        config, print_only = parse_command_line(argv)
    except ConfigError as exc:
        print(f"warp.runtime.server: error: {exc}", file=sys.stderr)
        return exc.exit_code
    if print_only:
        print(describe(config))
        return 0
    from warp.runtime.server.arbiter import Arbiter
    return Arbiter(config).run()


if __name__ == "__main__":
    sys.exit(main())
