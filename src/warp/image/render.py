"""Dockerfile text from facts about an application. Pure: no Docker, no I/O
beyond reading the template.

The template is ``Dockerfile.template`` at the top of warp's repository (in a
wheel, ``warp/_data/Dockerfile.template``). A name in double braces is filled
from :class:`ImageFacts`; everything else, Docker's own ``${...}`` included,
is left as written.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Optional
import json
import re

from warp.core.errors import WarpError

APP_DIR = "/app"
# A fixed UID outside the range distributions give to people, in group 0.
APP_UID = 1001
WHEELHOUSE = "/tmp/warp-wheelhouse"
BUILD_FILES_DIR = "/etc/warp-build"
# Label of the images the engine's builder keeps as warp's layer cache.
BUILDER_LABEL = "warp.image.builder-for"
# Where every image keeps its SBOM (CycloneDX JSON); a label points here too.
SBOM_DIR = "/usr/share/warp"
SBOM_PATH = f"{SBOM_DIR}/sbom.cdx.json"
SBOM_TOOL = "/opt/warp-sbom/bin/cyclonedx-py"

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


@dataclass(frozen=True)
class ImageFacts:
    """What the Dockerfile depends on; everything else is in the template."""

    base_image: str
    port: int = 8080
    # Files (relative, POSIX) that decide the dependencies, copied before the
    # source so that their layer survives code changes.
    dependency_files: tuple = ()
    # Requirements files whose wheels can be made from the dependency files
    # alone (no local paths in them); empty means no early dependency layer.
    prefetch_requirements: tuple = ()
    # Why there is no early dependency layer, for the Dockerfile's reader.
    no_prefetch_reason: str = ""
    # Environment of the build stage only (CA bundle for pip's friends).
    build_env: dict = field(default_factory=dict)
    # OCI labels; the last instruction, as "created" changes on every build.
    labels: dict = field(default_factory=dict)
    uid: int = APP_UID
    app_dir: str = APP_DIR
    # Seconds since 1970 that every time in the image is set to.
    source_date_epoch: int = 0
    # The base image's ID, for the SBOM (a tag may move; the ID names the content).
    base_image_id: str = ""
    title: str = "app"
    # HEALTHCHECK's grace period. (Its start interval is set in the config
    # warp assembles, where the engine knows it: see warp.image.assemble.)
    start_period: int = 70
    # The image name the build stage's last image is labelled with (see build.py).
    builder_for: str = ""


def template_path() -> Path:
    """Dockerfile.template from an installed wheel, else from the source tree."""
    from warp.core.data import data_path

    path = data_path("Dockerfile.template")
    if not path.is_file():
        raise WarpError(
            f"Dockerfile.template not found at {path}",
            "reinstall warp: its wheel ships the template as warp/_data/Dockerfile.template",
        )
    return path


def _json(*words):
    # Exec (JSON) form: paths with spaces stay one word.
    return json.dumps(list(words))


def _dependency_steps(facts):
    if not facts.prefetch_requirements:
        reason = facts.no_prefetch_reason or "no requirements file"
        return f"# No early dependency layer: {reason}.\n# `warp build` below installs everything."
    lines = []
    for rel in facts.dependency_files:
        lines.append("COPY " + _json(f"app/{rel}", f"{facts.app_dir}/{rel}"))
    lines.append(f"ENV WARP_WHEELHOUSE={WHEELHOUSE}")
    wheel = ["/opt/warp/bin/pip", "wheel", "--quiet", "--wheel-dir", WHEELHOUSE]
    for rel in facts.prefetch_requirements:
        wheel += ["-r", rel]
    lines.append("RUN " + " ".join(_shell_quote(word) for word in wheel))
    return "\n".join(lines)


def _shell_quote(word):
    if word == "":
        return "''"
    if re.fullmatch(r"[A-Za-z0-9_./=:@%+-]+", word):
        return word
    return "'" + word.replace("'", "'\"'\"'") + "'"


def _build_env(facts):
    if not facts.build_env:
        return "# (no CA bundle forwarded from the host)"
    pairs = " \\\n    ".join(f"{key}={_shell_quote(value)}" for key, value in sorted(facts.build_env.items()))
    return "ENV " + pairs


def _labels(facts):
    if not facts.labels:
        return "# (no labels)"
    pairs = " \\\n      ".join(f"{key}={json.dumps(str(value))}" for key, value in sorted(facts.labels.items()))
    return "LABEL " + pairs


def _stage_args(facts):
    words = [
        "--app", facts.app_dir, "--venv", f"{facts.app_dir}/.warp/venv",
        "--epoch", str(int(facts.source_date_epoch)),
        "--base-image", facts.base_image, "--base-image-id", facts.base_image_id or "",
        "--title", facts.title, "--sbom", SBOM_PATH, "--sbom-tool", SBOM_TOOL,
    ]
    return " ".join(_shell_quote(word) for word in words)


def values(facts: ImageFacts) -> Dict[str, str]:
    """Every placeholder's text for ``facts``."""
    return {
        "start_period": str(int(facts.start_period)),
        "builder_label": (f"LABEL {BUILDER_LABEL}={json.dumps(facts.builder_for)}" if facts.builder_for
                          else "# (no builder label)"),
        "sbom_path": SBOM_PATH,
        "sbom_dir": SBOM_DIR,
        "stage_args": _stage_args(facts),
        "base_image": facts.base_image,
        "port": str(int(facts.port)),
        "uid": str(int(facts.uid)),
        "app_dir": facts.app_dir,
        "build_env": _build_env(facts),
        "dependency_steps": _dependency_steps(facts),
        "labels": _labels(facts),
    }


def render(facts: ImageFacts, template: Optional[str] = None) -> str:
    """The Dockerfile for ``facts``; ``template`` defaults to Dockerfile.template's text."""
    if template is None:
        template = template_path().read_text(encoding="utf-8")
    filled = values(facts)

    def fill(match):
        name = match.group(1)
        if name not in filled:
            raise WarpError(
                f"Dockerfile.template uses {{{{ {name} }}}}, which warp does not know",
                "known names: " + ", ".join(sorted(filled)),
            )
        return filled[name]

    return _PLACEHOLDER.sub(fill, template)
