"""Where the code under test and the tests' own apps are."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# The source tree of this checkout: the warp that subprocesses must run, even when
# another checkout of warp is the one pip installed.
SRC = REPO / "src"
APPS = REPO / "tests" / "apps"
