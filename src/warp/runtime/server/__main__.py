"""``python -m warp.runtime.server module:callable --bind ... --workers N``

Runs in the application's own interpreter: standard library only.
"""

import sys

from warp.runtime.server.config import ConfigError, parse_args


def main(argv=None) -> int:
    try:
        config = parse_args(argv)
    except ConfigError as exc:
        print(f"warp.runtime.server: error: {exc}", file=sys.stderr)
        return 2
    from warp.runtime.server.arbiter import Arbiter
    return Arbiter(config).run()


if __name__ == "__main__":
    sys.exit(main())
