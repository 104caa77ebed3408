"""A wheel of the running warp, so the image builds and starts with the same warp.

warp may run from a source checkout (an editable install, or ``PYTHONPATH``)
or from an installed wheel; either way its package folder is here, and so are
its data files (``buildpacks/``, ``hooks/``, ``Dockerfile.template``: at the
top of a checkout, under ``warp/_data`` in a wheel). This module zips them
into a small pure-Python wheel laid out as warp's real wheel is, with fixed
timestamps and sorted entries so that the same warp gives the same bytes and
Docker's layer cache holds.

The wheel carries no dependencies (it is installed with ``--no-deps``);
:func:`requirements` lists them for the layer before it. The docker SDK is
left out: it is only needed to build images, not inside one.
"""

from pathlib import Path
from typing import List, Optional, Tuple
import base64
import hashlib
import importlib.metadata
import io
import zipfile

import warp

from warp.app.requirements import requirement_name
from warp.core.toml import load_toml

# Data folders shipped in the wheel, as pyproject.toml's force-include says.
_DATA = ("buildpacks", "hooks", "Dockerfile.template")
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
_NOT_IN_IMAGE = {"docker"}


def package_dir() -> Path:
    return Path(warp.__file__).resolve().parent


def source_root() -> Optional[Path]:
    """The checkout warp runs from, or None when it runs from an installed wheel."""
    root = package_dir().parents[1]
    if (root / "pyproject.toml").is_file() and (root / "src" / "warp").resolve() == package_dir():
        return root
    return None


def _files():
    """(name in the wheel, path on disk) for every file of warp, sorted."""
    pkg = package_dir()
    found = {}
    for path in pkg.rglob("*"):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix not in (".pyc", ".pyo"):
            found["warp/" + path.relative_to(pkg).as_posix()] = path
    root = source_root()
    if root is not None:
        for name in _DATA:
            top = root / name
            paths = [top] if top.is_file() else sorted(p for p in top.rglob("*") if p.is_file()) if top.is_dir() else []
            for path in paths:
                if "__pycache__" in path.parts:
                    continue
                found["warp/_data/" + path.relative_to(root).as_posix()] = path
    return sorted(found.items())


def requirements() -> List[str]:
    """warp's runtime requirements for an image, one per line (no extras, no docker)."""
    root = source_root()
    if root is not None:
        declared = load_toml(root / "pyproject.toml")["project"].get("dependencies", [])
    else:
        try:
            declared = [r for r in (importlib.metadata.requires("warp") or []) if "extra ==" not in r]
        except importlib.metadata.PackageNotFoundError:
            declared = []
    return [r for r in declared if requirement_name(r) not in _NOT_IN_IMAGE]


def _record_hash(data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def wheel_name() -> str:
    return f"warp-{warp.__version__}-py3-none-any.whl"


def build_wheel() -> Tuple[str, bytes]:
    """The wheel's file name and bytes."""
    version = warp.__version__
    dist_info = f"warp-{version}.dist-info"
    entries = [(name, path.read_bytes(), 0o755 if path.stat().st_mode & 0o111 else 0o644) for name, path in _files()]
    metadata = ["Metadata-Version: 2.1", "Name: warp", f"Version: {version}"]
    metadata += [f"Requires-Dist: {r}" for r in requirements()]
    entries += [
        (f"{dist_info}/METADATA", ("\n".join(metadata) + "\n").encode(), 0o644),
        (f"{dist_info}/WHEEL", b"Wheel-Version: 1.0\nGenerator: warp image\nRoot-Is-Purelib: true\nTag: py3-none-any\n", 0o644),
        (f"{dist_info}/entry_points.txt", b"[console_scripts]\nwarp = warp.cli:main\n", 0o644),
    ]
    record = [f"{name},{_record_hash(data)},{len(data)}" for name, data, _ in entries]
    record.append(f"{dist_info}/RECORD,,")
    entries.append((f"{dist_info}/RECORD", ("\n".join(record) + "\n").encode(), 0o644))

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data, mode in entries:
            info = zipfile.ZipInfo(name, date_time=_ZIP_EPOCH)
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return wheel_name(), buf.getvalue()
