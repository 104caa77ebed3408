"""``warp health --alive`` / ``--ready``: the app's alive/ready hook, else an HTTP GET of health_path.

Usable as a container HEALTHCHECK and as Kubernetes exec probes: exit 0 when
healthy, 1 with one line saying why not.
"""

from dataclasses import dataclass
from typing import Mapping, Tuple
import http.client

from warp.core.errors import WarpError
from warp.core.project import Project


class Unhealthy(WarpError):
    """The app answered badly, not at all, or its hook failed."""


@dataclass(frozen=True)
class HealthResult:
    check: str  # "alive" or "ready"
    how: str  # "hook .warp/hooks/ready" or "GET http://127.0.0.1:8080/"
    detail: str


def _local_host(host):
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host in ("::", "[::]"):
        return "::1"
    return host.strip("[]")


def http_check(host: str, port: int, path: str, timeout: float = 5.0) -> Tuple[int, str]:
    """(status, reason) of GET path on host:port; raises OSError when nothing answers."""
    connection = http.client.HTTPConnection(_local_host(host), port, timeout=timeout)
    try:
        connection.request("GET", path, headers={"User-Agent": "warp-health", "Connection": "close"})
        response = connection.getresponse()
        response.read(65536)
        return response.status, response.reason
    finally:
        connection.close()


def check(project: Project, env: Mapping[str, str], which: str, timeout: float = 5.0) -> HealthResult:
    """HealthResult when healthy; raises Unhealthy (exit 1) otherwise."""
    from warp.app.hooks import find_hooks
    from warp.build.hooks import run_hook
    from warp.core.errors import BuildError

    hook = find_hooks(project).get(which)
    if hook is not None:
        try:
            shown = run_hook(project, which, env, stream=None)
        except BuildError as exc:
            raise Unhealthy(f"{which}: {exc.message}") from None
        return HealthResult(which, f"hook {', '.join(shown)}", "exit status 0")
    config = project.config
    url = f"http://{_local_host(config.host)}:{config.port}{config.health_path}"
    try:
        status, reason = http_check(config.host, config.port, config.health_path, timeout)
    except (OSError, http.client.HTTPException) as exc:
        raise Unhealthy(f"{which}: GET {url} failed: {exc}", f"is the app running? (no {which} hook, so warp fetched health_path)") from None
    if status >= 400:
        raise Unhealthy(f"{which}: GET {url} answered {status} {reason}", "set health_path to a page that answers 200, or add a hook")
    return HealthResult(which, f"GET {url}", f"{status} {reason}")
