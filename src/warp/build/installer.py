"""Installing packages into the application's own environment, with pip or uv.

pip runs as the app environment's own ``python -m pip``, so it reads the
host's pip configuration (pip.conf files, ``PIP_*`` variables: index URLs, CA
bundle, constraints, find-links) exactly as a ``pip install`` typed by the
user would; warp passes the environment through and rewrites nothing.

uv is a build tool on warp's side and never enters the app's environment: it
comes from warp's own environment (``pip install 'warp[uv]'``, the ``uv``
package) or from PATH. uv does not read pip's configuration, so warp asks pip
for its effective configuration and hands the same index URLs, CA bundle,
constraints and find-links to uv through uv's own variables (never
overriding a ``UV_*`` variable the user set).
"""

from pathlib import Path
from typing import Dict, List, Mapping, Optional, Protocol, Sequence, Tuple, Union
import json
import os
import subprocess

from warp.app.installer import find_uv
from warp.core.errors import BuildError
from warp.core.project import Project


class InstallTarget(Protocol):
    """What an install needs to know (a buildpack's BuildContext has it)."""

    project: Project
    python: Path  # the app environment's interpreter
    environ: Dict[str, str]
    installer: str  # "pip" or "uv"
    wheelhouse: Optional[Path]
    no_index: bool

# Variables that would make the app's interpreter see warp's own packages.
_LEAKY = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE", "PIP_USER", "PIP_TARGET", "PIP_PREFIX")


def clean_environ(environ: Mapping[str, str]) -> Dict[str, str]:
    env = dict(environ)
    for name in _LEAKY:
        env.pop(name, None)
    return env


def pip_config(python: Union[str, Path], environ: Mapping[str, str]) -> Dict[str, str]:
    """pip's effective configuration for `pip install`, as pip resolves it: {"index-url": value, ...}."""
    result = subprocess.run(
        [str(python), "-m", "pip", "config", "list"], env=clean_environ(environ),
        capture_output=True, text=True, timeout=120,
    )
    # pip lists the merged files' values as "<section>.<name>" and its
    # environment variables as ":env:.<name>". For `pip install`, variables
    # win over the [install] section, which wins over [global].
    rank = {":env:": 3, "install": 2, "global": 1}
    config: Dict[str, str] = {}
    ranks: Dict[str, int] = {}
    for line in result.stdout.splitlines():
        if "=" not in line:
            continue
        key, value = line.split("=", 1)
        section, _, name = key.rpartition(".")
        if section not in rank or rank[section] < ranks.get(name, 0):
            continue
        config[name] = value.strip().strip("'\"")
        ranks[name] = rank[section]
    return config


def uv_environ(python: Union[str, Path], environ: Mapping[str, str], constraints: bool = True) -> Dict[str, str]:
    """``environ`` plus uv's equivalents of pip's effective configuration.

    ``constraints=False`` leaves pip's constraint files out: a hashed, fully
    pinned install cannot be narrowed further, and uv refuses unpinned
    constraints in --require-hashes mode (pip tolerates them).
    """
    env = clean_environ(environ)
    config = pip_config(python, environ)
    extra = config.get("extra-index-url", "").split()

    def put(name: str, value: Optional[str]) -> None:
        if value and not env.get(name):
            env[name] = value

    put("UV_DEFAULT_INDEX", config.get("index-url"))
    put("UV_INDEX", " ".join(extra))
    if extra:
        # pip merges every index and takes the best version anywhere; uv's
        # default stops at the first index that has the package.
        put("UV_INDEX_STRATEGY", "unsafe-best-match")
    put("UV_FIND_LINKS", ",".join(config.get("find-links", "").split()))
    if constraints:
        put("UV_CONSTRAINT", " ".join(config.get("constraint", "").split()))
    put("SSL_CERT_FILE", config.get("cert"))
    put("UV_INSECURE_HOST", " ".join(config.get("trusted-host", "").split()))
    put("UV_HTTP_TIMEOUT", config.get("timeout") or config.get("default-timeout"))
    if config.get("no-index", "").lower() in ("1", "true", "yes", "on"):
        put("UV_NO_INDEX", "1")
    # uv must use the app's interpreter, never fetch one of its own.
    env["UV_PYTHON_DOWNLOADS"] = "never"
    env.setdefault("UV_NO_PROGRESS", "1")
    return env


def source_args(ctx: InstallTarget) -> List[str]:
    args = []
    if ctx.wheelhouse:
        args += ["--find-links", str(ctx.wheelhouse)]
    if ctx.no_index:
        args.append("--no-index")
    return args


def install_command(ctx: InstallTarget, args: Sequence[str]) -> Tuple[List[str], Dict[str, str]]:
    """argv and environment that install ``args`` (pip install's arguments) into ctx.python."""
    if ctx.installer == "uv":
        argv = [find_uv(ctx.environ), "pip", "install", "--python", str(ctx.python), *source_args(ctx), *args]
        return argv, uv_environ(ctx.python, ctx.environ, constraints="--require-hashes" not in args)
    argv = [str(ctx.python), "-m", "pip", "install", "--no-input", "--disable-pip-version-check",
            "--progress-bar", "off", *source_args(ctx), *args]
    return argv, clean_environ(ctx.environ)


def run(argv: Sequence[str], env: Mapping[str, str], cwd: Union[str, Path], what: str) -> "subprocess.CompletedProcess[str]":
    """Run an install command; BuildError with the tool's own error line when it fails."""
    try:
        result = subprocess.run(argv, env=env, cwd=str(cwd), capture_output=True, text=True)
    except FileNotFoundError as exc:
        raise BuildError(f"cannot run {argv[0]}: {exc.strerror}", "check that the app environment exists (warp project)") from None
    if result.returncode != 0:
        raise BuildError(f"installing {what} failed: {error_line(result.stderr + result.stdout)}",
                         f"fix {what} and build again") from None
    return result


def error_line(output: str) -> str:
    """The line of pip's or uv's output that says what went wrong."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for line in lines:
        if line.startswith("ERROR:") and "No matching distribution" not in line:
            return line[len("ERROR:"):].strip()
    for line in lines:
        if line.startswith("ERROR:"):
            return line[len("ERROR:"):].strip()
    for line in lines:
        if line.startswith(("error:", "×")) or "╰─▶" in line:
            return line.lstrip("×╰─▶ ").removeprefix("error:").strip()
    return lines[-1] if lines else "no output"


def install(ctx: InstallTarget, args: Sequence[str], what: str,
            cwd: Optional[Union[str, Path]] = None) -> "subprocess.CompletedProcess[str]":
    """Install pip-style ``args`` (e.g. ["-r", "requirements.txt"]) into the app environment."""
    argv, env = install_command(ctx, args)
    return run(argv, env, cwd or ctx.project.root, what)


def install_requirements(ctx: InstallTarget, requirements: Sequence[str],
                         what: str = "packages") -> "Optional[subprocess.CompletedProcess[str]]":
    """Install requirement strings (e.g. ["gunicorn==23.0.0"]) into the app environment."""
    if not requirements:
        return None
    return install(ctx, list(requirements), what=what)


_INSTALLED = (
    "import json, importlib.metadata as m;"
    "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions() if d.metadata['Name']}))"
)


def installed(python: Union[str, Path], environ: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
    """{distribution name: version} installed in the environment of ``python``."""
    env = clean_environ(os.environ if environ is None else environ)
    result = subprocess.run([str(python), "-c", _INSTALLED], env=env, capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise BuildError(f"cannot list the packages of {python}: {error_line(result.stderr)}", "rebuild the app environment (warp build)")
    return json.loads(result.stdout)
