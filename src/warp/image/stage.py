"""The last step of an image's build stage: ``python -B -m warp.image.stage``.

Run by Dockerfile.template inside the build stage, after ``warp build``, with
warp's own interpreter (standard library only). It makes what the final stage
copies the same from one build of a commit to the next, and describes it:

1. the build record (``.warp/build.json``) gets the source date for its
   times and zero for its durations: ``warp start`` reads it for its facts,
   never for those;
   each distribution's RECORD loses its bytecode lines and is sorted;
   the source-tree fingerprint cache (inodes, clock times) is dropped;
2. the SBOM: ``cyclonedx-py environment`` (from its own virtualenv, which the
   final stage never copies) lists the app's environment as CycloneDX JSON;
   warp adds each distribution's hash, the base image and itself, and checks
   the result against the CycloneDX schema before writing it;
3. bytecode: every ``.pyc`` under the app is removed and made again
   hash-checked (PEP 552) with a fixed hash seed, so it does not depend on
   file times or on the order a build happened to write it. warp's own
   environment gets the same once, in the cached layer that installs it
   (``--warp-env-only``); this step only repairs what ran since.
"""

import argparse
import json
import os
from pathlib import Path
import subprocess
import sys
from datetime import datetime, timezone
from typing import Any, Dict, List, Optional

from warp.app.requirements import canonical_name

# Per distribution of the app's environment: canonical name -> (version, sha256 of RECORD).
# RECORD lists every installed file with its own SHA-256, so its hash stands
# for exactly the files installed (the wheel's own hash is gone once installed).
# Run by the app's interpreter: names as the distributions spell them; warp canonicalises them.
_HASHES = r"""
import hashlib, importlib.metadata as m, json
out = {}
for dist in m.distributions():
    name = dist.metadata["Name"]
    if not name:
        continue
    record = dist.read_text("RECORD")
    digest = hashlib.sha256(record.encode("utf-8")).hexdigest() if record is not None else None
    out[name] = [dist.version, digest]
print(json.dumps(out))
"""

_VALIDATE = r"""
import sys
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
error = JsonStrictValidator(SchemaVersion.from_version(sys.argv[1])).validate_str(sys.stdin.read())
if error:
    sys.exit(f"the SBOM does not follow the CycloneDX {sys.argv[1]} schema: {error}")
"""

SPEC_VERSION = "1.6"


