"""Screen-pop benchmark (issue 4): CRM look-up, card build and ring-to-pop latency.

    python bench/screen_pop.py [--customers 1000000] [--db sqlite|postgres|both] [--samples N]
                               [--consoles 200] [--pops 500] [--reuse-db DIR] [--json]

Seeds once into a cache directory (``--reuse-db DIR``, default
``/var/tmp/callcenter-bench/screen_pop``; world-readable because PostgreSQL runs as the
``postgres`` user when we are root) and reuses it on later runs: ``sqlite-<N>.db`` and
``pg-<N>/`` (a private cluster started with tests/harness's ``PostgresServer``), each with a
``.json`` marker written only after the seed finished. 1M customers take minutes to seed.

Measured, per backend, in this order and in the same run:

- **look-up**: ``find_customers`` for random known numbers written in mixed human formats
  (E.164, international with spaces, ``00`` prefix, national for US numbers), customer codes
  and unknown numbers, in one warm session;
- **card build**: ``build_card`` for random customers;
- **pop look-up**: ``lookup_card`` in a fresh session per call, exactly as callcenter/app.py
  wires the screen pop;
- **baseline**: the naive look-up without E.164 normalisation or index: the caller's national
  digits ``LIKE '%digits%'`` over the raw phone text with punctuation stripped (a full scan);
  plus, on SQLite, the same ``find_customers``/``build_card`` through SQLAlchemy's aiosqlite
  adapter without the one-hop read path (``crm_bridge.lookup.FAST_SQLITE = False``);
- **ring-to-pop**: a real aiohttp app (``callcenter.web.create_app`` with an ``AgentHub``) on
  loopback, ``--consoles`` WebSocket clients on ``/ws/agents/<id>``, a ``ScreenPopService``
  with the real CRM look-up, a ``CallModel`` fed AMI-shaped events; the time from feeding the
  ``Newstate`` (Ringing) event of an agent channel to that agent's console receiving the pop.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import gc
import json
import os
import random
import shutil
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import phonenumbers
from aiohttp import web
from sqlalchemy import func, select, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from callcenter.config import Settings  # noqa: E402
from callcenter.cti.model import CallModel  # noqa: E402
from callcenter.events import EventBus  # noqa: E402
from callcenter.metrics import Metrics  # noqa: E402
from callcenter.screenpop.hub import AgentHub  # noqa: E402
from callcenter.screenpop.service import ScreenPopService  # noqa: E402
from callcenter.web import Principal, create_app  # noqa: E402
from crm_bridge import lookup as crm_lookup  # noqa: E402
from crm_bridge.db import make_engine, session_factory  # noqa: E402
from crm_bridge.models import Customer, Phone  # noqa: E402
from crm_bridge.seed import seed  # noqa: E402
from tests.harness.ports import free_port  # noqa: E402
from tests.harness.postgres_server import PostgresServer, find_pg_bindir  # noqa: E402

DEFAULT_CACHE = Path("/var/tmp/callcenter-bench/screen_pop")
REGION = "US"
TARGETS_MS = {"lookup_p99": 2.0, "card_p99": 10.0, "ring_to_pop_p99": 50.0}


# --- seeded databases, cached ----------------------------------------------------------------


def _open_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    for part in (path, *path.parents):
        if str(part) in ("/", "/var", "/var/tmp", "/tmp"):
            break
        with contextlib.suppress(OSError):
            os.chmod(part, 0o755)


async def sqlite_database(cache: Path, customers: int, log: Callable[[str], None]) -> str:
    path = cache / f"sqlite-{customers}.db"
    marker = cache / f"sqlite-{customers}.json"
    url = f"sqlite+aiosqlite:///{path}"
    if marker.exists():
        log(f"sqlite: reusing {path}")
        return url
    for stale in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        stale.unlink(missing_ok=True)
    log(f"sqlite: seeding {customers:,} customers into {path} (minutes for 1M)")
    anchor = dt.datetime.now(dt.UTC).replace(microsecond=0)
    report = await seed(url, customers, anchor=anchor, progress=sys.stderr.isatty())
    marker.write_text(json.dumps({"customers": customers, "anchor": anchor.isoformat(),
                                  "seed_s": report.seconds, "rows": report.rows}))
    return url


def postgres_server(cache: Path, customers: int) -> tuple[PostgresServer, dict[str, Any]]:
    """The cached cluster for ``customers`` (started), and its marker (``done`` once seeded)."""
    bindir = find_pg_bindir()
    if bindir is None:
        raise SystemExit("PostgreSQL binaries not found (initdb, pg_ctl)")
    marker = cache / f"pg-{customers}.json"
    meta = json.loads(marker.read_text()) if marker.exists() else {}
    workdir = cache / f"pg-{customers}"
    if not meta.get("done"):
        shutil.rmtree(workdir, ignore_errors=True)
        meta = {}
    server = PostgresServer(bindir, port=free_port(), password=meta.get("password"))
    shutil.rmtree(server.workdir, ignore_errors=True)  # the harness made a temp dir: use ours
    server.workdir = workdir
    server.datadir, server.sockdir = workdir / "data", workdir / "sock"
    server.logfile = workdir / "postgres.log"
    workdir.mkdir(exist_ok=True)
    server.start()
    if not meta:
        meta = {"customers": customers, "password": server.password}
        marker.write_text(json.dumps(meta))
    return server, meta


async def postgres_database(server: PostgresServer, meta: dict[str, Any], cache: Path,
                            customers: int, log: Callable[[str], None]) -> str:
    if meta.get("done"):
        log(f"postgres: reusing {server.workdir}")
        return server.url
    log(f"postgres: seeding {customers:,} customers into {server.workdir} (minutes for 1M)")
    anchor = dt.datetime.now(dt.UTC).replace(microsecond=0)
    report = await seed(server.url, customers, anchor=anchor, progress=sys.stderr.isatty())
    server.psql("VACUUM ANALYZE", database=server.database)
    meta.update(done=True, anchor=anchor.isoformat(), seed_s=report.seconds, rows=report.rows)
    (cache / f"pg-{customers}.json").write_text(json.dumps(meta))
    return server.url


# --- samples ---------------------------------------------------------------------------------


def human_formats(e164: str) -> list[str]:
    """How people and trunks write this number; national form only for the default region."""
    number = phonenumbers.parse(e164)
    international = phonenumbers.format_number(
        number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    forms = [e164, international, "00" + international[1:].replace(" ", " ")]
    if phonenumbers.region_code_for_number(number) == REGION:
        forms.append(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL))
        forms[2] = "011 " + international[1:]  # what a US caller dials abroad
    return forms


async def pick_samples(sessions: Any, count: int, rng: random.Random) -> dict[str, Any]:
    async with sessions() as session:
        max_phone = await session.scalar(select(func.max(Phone.id)))
        max_customer = await session.scalar(select(func.max(Customer.id)))
        phone_ids = rng.sample(range(1, max_phone + 1), min(count, max_phone))
        rows = (await session.execute(
            select(Phone.e164, Phone.raw).where(Phone.id.in_(phone_ids)))).all()
        customer_ids = rng.sample(range(1, max_customer + 1), min(count, max_customer))
        codes = list(await session.scalars(
            select(Customer.customer_code).where(Customer.id.in_(customer_ids[: count // 6 + 1]),
                                                 Customer.customer_code.is_not(None))))
        unknown: list[str] = []
        while len(unknown) < count // 6 + 1:  # valid numbers nobody in the CRM has
            candidate = f"+1415555{rng.randrange(10_000):04d}"
            if not await session.scalar(select(Phone.id).where(Phone.e164 == candidate)):
                unknown.append(candidate)
    known = [rng.choice(human_formats(e164)) for e164, _ in rows]
    queries = known + codes + [rng.choice(human_formats(e164)) for e164 in unknown]
    rng.shuffle(queries)
    return {"queries": queries[:count], "customer_ids": customer_ids[:count],
            "e164": [e164 for e164, _ in rows]}


# --- timing ----------------------------------------------------------------------------------


def summary(seconds: list[float]) -> dict[str, float]:
    ms = sorted(s * 1000 for s in seconds)

    def pct(p: float) -> float:
        return round(ms[min(len(ms) - 1, round(p / 100 * (len(ms) - 1)))], 3)

    return {"n": len(ms), "p50": pct(50), "p95": pct(95), "p99": pct(99),
            "max": round(ms[-1], 3), "mean": round(statistics.fmean(ms), 3)}


async def timed(items: list[Any], call: Callable[[Any], Awaitable[Any]],
                warmup: int = 50) -> dict[str, float]:
    for item in items[:warmup]:
        await call(item)
    seconds = []
    for item in items:
        began = time.perf_counter()
        await call(item)
        seconds.append(time.perf_counter() - began)
    return summary(seconds)


BASELINE_SQL = {
    # no normalisation, no index: the caller's digits anywhere in the raw text (punctuation
    # stripped on the fly), as a first naive implementation would do it
    "sqlite": "SELECT DISTINCT customer_id FROM phones WHERE replace(replace(replace(replace("
              "replace(raw, ' ', ''), '-', ''), '(', ''), ')', ''), '+', '') LIKE :pattern "
              "LIMIT 20",
    "postgresql": "SELECT DISTINCT customer_id FROM phones WHERE regexp_replace(raw, '[^0-9]', "
                  "'', 'g') LIKE :pattern LIMIT 20",
}


def national_digits(query: str) -> str | None:
    try:
        number = phonenumbers.parse(query, REGION)
    except phonenumbers.NumberParseException:
        return None
    return str(number.national_number)


async def measure_backend(name: str, url: str, args: argparse.Namespace,
                          log: Callable[[str], None]) -> dict[str, Any]:
    rng = random.Random(args.seed)
    engine = make_engine(url)
    sessions = session_factory(engine)
    result: dict[str, Any] = {"backend": name}
    try:
        samples = await pick_samples(sessions, args.samples, rng)
        queries, ids = samples["queries"], samples["customer_ids"]
        async with sessions() as session:
            found = 0
            for query in queries:
                found += bool(await crm_lookup.find_customers(session, query, REGION))
            result["sample_mix"] = {"queries": len(queries), "matched": found}
            log(f"{name}: look-up ({len(queries)} samples)")
            gc.collect()
            result["lookup"] = await timed(
                queries, lambda q: crm_lookup.find_customers(session, q, REGION))
            log(f"{name}: card build")
            result["card"] = await timed(ids, lambda i: crm_lookup.build_card(session, i))

        async def pop_lookup(query: str) -> Any:
            async with sessions() as fresh:
                return await crm_lookup.lookup_card(fresh, query, REGION)

        log(f"{name}: lookup_card, fresh session per call (the screen pop's path)")
        result["pop_lookup"] = await timed(queries, pop_lookup)

        if name == "sqlite":
            log("sqlite: the same through SQLAlchemy's aiosqlite adapter (no one-hop path)")
            crm_lookup.FAST_SQLITE = False
            try:
                async with sessions() as session:
                    result["lookup_orm"] = await timed(
                        queries, lambda q: crm_lookup.find_customers(session, q, REGION))
                    result["card_orm"] = await timed(
                        ids, lambda i: crm_lookup.build_card(session, i))
            finally:
                crm_lookup.FAST_SQLITE = True

        log(f"{name}: baseline, unnormalised LIKE scan ({args.baseline_samples} samples)")
        sql = text(BASELINE_SQL[engine.dialect.name])
        patterns = [f"%{digits}%" for digits in
                    (national_digits(q) for q in rng.sample(
                        [s for s in samples["e164"]], min(args.baseline_samples,
                                                          len(samples["e164"]))))
                    if digits]
        async with sessions() as session:
            result["baseline"] = await timed(
                patterns, lambda p: session.execute(sql, {"pattern": p}), warmup=1)

        log(f"{name}: ring-to-pop, {args.consoles} consoles, {args.pops} pops")
        result["ring_to_pop"] = await ring_to_pop(sessions, samples["queries"], args, rng)
    finally:
        await engine.dispose()
    result["ratios"] = {
        "baseline_over_lookup_p50": round(result["baseline"]["p50"] / result["lookup"]["p50"], 1),
        "baseline_over_lookup_p99": round(result["baseline"]["p99"] / result["lookup"]["p99"], 1),
    }
    if "lookup_orm" in result:
        result["ratios"]["orm_over_lookup_p99"] = round(
            result["lookup_orm"]["p99"] / result["lookup"]["p99"], 2)
        result["ratios"]["orm_over_card_p99"] = round(
            result["card_orm"]["p99"] / result["card"]["p99"], 2)
    result["targets"] = {
        "lookup_p99": result["lookup"]["p99"] <= TARGETS_MS["lookup_p99"],
        "card_p99": result["card"]["p99"] <= TARGETS_MS["card_p99"],
        "ring_to_pop_p99": result["ring_to_pop"]["p99"] <= TARGETS_MS["ring_to_pop_p99"],
    }
    return result


# --- ring-to-pop -----------------------------------------------------------------------------


class ConsoleAuth:
    """The token is the principal id (``agent:<id>``): no password checks in a benchmark."""

    async def authenticate(self, request: web.Request) -> Principal:
        return Principal(request.query.get("token", "anonymous"), frozenset({"agent"}))


def ami(event: str, uid: str, name: str, state: str, linked: str, **extra: str,
        ) -> dict[str, str]:
    return {"Event": event, "Uniqueid": uid, "Linkedid": linked, "Channel": name,
            "ChannelState": state, **extra}


async def ring_to_pop(sessions: Any, queries: list[str], args: argparse.Namespace,
                      rng: random.Random) -> dict[str, Any]:
    bus = EventBus()
    model = CallModel(emit=bus.publish)
    hub = AgentHub()

    async def lookup(query: str) -> dict[str, Any]:  # as callcenter/app.py wires it
        async with sessions() as session:
            return await crm_lookup.lookup_card(session, query, REGION)

    service = ScreenPopService(bus, model, hub, lookup)
    app = create_app(settings=Settings(), bus=bus, calls=model,
                     metrics=Metrics(), agent_hub=hub, authenticator=ConsoleAuth())
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    agents = [str(2001 + i) for i in range(args.consoles)]
    waiting: dict[str, asyncio.Future[float]] = {}
    received = 0

    async def console(http: aiohttp.ClientSession, agent: str,
                      ready: asyncio.Future[None]) -> None:
        nonlocal received
        async with http.ws_connect(
                f"http://127.0.0.1:{port}/ws/agents/{agent}?token=agent:{agent}") as ws:
            hello = await ws.receive_json()
            assert hello["type"] == "hello", hello
            ready.set_result(None)
            async for message in ws:
                at = time.perf_counter()
                pop = json.loads(message.data)
                received += 1
                future = waiting.pop(pop["call_id"], None)
                if future is not None and pop["agent_id"] == agent and not future.done():
                    future.set_result(at)

    latencies: list[float] = []
    cards = 0
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        readies = [asyncio.get_running_loop().create_future() for _ in agents]
        tasks = [asyncio.create_task(console(http, agent, ready))
                 for agent, ready in zip(agents, readies, strict=True)]
        try:
            await asyncio.wait_for(asyncio.gather(*readies), 60)
            assert all(hub.connected(agent) == 1 for agent in agents)
            for i in range(args.pops + 20):
                agent = rng.choice(agents)
                call = f"bench-{i}"
                caller = queries[i % len(queries)]
                trunk, leg = f"PJSIP/trunk-{i:08x}", f"PJSIP/{agent}-{i:08x}"
                model.apply(ami("Newchannel", call, trunk, "4", call, CallerIDNum=caller))
                model.apply(ami("Newchannel", f"{call}-a", leg, "0", call))
                future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
                waiting[call] = future
                began = time.perf_counter()
                model.apply(ami("Newstate", f"{call}-a", leg, "5", call))  # the phone rings
                arrived = await asyncio.wait_for(future, 10)
                if i >= 20:  # warm-up
                    latencies.append(arrived - began)
                for uid, name in ((f"{call}-a", leg), (call, trunk)):
                    model.apply(ami("Hangup", uid, name, "6", call, Cause="16"))
                cards += 1
                await asyncio.sleep(rng.uniform(0, 0.004))  # pops do not come back to back
            await asyncio.sleep(0.2)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await service.close()
            await runner.cleanup()
    stats: dict[str, Any] = summary(latencies)
    stats.update(consoles=args.consoles, pops_received=received,
                 wrong_console=received - cards)
    return stats


# --- report ----------------------------------------------------------------------------------


def table(results: list[dict[str, Any]], customers: int) -> str:
    lines = [f"screen pop benchmark: {customers:,} customers, default region {REGION}", ""]
    head = f"{'backend':<9} {'measure':<44} {'p50 ms':>9} {'p95 ms':>9} {'p99 ms':>9}  target"
    lines += [head, "-" * len(head)]
    rows = [
        ("lookup", "look-up: find_customers (mixed formats)", "lookup_p99"),
        ("card", "card build: build_card", "card_p99"),
        ("pop_lookup", "lookup_card, fresh session (screen pop)", None),
        ("lookup_orm", "  without one-hop read path (find)", None),
        ("card_orm", "  without one-hop read path (card)", None),
        ("baseline", "baseline: unnormalised LIKE scan", None),
        ("ring_to_pop", "ring-to-pop over WebSocket (loopback)", "ring_to_pop_p99"),
    ]
    for result in results:
        for key, label, target in rows:
            if key not in result:
                continue
            s = result[key]
            verdict = ""
            if target:
                met = result["targets"][target]
                verdict = f"p99 <= {TARGETS_MS[target]:g} ms: {'met' if met else 'NOT MET'}"
            lines.append(f"{result['backend']:<9} {label:<44} {s['p50']:>9.3f} {s['p95']:>9.3f} "
                         f"{s['p99']:>9.3f}  {verdict}")
        r = result["ratios"]
        extra = ""
        if "orm_over_lookup_p99" in r:
            extra = (f"; plain SQLAlchemy/aiosqlite path / ours (p99): find "
                     f"{r['orm_over_lookup_p99']}x, card {r['orm_over_card_p99']}x")
        pop = result["ring_to_pop"]
        lines.append(f"{result['backend']:<9} ratio baseline / look-up: p50 "
                     f"{r['baseline_over_lookup_p50']:,}x, p99 {r['baseline_over_lookup_p99']:,}x"
                     f"{extra}")
        lines.append(f"{result['backend']:<9} ring-to-pop: {pop['n']} pops, {pop['consoles']} "
                     f"consoles, {pop['wrong_console']} delivered to a wrong console")
        lines.append("")
    return "\n".join(lines)


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    cache = Path(args.reuse_db or DEFAULT_CACHE)
    _open_dir(cache)

    def log(message: str) -> None:
        if not args.json or args.verbose:
            print(f"# {message}", file=sys.stderr, flush=True)

    backends = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    results = []
    for backend in backends:
        if backend == "sqlite":
            url = await sqlite_database(cache, args.customers, log)
            results.append(await measure_backend("sqlite", url, args, log))
        else:
            server, meta = postgres_server(cache, args.customers)
            try:
                url = await postgres_database(server, meta, cache, args.customers, log)
                results.append(await measure_backend("postgres", url, args, log))
            finally:
                server.stop()
    return {"benchmark": "screen_pop", "customers": args.customers, "region": REGION,
            "targets_ms": TARGETS_MS, "python": sys.version.split()[0],
            "results": {result["backend"]: result for result in results}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--samples", type=int, default=3000, help="look-ups and cards timed")
    parser.add_argument("--baseline-samples", type=int, default=20)
    parser.add_argument("--consoles", type=int, default=200)
    parser.add_argument("--pops", type=int, default=500)
    parser.add_argument("--reuse-db", metavar="DIR", help=f"cache directory ({DEFAULT_CACHE})")
    parser.add_argument("--seed", type=int, default=1, help="random seed of the samples")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--verbose", action="store_true", help="progress on stderr with --json")
    args = parser.parse_args()
    report = asyncio.run(main_async(args))
    if args.json:
        print(json.dumps(report))
    else:
        print(table(list(report["results"].values()), args.customers))


if __name__ == "__main__":
    main()
