"""``GET /health``: readiness of the server and each dependency it needs to take calls.

Answers 200 only when every component is up; 503 otherwise — *including when only the AMI
link is down*: without its PBX link this process cannot see or route a single call, so a load
balancer should prefer another process and an alert should fire. Use it as a readiness probe,
not as a liveness probe that restarts the process: the AMI adapter reconnects by itself, and a
restart would only lose the live state it is about to resync.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web

from callcenter.cti.link import LinkStats
from callcenter.logs import redact_text
from callcenter.web.auth import public
from callcenter.web.state import HEALTH_CHECKS, HEALTH_TIMEOUT, LINK, HealthCheck

log = logging.getLogger(__name__)


def ami_component(link: LinkStats) -> dict[str, Any]:
    """The AMI link's status and the counters an operator looks at first."""
    return {
        "status": "up" if link.connected else "down",
        "pbx": link.pbx,
        "connected_since": link.connected_since,
        "asterisk_version": link.asterisk_version,
        "ami_version": link.ami_version,
        "reconnects": link.reconnects,
        "last_error": redact_text(link.last_error),
        "last_resync_s": link.last_resync_s,
        "events_received": link.events_received,
    }


async def probe(name: str, check: HealthCheck, timeout_s: float) -> dict[str, Any]:
    """Run one check under a timeout; a hung database must not hang the probe."""
    try:
        async with asyncio.timeout(timeout_s):
            await check()
    except TimeoutError:
        error = f"timed out after {timeout_s:g}s"
    except Exception as exc:
        error = redact_text(f"{type(exc).__name__}: {exc}")  # DSNs in driver errors
    else:
        return {"status": "up"}
    log.warning("health check %s failed: %s", name, error)
    return {"status": "down", "error": error}


@public
async def handle(request: web.Request) -> web.Response:
    checks = request.app[HEALTH_CHECKS]
    timeout_s = request.app[HEALTH_TIMEOUT]
    results = await asyncio.gather(*(probe(n, c, timeout_s) for n, c in checks.items()))
    components = {"ami": ami_component(request.app[LINK])}
    components.update(zip(checks, results, strict=True))
    healthy = all(c["status"] == "up" for c in components.values())
    return web.json_response(
        {"status": "ok" if healthy else "down", "components": components},
        status=200 if healthy else 503,
        headers={"Cache-Control": "no-store"},
    )