def _iso(epoch):
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def normalise_record(path: "str | os.PathLike[str]", epoch: int) -> None:
    """Times in warp build's record become the source date; durations zero."""
    path = Path(path)
    if not path.is_file():
        return
    record = json.loads(path.read_text(encoding="utf-8"))

    def walk(node, key=None):
        if isinstance(node, dict):
            return {k: walk(v, k) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        if isinstance(key, str) and key.endswith("_at") and isinstance(node, str):
            return _iso(epoch)
        if isinstance(key, str) and (key == "seconds" or key.endswith("_seconds")) and isinstance(node, (int, float)):
            return 0
        return node

    record = walk(record)
    if isinstance(record.get("timings"), dict):
        record["timings"] = {name: 0 for name in record["timings"]}
    path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def drop_machine_caches(app: "str | os.PathLike[str]") -> None:
    """Caches that describe the build machine's files (inodes, clock times) and
    mean nothing in an image: ``warp build``'s source-tree fingerprint cache."""
    from warp.build.fingerprint import CACHE

    (Path(app) / ".warp" / CACHE).unlink(missing_ok=True)


def normalise_records(folders: List["str | os.PathLike[str]"]) -> None:
    """Each installed distribution's RECORD without its bytecode lines, sorted.

    Installers list the .pyc files they compiled in the order their workers
    finished (virtualenv's seeding of pip does), and step 3 makes them again
    anyway; pip's uninstall removes a module's bytecode without a line for it.
    """
    for folder in folders:
        for record in sorted(Path(folder).rglob("*.dist-info/RECORD")):
            lines = record.read_text(encoding="utf-8").splitlines()
            kept = sorted({line for line in lines if line and not line.split(",", 1)[0].endswith((".pyc", ".pyo"))})
            record.write_text("".join(line + "\n" for line in kept), encoding="utf-8")


def make_sbom(tool: str, python: str, epoch: int, base_image: str, base_image_id: str, title: str,
              warp_version: str) -> Dict[str, Any]:
    """The CycloneDX document (a dict) of the environment of ``python``."""
    env = dict(os.environ, SOURCE_DATE_EPOCH=str(epoch), PYTHONDONTWRITEBYTECODE="1", PYTHONHASHSEED="0")
    raw = subprocess.run(
        [tool, "environment", "--spec-version", SPEC_VERSION, "--output-reproducible",
         "--output-format", "JSON", "--output-file", "-", python],
        env=env, capture_output=True, text=True, check=False,
    )
    if raw.returncode != 0:
        raise SystemExit(f"cyclonedx-py failed ({raw.returncode}): {raw.stderr.strip()[-2000:]}")
    bom = json.loads(raw.stdout)
    found = subprocess.run([python, "-c", _HASHES], env=env, capture_output=True, text=True, check=True)
    hashes = {canonical_name(name): value for name, value in json.loads(found.stdout).items()}
    for component in bom.get("components", []):
        version, digest = hashes.get(canonical_name(component.get("name", "")), (None, None))
        if digest and version == component.get("version"):
            component["hashes"] = [{"alg": "SHA-256", "content": digest}]
    metadata = bom.setdefault("metadata", {})
    metadata["timestamp"] = _iso(epoch)
    tools = metadata.setdefault("tools", {}).setdefault("components", [])
    tools.append({"type": "application", "name": "warp", "version": warp_version,
                  "description": "warp image: the app's environment, installed by warp build"})
    base = {"type": "container", "bom-ref": "base-image", "name": base_image}
    if base_image_id:
        base["version"] = base_image_id
    metadata["component"] = {
        "type": "container", "bom-ref": "image", "name": title,
        "pedigree": {"ancestors": [base]},
        "properties": [{"name": "warp:base-image", "value": base_image}]
        + ([{"name": "warp:base-image-id", "value": base_image_id}] if base_image_id else []),
    }
    return bom


def validate(tool: str, text: str) -> None:
    """Exit with the schema's complaint when ``text`` is not valid CycloneDX."""
    python = str(Path(tool).with_name("python"))
    subprocess.run([python, "-c", _VALIDATE, SPEC_VERSION], input=text, text=True, check=True)


def recompile(python: str, folders: List["str | os.PathLike[str]"]) -> None:
    """Every .pyc under ``folders`` made again, hash-checked, in a fixed order."""
    for folder in folders:
        for pyc in sorted(Path(folder).rglob("*.py[co]")):
            pyc.unlink(missing_ok=True)
    env = dict(os.environ, PYTHONHASHSEED="0")
    env.pop("SOURCE_DATE_EPOCH", None)
    # One process, not -j: marshal's output depends on which strings that
    # process has already seen, so parallel workers would vary the bytes.
    # A file that does not compile (Python 2 leftovers, templates named .py)
    # is left for the interpreter to reject at import, as pip does.
    subprocess.run([python, "-m", "compileall", "-q", "-q", "--invalidation-mode", "checked-hash", *map(str, folders)],
                   env=env, check=False)


_COMPILE_LIST = r"""
import py_compile, sys
for path in sys.stdin.read().splitlines():
    try:
        py_compile.compile(path, doraise=True, invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH)
    except py_compile.PyCompileError:
        pass  # left for the interpreter to reject at import, as compileall does
"""


def _checked_hash(pyc: Path) -> bool:
    try:
        with open(pyc, "rb") as handle:
            header = handle.read(8)
    except OSError:
        return False
    return len(header) == 8 and int.from_bytes(header[4:8], "little") == 0b11


def repair(folder: "str | os.PathLike[str]") -> int:
    """Bytecode under ``folder`` (this interpreter's) that is missing or not
    hash-checked made again; returns how many. Cheap when nothing changed, as
    in warp's own environment, made alike once in its cached layer."""
    import importlib.util

    stale = []
    for source in sorted(Path(folder).rglob("*.py")):
        if source.is_symlink() or "__pycache__" in source.parts:
            continue
        pyc = Path(importlib.util.cache_from_source(str(source)))
        if not _checked_hash(pyc):
            pyc.unlink(missing_ok=True)
            stale.append(str(source))
    for pyc in Path(folder).rglob("*.pyc"):
        if not _checked_hash(pyc):
            pyc.unlink()  # bytecode of no source (left by an uninstall), or of another kind
    if stale:
        env = dict(os.environ, PYTHONHASHSEED="0")
        env.pop("SOURCE_DATE_EPOCH", None)
        subprocess.run([sys.executable, "-c", _COMPILE_LIST], input="\n".join(stale), text=True, env=env, check=False)
    return len(stale)


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m warp.image.stage")
    parser.add_argument("--warp-env-only", action="store_true",
                        help="only make warp's own environment alike (its RECORDs and bytecode), in its cached layer")
    parser.add_argument("--app")
    parser.add_argument("--venv")
    parser.add_argument("--epoch", type=int)
    parser.add_argument("--base-image")
    parser.add_argument("--base-image-id", default="")
    parser.add_argument("--title")
    parser.add_argument("--sbom", help="where the SBOM goes")
    parser.add_argument("--sbom-tool", help="the cyclonedx-py script")
    parser.add_argument("--warp-env", default=sys.prefix, help="warp's own environment")
    args = parser.parse_args(argv)
    if args.warp_env_only:
        normalise_records([args.warp_env])
        recompile(sys.executable, [args.warp_env])
        return
    missing = [name for name in ("app", "venv", "epoch", "base_image", "title", "sbom", "sbom_tool")
               if getattr(args, name) is None]
    if missing:
        parser.error("missing " + ", ".join("--" + name.replace("_", "-") for name in missing))

    from warp import __version__

    app, python = Path(args.app), str(Path(args.venv) / "bin" / "python")
    normalise_record(app / ".warp" / "build.json", args.epoch)
    drop_machine_caches(app)
    normalise_records([app, args.warp_env])
    bom = make_sbom(args.sbom_tool, python, args.epoch, args.base_image, args.base_image_id, args.title, __version__)
    text = json.dumps(bom, indent=2, sort_keys=True) + "\n"
    validate(args.sbom_tool, text)
    out = Path(args.sbom)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    recompile(python, [app])
    # warp's environment was made alike in its own layer; running warp build
    # since then may only have added bytecode for a module imported late.
    repair(args.warp_env)


if __name__ == "__main__":
    main()
