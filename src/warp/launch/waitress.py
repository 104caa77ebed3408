"""waitress: one process, a pool of threads; static files through WhiteNoise.

Run as ``python -m warp.runtime.shim waitress <waitress-serve flags>``: the same flags
as ``waitress-serve``, plus TERM as a clean stop (waitress closes its sockets
and joins its threads) and an access log on stdout, which waitress lacks.
"""

from warp.launch.plan import Command, Launch

REQUIREMENTS = ("waitress==3.0.2",)
NATIVE_STATIC = False
INTERFACES = ("wsgi",)
# The shim wraps the app (access log, static files) in every case.
ALWAYS_SHIM = True


def command(launch: Launch) -> Command:
    launch.require_tool("waitress-serve")
    # One process: the concurrency other servers get from workers x threads comes from threads alone.
    threads = max(1, launch.workers * launch.threads)
    argv = [
        str(launch.python), "-m", "warp.runtime.shim", "waitress",
        f"--listen={launch.bind}",
        f"--threads={threads}",
        "--ident=warp",
    ]
    notes = [("threads", f"waitress runs one process with {threads} threads ({launch.workers} workers x {launch.threads} threads)")]
    proxies = launch.trusted_proxies
    if proxies:
        trusted = "*" if "*" in proxies else proxies[0]
        argv += [f"--trusted-proxy={trusted}", "--trusted-proxy-headers=x-forwarded-for x-forwarded-proto x-forwarded-host"]
        if trusted != "*" and len(proxies) > 1:
            notes.append(("trusted proxies", f"waitress trusts one address: {trusted}"))
    notes.append(("timeout", "waitress cannot stop a running request; timeout and max_requests do not apply"))
    argv += list(launch.server_args)
    argv.append(launch.app_target)
    return Command(argv=tuple(argv), env={"WARP_ACCESS_LOG": launch.access_log_format}, notes=tuple(notes))
