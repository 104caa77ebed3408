"""What ``warp detect`` explains and ``warp build`` runs: the app's facts and every buildpack's answer.

The order, all of it before anything is installed:

1. every package-manager buildpack says whether its files are there, and why;
2. exactly one of them is the app's package manager (``choose_package_manager``):
   the one the ``package_manager`` setting names, or the only one that
   applies. One whose files are all another's companions (pyproject.toml
   beside poetry.lock) yields to it; two that still apply are an error naming
   their files and the setting; none is an app without dependencies (unless a
   near miss, such as a Pipfile without its lock, says why that is wrong);
3. the app's facts (``warp.app.detect``) are read with that choice;
4. every framework buildpack says whether it applies to those facts.

Nothing here knows a buildpack by name: adding one is adding its folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

from warp.app.detect import Detection, detect
from warp.app.detect import render_text as render_facts
from warp.app.package_manager import Choice, project_names
from warp.build.buildpacks import KIND_FRAMEWORK, KIND_PACKAGE_MANAGER, App, Buildpack, Recognition, all_buildpacks
from warp.core.errors import ConfigError, DetectError

AUTO = "auto"


@dataclass(frozen=True)
class Verdict:
    """One buildpack's answer for the app, and what warp made of it."""

    buildpack: Buildpack
    recognition: Recognition
    runs: bool
    decision: str  # why it runs or not, beyond its own answer (chosen, yields, not chosen)

    @property
    def name(self) -> str:
        return self.buildpack.name

    @property
    def reason(self) -> str:
        """Its own reason, and warp's decision when that adds something."""
        return self.recognition.reason + (f"; {self.decision}" if self.decision else "")

    def to_dict(self) -> dict[str, Any]:
        pack, rec = self.buildpack, self.recognition
        return {"name": pack.name, "kind": pack.kind, "order": pack.order, "path": str(pack.path),
                "description": pack.description, "applies": rec.applies, "runs": self.runs,
                "reason": rec.reason, "decision": self.decision, "files": list(rec.files),
                "companions": list(rec.companions)}


@dataclass(frozen=True)
class Recognised:
    """The app's facts and every buildpack's verdict, in the order they are tried."""

    detection: Detection
    verdicts: tuple[Verdict, ...]
    app: App

    @property
    def running(self) -> list[Verdict]:
        """The buildpacks that run, in the order they run: the package manager, then the frameworks."""
        running = [v for v in self.verdicts if v.runs]
        return [v for v in running if v.buildpack.kind == KIND_PACKAGE_MANAGER] + \
               [v for v in running if v.buildpack.kind == KIND_FRAMEWORK]

    def inputs(self) -> list[Path]:
        """Files whose content keys a build: version files, warp.yaml, and what each running buildpack reads."""
        root = self.app.root
        seen: list[Path] = [root / name for name in (".python-version", "runtime.txt", "warp.yaml") if (root / name).is_file()]
        for verdict in self.running:
            for path in verdict.buildpack.inputs(self.app, verdict.recognition):
                path = Path(path)
                if path.is_file() and path not in seen:
                    seen.append(path)
        return seen

    def to_dict(self) -> dict[str, Any]:
        return {**self.detection.to_dict(), "buildpacks": [verdict.to_dict() for verdict in self.verdicts]}


def _decided(pack: Buildpack, rec: Recognition, runs: bool, decision: str = "") -> Verdict:
    return Verdict(pack, rec, runs, decision)


