"""The host's package index settings and CA bundle, made usable in a build stage.

Behind a TLS-intercepting proxy or with a private index, ``pip install`` in a
container fails unless it gets the host's settings. warp reads them the way
pip itself does (``pip config list``, which covers ``PIP_*`` variables and
every pip.conf pip would read, including ``PIP_CONFIG_FILE``) and turns them
into files for the build stage only: ``pip.conf``, ``ca.pem`` and
``constraints.txt`` under ``/etc/warp-build``. The final stage never copies
that folder, and no build argument carries them, so they appear neither in a
layer nor in the config or history of the image that gets tagged.

Only what means the same thing inside a container is forwarded:

* ``index-url``, ``extra-index-url``, ``find-links``: http(s) URLs only.
  ``file://`` URLs and local folders (a host's wheel cache, a mirror on disk)
  do not exist in the container and are dropped.
* ``cert``: the bundle's content, as ``ca.pem``; also exported as
  ``SSL_CERT_FILE``/``REQUESTS_CA_BUNDLE`` in the build stage for hooks.
* ``trusted-host``, ``timeout``, ``retries``, ``proxy`` (http(s)): as they are.
* ``constraint``: a local constraints file's content (a policy, such as a cap
  on a version, that should hold in the image too); URLs as they are.

``client-cert``, ``no-index`` and local ``find-links`` are not forwarded:
a client key is a credential warp will not copy, and ``no-index`` with the
host's local wheels would leave the container nothing to install from.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, Mapping, Optional, Tuple
import os
import subprocess
import sys

BUILD_DIR = "/etc/warp-build"  # where the build stage sees these files

# Options kept as they are; the URL-valued ones are filtered below.
_PLAIN = ("trusted-host", "timeout", "default-timeout", "retries")
_URL_LISTS = ("index-url", "extra-index-url", "find-links")
# pip reads command sections after [global]; `pip install` and `pip wheel`
# are the commands a build runs.
_SECTION_RANK = {"global": 0, "wheel": 1, "install": 2, ":env:": 3}


@dataclass(frozen=True)
class BuildPipFiles:
    """Files for the build stage (name -> bytes) and its extra environment."""

    files: dict
    environment: dict = field(default_factory=dict)
    dropped: tuple = ()  # "option=value" the container could not use, for --verbose readers


def read_pip_config(environ: Optional[Mapping[str, str]] = None, python: Optional[str] = None) -> Dict[str, str]:
    """pip's effective options as {option: value}, env over command over global.

    Runs ``python -m pip config list`` so that pip decides which files count;
    when pip cannot run, only ``PIP_*`` variables are read.
    """
    environ = dict(os.environ if environ is None else environ)
    try:
        proc = subprocess.run(
            [python or sys.executable, "-m", "pip", "config", "list"],
            env=environ, capture_output=True, text=True, timeout=60,
        )
        lines = proc.stdout.splitlines() if proc.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired):
        lines = None
    if lines is None:
        lines = [
            f":env:.{key[4:].lower().replace('_', '-')}={value!r}"
            for key, value in environ.items() if key.startswith("PIP_") and value
        ]
    return parse_config_list(lines)


def parse_config_list(lines: Iterable[str]) -> Dict[str, str]:
    """Parse ``pip config list`` output (``section.option='value'``)."""
    best: Dict[str, Tuple[int, str]] = {}
    for line in lines:
        key, sep, raw = line.partition("=")
        if not sep or "." not in key:
            continue
        section, _, option = key.rpartition(".")
        rank = _SECTION_RANK.get(section)
        if rank is None:
            continue
        value = raw.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        if option not in best or rank >= best[option][0]:
            best[option] = (rank, value)
    return {option: value for option, (_, value) in best.items()}


def _is_http(url):
    return url.lower().startswith(("http://", "https://"))


def build_files(options: Mapping[str, str]) -> BuildPipFiles:
    """The build stage's pip.conf, CA bundle and constraints for pip ``options``."""
    conf, files, env, dropped = {}, {}, {}, []
    for option in _URL_LISTS:
        if option not in options:
            continue
        urls = options[option].split()
        kept = [url for url in urls if _is_http(url)]
        dropped += [f"{option}={url}" for url in urls if not _is_http(url)]
        if kept:
            conf[option] = kept
    for option in _PLAIN:
        if options.get(option):
            conf[option] = options[option].split() if option == "trusted-host" else [options[option]]
    proxy = options.get("proxy")
    if proxy:
        if _is_http(proxy):
            conf["proxy"] = [proxy]
        else:
            dropped.append(f"proxy={proxy}")

    cert = options.get("cert")
    if cert:
        path = Path(cert).expanduser()
        if path.is_file():
            files["ca.pem"] = path.read_bytes()
            conf["cert"] = [f"{BUILD_DIR}/ca.pem"]
            env["SSL_CERT_FILE"] = env["REQUESTS_CA_BUNDLE"] = f"{BUILD_DIR}/ca.pem"
        else:
            dropped.append(f"cert={cert}")

    constraints, remote = [], []
    for item in options.get("constraint", "").split():
        if _is_http(item):
            remote.append(item)
        elif Path(item).expanduser().is_file():
            constraints.append(f"# from {item}\n" + Path(item).expanduser().read_text(encoding="utf-8"))
        else:
            dropped.append(f"constraint={item}")
    if constraints:
        files["constraints.txt"] = "\n".join(constraints).encode("utf-8")
        remote.insert(0, f"{BUILD_DIR}/constraints.txt")
    if remote:
        conf["constraint"] = remote

    lines = ["# pip settings forwarded by `warp image` from the host, for the build stage only.", "[global]"]
    for option in sorted(conf):
        values = conf[option]
        if len(values) == 1:
            lines.append(f"{option} = {values[0]}")
        else:
            lines.append(f"{option} =")
            lines.extend(f"    {value}" for value in values)
    files["pip.conf"] = ("\n".join(lines) + "\n").encode("utf-8")
    return BuildPipFiles(files=files, environment=env, dropped=tuple(dropped))
