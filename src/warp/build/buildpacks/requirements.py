"""pip requirements: requirements.txt, or the app as a package (pyproject.toml PEP 621, setup.py, setup.cfg)."""

from warp.build import installer
from warp.core.errors import BuildError
from warp.app.requirements import requirement_files

MANAGERS = ("requirements", "pyproject", "setup")


def detect(project, detection):
    if detection.package_manager.value in MANAGERS:
        return detection.package_manager.reason
    return None


def inputs(project, detection):
    root = project.root
    files = [root / name for name in detection.dependency_files]
    if detection.package_manager.value == "requirements":
        files += requirement_files(root / "requirements.txt")
        # requirements.txt often installs the app itself ("-e ." or "."):
        # its package metadata then decides what gets installed too.
        files += [root / name for name in ("pyproject.toml", "setup.py", "setup.cfg")]
    return files


def build(ctx):
    detection = ctx.get_detection()
    root = ctx.project.root
    manager = detection.package_manager.value
    if manager == "requirements":
        path = root / "requirements.txt"
        try:
            path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise BuildError(f"{path}: cannot read: {exc}", "make requirements.txt a readable UTF-8 file") from None
        ctx.say(f"installing requirements.txt with {ctx.installer}")
        installer.install(ctx, ["-r", "requirements.txt"], what="requirements.txt")
        return {"installed_from": ["requirements.txt"]}
    # The app is a package: install it editable, so its code runs from the
    # app folder as it does in development, with its dependencies installed.
    ctx.say(f"installing the app ({', '.join(detection.dependency_files)}) with {ctx.installer}")
    installer.install(ctx, ["--editable", "."], what=detection.dependency_files[0])
    return {"installed_from": list(detection.dependency_files)}