def choose_package_manager(app: App, packs: Sequence[Buildpack]) -> tuple[Choice, list[Verdict]]:
    """The app's one package manager, and each package-manager buildpack's verdict. Raises DetectError/ConfigError."""
    config = app.config
    answers = [(pack, pack.detect(app)) for pack in packs if pack.kind == KIND_PACKAGE_MANAGER]
    by_name = {pack.name: (pack, rec) for pack, rec in answers}
    setting = str(config.package_manager)
    source = config.source("package_manager")

    if setting != AUTO:
        # Validated here rather than in the settings registry, which cannot
        # know the buildpacks: they are found at run time.
        if setting not in by_name:
            raise ConfigError(f"package_manager={setting} (from {source}) is not a package-manager buildpack",
                              f"set it to auto or one of {', '.join(by_name)}; buildpacks_path adds folders of buildpacks")
        pack, rec = by_name[setting]
        if not rec.applies:
            raise ConfigError(f"package_manager={setting} (from {source}) but {app.root}: {rec.reason}",
                              rec.hint or "add that file or set package_manager to auto")
        why = f"package_manager={setting} from {source}"
        verdicts = [_decided(p, r, p is pack, "chosen by " + why if p is pack else
                             (f"not used: {why}" if r.applies else "")) for p, r in answers]
        return _choice(app, pack, rec, why), verdicts

    applying = [(pack, rec) for pack, rec in answers if rec.applies]
    owners = {}
    for pack, rec in applying:
        # Files that are all another applying buildpack's companions are that
        # buildpack's project files, not a second opinion on the dependencies.
        owner = next((other for other, other_rec in applying
                      if other is not pack and set(rec.files) <= set(other_rec.companions)), None)
        if owner is not None:
            owners[pack.name] = owner
    left = [(pack, rec) for pack, rec in applying if pack.name not in owners]
    if applying and not left:  # buildpacks that each claim the other's files: neither wins silently
        left, owners = applying, {}
    if len(left) > 1:
        files = [name for _, rec in left for name in rec.files]
        raise DetectError(
            f"{app.root}: several dependency files: {', '.join(files)}; warp will not guess which one to install",
            f"set package_manager to one of {', '.join(pack.name for pack, _ in left)} in warp.yaml "
            "(or WARP_PACKAGE_MANAGER, or --package-manager), or remove the others",
        )
    chosen = left[0] if left else None
    if chosen is None:
        near = next(((pack, rec) for pack, rec in answers if rec.hint), None)
        if near is not None:
            raise DetectError(f"{app.root}: {near[1].reason}", near[1].hint)
    verdicts = []
    for pack, rec in answers:
        if chosen and pack is chosen[0]:
            verdicts.append(_decided(pack, rec, True))
        elif pack.name in owners:
            owner = owners[pack.name]
            verdicts.append(_decided(pack, rec, False, f"yields to {owner.name}: {', '.join(rec.files)} "
                                     + ("is its project file" if len(rec.files) == 1 else "are its project files")))
        else:
            verdicts.append(_decided(pack, rec, False))
    if chosen is None:
        looked_for = list(dict.fromkeys(name for _, rec in answers for name in rec.files))
        return Choice(None, (), f"no dependency file ({', '.join(looked_for)})"), verdicts
    pack, rec = chosen
    why = f"{rec.files[0]} is the only dependency file"
    if rec.companions:
        why += f" (with {', '.join(rec.companions)})"
    return _choice(app, pack, rec, why), verdicts


def _choice(app: App, pack: Buildpack, rec: Recognition, reason: str) -> Choice:
    names = frozenset(pack.declared_names(app, rec) | project_names(app.root))
    return Choice(pack.name, rec.files + rec.companions, reason, names, pack.prefers_installer)


def recognise(project: Any, packs: Optional[Sequence[Buildpack]] = None) -> Recognised:
    """Every fact about the app in ``project`` and every buildpack's verdict; DetectError when there is no app."""
    packs = list(all_buildpacks(project) if packs is None else packs)
    app = App(project.root, project.config)
    choice, verdicts = choose_package_manager(app, packs)
    detection = detect(project, choice)
    app = App(project.root, project.config, detection)
    for pack in packs:
        if pack.kind == KIND_FRAMEWORK:
            rec = pack.detect(app)
            verdicts.append(_decided(pack, rec, rec.applies))
    order = {id(pack): index for index, pack in enumerate(packs)}
    verdicts.sort(key=lambda verdict: order[id(verdict.buildpack)])
    return Recognised(detection, tuple(verdicts), app)


def render_text(recognised: Recognised) -> str:
    """``warp detect`` for people: the app's facts, then each buildpack, whether it runs, and why."""
    running = recognised.running
    lines = [render_facts(recognised.detection, [("buildpacks", ", ".join(v.name for v in running) or "none",
                                                   "run in this order; each buildpack's answer below")])]
    width = max(len(v.name) for v in recognised.verdicts)
    for verdict in recognised.verdicts:
        rec = verdict.recognition
        state = "runs" if verdict.runs else ("applies, not run" if rec.applies else "does not apply")
        files = f" [{', '.join(rec.files + rec.companions)}]" if rec.applies and rec.files else ""
        lines.append(f"  {verdict.name:<{width}}  {state}: {verdict.reason}{files}")
    return "\n".join(lines)
