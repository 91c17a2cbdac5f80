"""``GET /health``: readiness of the server and each dependency it needs to take calls.

Answers 200 only when every component is up; 503 otherwise — *including when only the PBX
link is down*: without it this process cannot see or route a single call, so a load
balancer should prefer another process and an alert should fire. Use it as a readiness probe,
not as a liveness probe that restarts the process: the AMI adapter reconnects by itself, and a
restart would only lose the live state it is about to resync.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web

from callcenter.core.pbx import PbxStatus
from callcenter.logs import redact_text
from callcenter.web.state import HEALTH_CHECKS, HEALTH_TIMEOUT, PBX_STATUS, HealthCheck

log = logging.getLogger(__name__)


def pbx_component(status: PbxStatus) -> dict[str, Any]:
    """The PBX link's status (up = linked and the call model resynced) and the adapter's own
    counters an operator looks at first (AMI: reconnects, last resync, events received)."""
    return {
        "status": "up" if status.connected else "down",
        "pbx": status.pbx,
        "connected_since": status.connected_since,
        "version": status.version,
        "last_error": redact_text(status.last_error),
        "details": dict(status.details),
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


async def handle(request: web.Request) -> web.Response:
    checks = request.app[HEALTH_CHECKS]
    timeout_s = request.app[HEALTH_TIMEOUT]
    results = await asyncio.gather(*(probe(n, c, timeout_s) for n, c in checks.items()))
    components = {"pbx": pbx_component(request.app[PBX_STATUS]())}
    components.update(zip(checks, results, strict=True))
    healthy = all(c["status"] == "up" for c in components.values())
    return web.json_response(
        {"status": "ok" if healthy else "down", "components": components},
        status=200 if healthy else 503,
        headers={"Cache-Control": "no-store"},
    )
