"""Queue figures and the raw queue-event log, read from the ``queue_log`` table.

The figures are recomputed from the rows on every request (``crm_bridge.queue_figures``: the
formulas are in its docstring), so a report for any range and interval agrees with the log row
by row. Times in the query string are ISO 8601 with an offset (``2026-12-10T08:00:00Z``) or a
bare date (midnight UTC); a ``+hh:mm`` offset sent unencoded (``+`` reads as a space in a query
string) is understood too.
"""

from __future__ import annotations

import datetime as dt
import re

from aiohttp import web

from callcenter.web.errors import ApiError
from callcenter.web.routes.customers import crm_route, int_param, sessions
from callcenter.web.state import ACD_RUNTIME, SETTINGS
from crm_bridge.queue_figures import DEFAULT_INTERVAL_S, DEFAULT_THRESHOLD_S, queue_figures
from crm_bridge.queue_log import read_entries, read_log

#: the longest range one request may ask for (the rows are read into memory)
MAX_RANGE = dt.timedelta(days=7)
MAX_INTERVALS = 2016  # a week of 5-minute intervals
MIN_INTERVAL_S, MAX_INTERVAL_S = 60, 86_400
MAX_THRESHOLD_S = 3600
DEFAULT_LOG_LIMIT, MAX_LOG_LIMIT = 100, 1000
MAX_NAME_CHARS = 64  # queue and call ids are stored in 64 characters
_UNENCODED_OFFSET = re.compile(r"(\d) (\d{2}(:?\d{2})?)$")


def _time(request: web.Request, name: str) -> dt.datetime | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    text = _UNENCODED_OFFSET.sub(r"\1+\2", raw.strip())
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ApiError(400, "invalid_parameter",
                       f"{name} must be an ISO 8601 time such as 2026-12-10T08:00:00Z "
                       f"(got {raw[:40]!r})") from None
    if value.tzinfo is None:
        if len(text) != 10:  # a bare date is midnight UTC; a time must say its offset
            raise ApiError(400, "invalid_parameter",
                           f"{name} must carry a UTC offset (Z or +hh:mm): {raw[:40]!r}")
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def _range(request: web.Request) -> tuple[dt.datetime, dt.datetime]:
    """``from`` (default: midnight UTC of ``to``) and ``to`` (default: now)."""
    end = _time(request, "to") or dt.datetime.now(dt.UTC)
    start = _time(request, "from") or end.replace(hour=0, minute=0, second=0, microsecond=0)
    if start >= end:
        raise ApiError(400, "invalid_parameter", "from must be before to")
    if end - start > MAX_RANGE:
        raise ApiError(400, "invalid_parameter",
                       f"at most {MAX_RANGE.days} days per request (ask in parts)")
    return start, end


def _queue(request: web.Request) -> str:
    queue = request.match_info["queue"]
    if not queue or len(queue) > MAX_NAME_CHARS:
        raise ApiError(400, "invalid_parameter",
                       f"a queue name has 1 to {MAX_NAME_CHARS} characters")
    return queue


def _served(request: web.Request) -> list[str]:
    """The queues the server runs (its definitions: the database's or the settings')."""
    runtime = request.app.get(ACD_RUNTIME)
    if runtime is not None:
        return [definition.name for definition in runtime.definitions.queues]
    return list(request.app[SETTINGS].acd.queues)


async def _stats(request: web.Request, queue: str | None) -> web.Response:
    start, end = _range(request)
    interval_s = int_param(request, "interval", int(DEFAULT_INTERVAL_S), MIN_INTERVAL_S,
                           MAX_INTERVAL_S)
    threshold_s = int_param(request, "threshold", int(DEFAULT_THRESHOLD_S), 1,
                            MAX_THRESHOLD_S)
    if (end - start).total_seconds() / interval_s > MAX_INTERVALS:
        raise ApiError(400, "invalid_parameter",
                       f"at most {MAX_INTERVALS} intervals per request (a longer interval "
                       "or a shorter range)")
    async with sessions(request)() as session:
        entries = await read_entries(session, start, end, queue)
    configured = [queue] if queue is not None else _served(request)
    reports = queue_figures(entries, start.timestamp(), end.timestamp(),
                            interval_s=interval_s, threshold_s=threshold_s, queues=configured)

    def when(epoch: float) -> str:
        return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat()

    return web.json_response({
        "from": start.isoformat(), "to": end.isoformat(), "interval_s": interval_s,
        "threshold_s": threshold_s, "rows": len(entries),
        "queues": [report.to_dict(when) for report in reports.values()]})


@crm_route
async def all_stats(request: web.Request) -> web.Response:
    """``GET /api/queues/stats``: every queue (configured or in the log) over the range."""
    return await _stats(request, None)


@crm_route
async def queue_stats(request: web.Request) -> web.Response:
    """``GET /api/queues/{queue}/stats``: one queue over the range."""
    return await _stats(request, _queue(request))


@crm_route
async def queue_log(request: web.Request) -> web.Response:
    """``GET /api/queues/{queue}/log``: the newest rows (of one call), oldest first."""
    queue = _queue(request)
    call_id = request.query.get("call_id") or None
    if call_id is not None and len(call_id) > MAX_NAME_CHARS:
        raise ApiError(400, "invalid_parameter", f"call_id has at most {MAX_NAME_CHARS} "
                       "characters")
    limit = int_param(request, "limit", DEFAULT_LOG_LIMIT, 1, MAX_LOG_LIMIT)
    start, end = _time(request, "from"), _time(request, "to")
    if start is not None and end is not None and start >= end:
        raise ApiError(400, "invalid_parameter", "from must be before to")
    async with sessions(request)() as session:
        rows = await read_log(session, queue, call_id=call_id, start=start, end=end,
                              limit=limit)
    return web.json_response({"queue": queue, "rows": rows})
