"""The buildpack protocol, and where buildpacks are found.

A buildpack is a folder, ``<name>/buildpack.py``, whose module sets
``buildpack`` to an instance of a ``Buildpack`` subclass. The folder's name is
the buildpack's name (the value the ``package_manager`` setting takes). The
buildpack owns two things: its recognition (``detect``: which files make it
apply, and why, in words ``warp detect`` shows) and its build (``build``).
Everything else (exactly one package manager, the order, what a build's
fingerprint covers) is decided by ``warp.build.recognise`` from the
recognitions of every buildpack found, never from a table of names.

Buildpacks are looked for in the folders of the ``buildpacks_path`` setting,
then in warp's own ``buildpacks/``; a name found earlier hides the same name
later (as PATH does). So adding a package manager is one folder.

This is warp's own in-process protocol, not Cloud Native Buildpacks: see the
README, "How an app is recognised".
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterable, Optional, Union
import hashlib
import importlib.util
import sys

from warp.core.data import data_path
from warp.core.errors import ConfigError

KIND_PACKAGE_MANAGER = "package-manager"
KIND_FRAMEWORK = "framework"
KINDS = (KIND_PACKAGE_MANAGER, KIND_FRAMEWORK)
CODE_FILE = "buildpack.py"


@dataclass(frozen=True)
class Recognition:
    """A buildpack's answer about one app: whether it applies, why, and the files that decided it.

    ``files`` are the files that make it apply (or, when it does not, the ones
    it looked for), relative to the app. ``companions`` are files it also
    reads when it applies (a lock's project file): another buildpack that
    applies only because of such a file yields to this one. A recognition
    that does not apply but carries a ``hint`` is a near miss (a Pipfile
    without its lock, a misspelt requirements file): when no package manager
    applies, the build stops on it instead of building an app without its
    dependencies.
    """

    applies: bool
    reason: str
    files: tuple[str, ...] = ()
    companions: tuple[str, ...] = ()
    hint: Optional[str] = None


def applies(reason: str, files: Iterable[str], companions: Iterable[str] = ()) -> Recognition:
    return Recognition(True, reason, tuple(files), tuple(companions))


def does_not_apply(reason: str, looked_for: Iterable[str] = (), hint: Optional[str] = None) -> Recognition:
    return Recognition(False, reason, tuple(looked_for), hint=hint)


@dataclass(frozen=True)
class App:
    """What ``detect`` sees: the app's folder, its settings, and (for framework buildpacks) the app's facts.

    Package-manager buildpacks are asked first and see files only: their
    answer decides which declared dependencies the framework is read from.
    Framework buildpacks are asked after, with ``detection`` (a
    ``warp.app.detect.Detection``) filled in.
    """

    root: Path
    config: Any  # warp.core.settings.Config
    detection: Any = None

    def present(self, *names: str) -> tuple[str, ...]:
        """Those of ``names`` that are files in the app's folder, in the order given."""
        return tuple(name for name in names if (self.root / name).is_file())


@dataclass
class BuildContext:
    """What a buildpack's build needs: where to install and how."""

    project: Any  # warp.core.project.Project
    python: Path  # the app environment's interpreter to install into
    environ: dict[str, str]  # environment for every command run (venv first on PATH)
    installer: str = "pip"  # "pip" or "uv"
    wheelhouse: Optional[Path] = None
    no_index: bool = False
    progress: Optional[Callable[[str], None]] = None  # short progress lines for people
    detection: Any = None  # warp.app.detect.Detection
    recognition: Optional[Recognition] = None  # this buildpack's own answer for the app

    def say(self, line: str) -> None:
        if self.progress:
            self.progress(line)


class Buildpack(ABC):
    """One buildpack. Subclasses set ``kind`` and ``order`` and write ``detect`` and ``build``."""

    kind: ClassVar[str] = KIND_PACKAGE_MANAGER
    order: ClassVar[int] = 100  # tried (and run) in this order, then by name
    # The installer this buildpack's files want when the installer setting is
    # auto (uv for uv.lock); None leaves pip, the default.
    prefers_installer: ClassVar[Optional[str]] = None
    name: str = ""  # the folder's name, set when it is loaded
    path: Path = Path()  # the folder

    @property
    def description(self) -> str:
        """The first line of the module's docstring: what it does, for people."""
        doc = sys.modules[type(self).__module__].__doc__ or ""
        return doc.strip().splitlines()[0] if doc.strip() else self.name

    @abstractmethod
    def detect(self, app: App) -> Recognition:
        """Whether this buildpack applies to ``app``, and why. Reads files only."""

    @abstractmethod
    def build(self, ctx: BuildContext) -> dict[str, Any]:
        """Do the work into ``ctx.python``'s environment; a dict for the build record. Raises BuildError."""

    def inputs(self, app: App, recognition: Recognition) -> list[Path]:
        """Files whose content decides what the build does (their hashes key a build)."""
        return [app.root / name for name in recognition.files + recognition.companions]

    def declared_names(self, app: App, recognition: Recognition) -> set[str]:
        """Canonical names of the distributions the app's files declare (to spot its framework)."""
        return set()

    def digest(self) -> str:
        """sha256 of the buildpack's code, so a changed buildpack makes the next build a real one."""
        return hashlib.sha256((self.path / CODE_FILE).read_bytes()).hexdigest()


def warp_buildpacks_dir() -> Path:
    """The buildpacks warp ships (``buildpacks/`` of the checkout, ``warp/_data/buildpacks`` installed)."""
    return data_path("buildpacks")


def search_path(project: Any = None) -> list[Path]:
    """The folders buildpacks are looked for in: ``buildpacks_path`` (relative to the app), then warp's own."""
    folders = []
    if project is not None:
        for entry in project.config.buildpacks_path:
            folder = Path(entry).expanduser()
            folder = folder if folder.is_absolute() else project.root / folder
            if not folder.is_dir():
                raise ConfigError(f"buildpacks_path {folder}: no such folder (from {project.config.source('buildpacks_path')})",
                                  "point buildpacks_path / WARP_BUILDPACKS_PATH at folders of buildpack folders")
            folders.append(folder)
    return folders + [warp_buildpacks_dir()]


_LOADED: dict[Path, Buildpack] = {}


def load(folder: Union[str, Path]) -> Buildpack:
    """The buildpack in ``folder`` (its ``buildpack.py``), loaded once per process."""
    folder = Path(folder).resolve()
    if folder in _LOADED:
        return _LOADED[folder]
    code = folder / CODE_FILE
    # The path's hash keeps two folders of the same name (a user's and warp's) apart.
    module_name = f"warp_buildpack_{folder.name.replace('-', '_')}_{hashlib.sha1(str(folder).encode()).hexdigest()[:8]}"
    where = f"buildpack {folder}"
    # No __pycache__ written into a buildpack folder: it may be the user's, or
    # inside the app, or read-only in an installed warp.
    writes_bytecode, sys.dont_write_bytecode = sys.dont_write_bytecode, True
    try:
        spec = importlib.util.spec_from_file_location(module_name, code)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    except Exception as exc:  # a broken plugin is the user's file: say which, never a traceback
        sys.modules.pop(module_name, None)
        raise ConfigError(f"{where}: {CODE_FILE} cannot be loaded: {type(exc).__name__}: {exc}",
                          "fix that file, or take its folder out of buildpacks_path") from None
    finally:
        sys.dont_write_bytecode = writes_bytecode
    pack = getattr(module, "buildpack", None)
    if not isinstance(pack, Buildpack):
        raise ConfigError(f"{where}: {CODE_FILE} sets no `buildpack` (an instance of warp.build.buildpacks.Buildpack)",
                          "end the file with `buildpack = YourBuildpack()`")
    if pack.kind not in KINDS:
        raise ConfigError(f"{where}: kind {pack.kind!r} is not one of {', '.join(KINDS)}", "set kind in its class")
    pack.name = folder.name
    pack.path = folder
    _LOADED[folder] = pack
    return pack


def discover(folders: Iterable[Path]) -> list[Buildpack]:
    """Every buildpack in ``folders``, the first of each name winning, in the order they are tried."""
    found: dict[str, Buildpack] = {}
    for folder in folders:
        for child in sorted(Path(folder).iterdir()):
            if child.name not in found and (child / CODE_FILE).is_file():
                found[child.name] = load(child)
    return sorted(found.values(), key=lambda pack: (pack.order, pack.name))


def all_buildpacks(project: Any = None) -> list[Buildpack]:
    """The buildpacks for ``project`` (its buildpacks_path, then warp's), in the order they are tried."""
    return discover(search_path(project))


def module_of(pack: Buildpack) -> Any:
    """The module a buildpack was loaded from, for tests of its helper functions."""
    return sys.modules[type(pack).__module__]


def find(name: str, project: Any = None) -> Buildpack:
    """The buildpack called ``name``; ConfigError naming the ones there are."""
    packs = {pack.name: pack for pack in all_buildpacks(project)}
    if name not in packs:
        raise ConfigError(f"no buildpack named {name!r} (have {', '.join(packs)})", "see `warp detect` for the buildpacks found")
    return packs[name]


__all__ = [
    "App", "BuildContext", "Buildpack", "Recognition", "KIND_FRAMEWORK", "KIND_PACKAGE_MANAGER", "all_buildpacks",
    "applies", "discover", "does_not_apply", "find", "load", "module_of", "search_path", "warp_buildpacks_dir",
]
