"""The errors warp reports to people and to CI.

Library code raises these instead of printing or exiting; the CLI turns one
into a single line on stderr and the exit code it carries. A message says what
is wrong and where; ``hint`` says how to fix it.
"""

from typing import Optional

EXIT_OK = 0
EXIT_FAILURE = 1  # the build, the server or the engine failed
EXIT_USAGE = 2  # the user asked for something wrong: flags, warp.yaml, folder


class WarpError(Exception):
    exit_code = EXIT_FAILURE

    def __init__(self, message: str, hint: Optional[str] = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} ({self.hint})"
        return self.message


class UsageError(WarpError):
    """Bad flags, missing folder, nothing to act on."""

    exit_code = EXIT_USAGE


class ConfigError(UsageError):
    """warp.yaml, WARP_* variables or flags hold something warp cannot use."""


class DetectError(UsageError):
    """The folder is not an application warp recognises, or is ambiguous."""


class BuildError(WarpError):
    """Installing dependencies, running a hook or collecting static files failed."""


class StartError(WarpError):
    """The application cannot be started."""
