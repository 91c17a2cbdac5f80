"""The CRM REST routes (``/api/customers``, ``/api/interactions``) on a real SQLite file.

Each test gets a freshly migrated database in ``tmp_path`` and an app built with
``create_app(crm_sessions=...)``, driven through aiohttp's test client. The helpers here are
reused by ``tests/integration/test_web_customers_pg.py`` against PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from callcenter.config import HttpSettings, Settings
from callcenter.events import EventBus
from callcenter.metrics import Metrics
from callcenter.web import create_app
from callcenter.web.idempotency import DatabaseResults, StoredResult
from callcenter.web.routes.customers import IdempotencyStore
from crm_bridge.db import make_engine, session_factory, upgrade_database
from crm_bridge.models import Customer, IdempotencyKeyRow, Interaction, Order, Phone
from crm_bridge.users import DbUsers
from tests.accounts import add_user, sign_in, sign_in_as, token_for
from tests.fakes import NoCalls

pytestmark = pytest.mark.unit

T0 = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
INJECTIONS = ["' OR 1=1 --", "%", "_", '"; DROP TABLE customers; --', "1' OR '1'='1",
              "%%", "\\", "*"]
CUSTOMERS = [
    # (code, name, [(e164, raw)])
    ("10001", "Alice Smith", [("+14155550132", "(415) 555-0132")]),
    ("10002", "Bob O'Brien", [("+8613800138000", "+86 138-0013-8000")]),
    ("C-3", "张伟", [("+442079460958", "020 7946 0958")]),
    ("10004", "100% Pure_Water Ltd", [("+12125550100", "212-555-0100")]),
    (None, "Dan Shared", [("+14155550199", "415 555 0199")]),
    (None, "Eve Shared", [("+14155550199", "415 555 0199")]),
    ("10007", "smithson trading", []),
]


def build_app(sessions: Any = None, max_body_bytes: int = 64 * 1024,
              users_in_db: bool = True) -> Any:
    settings = Settings(crm_default_region="US", http=HttpSettings(max_body_bytes=max_body_bytes))
    return create_app(settings=settings, bus=EventBus(), calls=NoCalls(),
                      metrics=Metrics(), crm_sessions=sessions,
                      users=DbUsers(sessions) if sessions is not None and users_in_db else None)


async def seed_rows(sessions: Any) -> dict[str, int]:
    """The customers above (by name → id), orders for Alice and three interactions of hers."""
    ids: dict[str, int] = {}
    async with sessions() as session, session.begin():
        for code, name, phones in CUSTOMERS:
            customer = Customer(customer_code=code, name=name)
            customer.phones = [Phone(e164=e164, raw=raw, kind="other") for e164, raw in phones]
            customer.tags = []
            session.add(customer)
            await session.flush()
            ids[name] = customer.id
        alice = ids["Alice Smith"]
        session.add(Order(customer_id=alice, product="Router", amount=Decimal("2500.00"),
                          ordered_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=3)))
        for minutes in (0, 30, 10):
            session.add(Interaction(customer_id=alice, direction="inbound",
                                    call_id=f"call-{minutes}", caller_number="+14155550132",
                                    started_at=T0 + dt.timedelta(minutes=minutes)))
    return ids


@contextlib.asynccontextmanager
async def crm_client(url: str) -> AsyncIterator[tuple[TestClient[Any, Any], Any, dict[str, int]]]:
    """A migrated, seeded database at ``url`` behind a running app: (client, sessions, ids)."""
    await upgrade_database(url)
    engine = make_engine(url)
    sessions = session_factory(engine)
    try:
        ids = await seed_rows(sessions)
        async with TestClient(TestServer(build_app(sessions))) as client:
            await sign_in(client)
            yield client, sessions, ids
    finally:
        await engine.dispose()


async def count(sessions: Any, model: Any) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def names(client: TestClient[Any, Any], q: str, **params: Any) -> list[str]:
    resp = await client.get("/api/customers", params={"q": q, **params})
    assert resp.status == 200, await resp.text()
    return [c["name"] for c in (await resp.json())["customers"]]


async def error(resp: Any, status: int, code: str) -> dict[str, Any]:
    assert resp.status == status, await resp.text()
    body: dict[str, Any] = (await resp.json())["error"]
    assert body["code"] == code, body
    return body


@pytest.fixture
async def crm(tmp_path: Path) -> AsyncIterator[tuple[TestClient[Any, Any], Any, dict[str, int]]]:
    async with crm_client(f"sqlite+aiosqlite:///{tmp_path / 'crm.db'}") as ready:
        yield ready


# --- search -----------------------------------------------------------------------------------


async def test_search_by_name_is_case_insensitive_substring_prefix_first(crm: Any) -> None:
    client, _, _ = crm
    # a name that starts with the text ranks before one that only contains it
    assert await names(client, "smith") == ["smithson trading", "Alice Smith"]
    assert await names(client, "SMITH") == ["smithson trading", "Alice Smith"]
    assert await names(client, "o'brien") == ["Bob O'Brien"]
    assert await names(client, "张") == ["张伟"]
    assert await names(client, "nobody at all") == []


async def test_search_by_phone_in_any_format_and_by_code(crm: Any) -> None:
    client, _, _ = crm
    for text in ("(415) 555-0132", "415.555.0132", "+1 415 555 0132", "001 415 555 0132"):
        assert await names(client, text) == ["Alice Smith"], text
    assert await names(client, "+86 138-0013-8000") == ["Bob O'Brien"]
    assert await names(client, "0044 20 7946 0958") == ["张伟"]
    assert await names(client, "415 555 0199") == ["Dan Shared", "Eve Shared"]
    assert await names(client, "10002") == ["Bob O'Brien"]
    assert await names(client, "C-3") == ["张伟"]


async def test_search_pages_and_totals(crm: Any) -> None:
    client, _, _ = crm
    resp = await client.get("/api/customers", params={"q": "e", "limit": "2", "offset": "1"})
    body = await resp.json()
    assert body["total"] >= 4 and len(body["customers"]) == 2
    everything = await names(client, "e", limit=100)
    assert [c["name"] for c in body["customers"]] == everything[1:3]
    assert set(body["customers"][0]) == {"customer_id", "customer_code", "name", "company",
                                         "region"}


@pytest.mark.parametrize("params", [{}, {"q": "  "}, {"q": "a", "limit": "0"},
                                    {"q": "a", "limit": "101"}, {"q": "a", "limit": "x"},
                                    {"q": "a", "offset": "-1"}, {"q": "x" * 201},
                                    {"q": "a\x00b"}])
async def test_search_bad_parameters_are_400(crm: Any, params: dict[str, str]) -> None:
    client, _, _ = crm
    await error(await client.get("/api/customers", params=params), 400, "invalid_parameter")


async def test_search_injection_strings_are_only_data(crm: Any) -> None:
    client, sessions, _ = crm
    before = (await count(sessions, Customer), await count(sessions, Phone))
    for text in INJECTIONS:
        found = await names(client, text)
        # "%" and "_" are literal characters of one name, not wildcards
        assert found == (["100% Pure_Water Ltd"] if text in ("%", "_") else []), text
    assert (await count(sessions, Customer), await count(sessions, Phone)) == before


# --- lookup and card ------------------------------------------------------------------------


async def test_lookup_is_the_screen_pop_answer(crm: Any) -> None:
    client, _, ids = crm
    resp = await client.get("/api/customers/lookup", params={"number": "(415) 555-0132"})
    answer = await resp.json()
    assert answer["match"]["customer_id"] == ids["Alice Smith"]
    # no tiers computed yet: none; after a refresh Alice, the only buyer, tops the pyramid
    assert answer["match"]["value_tier"] == "none"
    refreshed = await client.post("/api/analytics/refresh")
    assert refreshed.status == 200, await refreshed.text()
    assert (await refreshed.json())["tiers"]["vip"] == 1
    answer = await (await client.get("/api/customers/lookup",
                                     params={"number": "(415) 555-0132"})).json()
    assert answer["match"]["value_tier"] == "vip"
    assert answer["match"]["churn"]["at_risk"] is False
    assert answer["match"]["rfm"] == {"r": 5, "f": 5, "m": 5, "segment": "champions"}
    shared = await (await client.get("/api/customers/lookup",
                                     params={"number": "+14155550199"})).json()
    assert shared["match"] is None
    assert [c["name"] for c in shared["candidates"]] == ["Dan Shared", "Eve Shared"]
    unknown = await (await client.get("/api/customers/lookup",
                                      params={"number": "+1 212 555 0199"})).json()
    assert unknown == {"match": None}
    bad = await (await client.get("/api/customers/lookup",
                                  params={"number": "' OR 1=1 --"})).json()
    assert bad["match"] is None and bad["error"]
    await error(await client.get("/api/customers/lookup"), 400, "invalid_parameter")


async def test_card_and_404(crm: Any) -> None:
    client, _, ids = crm
    resp = await client.get(f"/api/customers/{ids['Alice Smith']}")
    card = await resp.json()
    assert card["name"] == "Alice Smith" and card["phones"] == ["+14155550132"]
    assert [i["call_id"] for i in card["recent_interactions"]] == ["call-30", "call-10", "call-0"]
    for missing in ("999999", "abc", "1e3", "99999999999999999999999", "-1"):
        await error(await client.get(f"/api/customers/{missing}"), 404, "customer_not_found")


# --- create ---------------------------------------------------------------------------------

NEW = {"name": "  Frank   Lee ", "phones": ["(212) 555-0142", "+1 212 555 0142"],
       "customer_code": "20001", "email": "frank@example.com", "company": "Lee & Co",
       "birthday": "1980-02-29", "consent": True, "tags": ["vip", "new", "vip"]}


async def test_create_returns_201_card_and_location(crm: Any) -> None:
    client, sessions, _ = crm
    resp = await client.post("/api/customers", json=NEW)
    assert resp.status == 201, await resp.text()
    card = await resp.json()
    assert card["name"] == "Frank Lee"
    assert card["phones"] == ["+12125550142"]  # normalised; the repeat stored once
    assert card["tags"] == ["new", "vip"]
    assert card["birthday"] == "1980-02-29" and card["consent"] is True
    assert card["do_not_call"] is False and card["value_tier"] == "none"
    assert resp.headers["Location"] == f"/api/customers/{card['customer_id']}"
    again = await client.get(resp.headers["Location"])
    assert (await again.json())["customer_code"] == "20001"
    assert await names(client, "212 555 0142") == ["Frank Lee"]
    async with sessions() as session:
        raw = await session.scalar(select(Phone.raw).where(Phone.e164 == "+12125550142"))
    assert raw == "(212) 555-0142"


async def test_create_minimal_and_duplicate_code_409(crm: Any) -> None:
    client, sessions, _ = crm
    resp = await client.post("/api/customers", json={"name": "Only Name"})
    assert resp.status == 201
    before = await count(sessions, Customer)
    body = await error(await client.post("/api/customers",
                                         json={"name": "Copy", "customer_code": "10001"}),
                       409, "duplicate_customer_code")
    assert "10001" in body["message"]
    assert await count(sessions, Customer) == before


async def test_create_bad_phone_names_it(crm: Any) -> None:
    client, sessions, _ = crm
    before = await count(sessions, Customer)
    body = await error(await client.post("/api/customers", json={
        "name": "X", "phones": ["(415) 555-0132", "12"]}), 400, "invalid_phone")
    assert "phones[1]" in body["message"] and "'12'" in body["message"]
    assert await count(sessions, Customer) == before


@pytest.mark.parametrize(("payload", "where"), [
    ({"name": "X", "nickname": "x"}, "nickname"),
    ({"phones": []}, "name"),
    ({"name": ""}, "name"),
    ({"name": 5}, "name"),
    ({"name": "X", "consent": "yes"}, "consent"),
    ({"name": "X", "phones": "415 555 0132"}, "phones"),
    ({"name": "X", "phones": [4155550132]}, "phones.0"),
    ({"name": "X", "email": "not-an-address"}, "email"),
    ({"name": "X", "customer_code": "has space"}, "customer_code"),
    ({"name": "X", "birthday": "2999-01-01"}, "birthday"),
    ({"name": "X", "birthday": "yesterday"}, "birthday"),
    ({"name": "X", "tags": ["x" * 65]}, "tags.0"),
    ({"name": "X\x00Y"}, "name"),
    ({"name": "X", "email": "a\x00@example.com"}, "email"),
    ([{"name": "X"}], "body"),
])
async def test_create_validation_errors(crm: Any, payload: Any, where: str) -> None:
    client, sessions, _ = crm
    before = await count(sessions, Customer)
    body = await error(await client.post("/api/customers", json=payload), 400,
                       "validation_error")
    assert body["message"].startswith(f"{where}:"), body
    assert body["details"] and {"loc", "msg", "type"} <= set(body["details"][0])
    assert await count(sessions, Customer) == before


async def test_malformed_json_and_oversized_body(crm: Any) -> None:
    client, _, _ = crm
    await error(await client.post("/api/customers", data=b"{not json",
                                  headers={"Content-Type": "application/json"}),
                400, "invalid_json")
    big = {"name": "X", "address": "a" * 70_000}
    await error(await client.post("/api/customers", json=big), 413, "payload_too_large")


async def test_idempotency_key_replays_the_first_result(crm: Any) -> None:
    client, sessions, _ = crm
    before = await count(sessions, Customer)
    headers = {"Idempotency-Key": "form-42"}
    body = {"name": "Grace Hopper", "phones": ["+1 212 555 0177"]}
    first, second = await asyncio.gather(
        client.post("/api/customers", json=body, headers=headers),
        client.post("/api/customers", json=body, headers=headers))
    assert first.status == second.status == 201
    one, two = await first.json(), await second.json()
    assert one["customer_id"] == two["customer_id"]
    assert first.headers["Location"] == second.headers["Location"]
    replayed = [r.headers.get("Idempotent-Replayed") for r in (first, second)]
    assert sorted(replayed, key=str) == [None, "true"]  # one created, the other replayed
    assert await count(sessions, Customer) == before + 1
    await error(await client.post("/api/customers", json={"name": "Someone Else"},
                                  headers=headers), 422, "idempotency_key_reused")
    other = await client.post("/api/customers", json=body,
                              headers={"Idempotency-Key": "form-43"})
    assert other.status == 201
    assert (await other.json())["customer_id"] != one["customer_id"]
    await error(await client.post("/api/customers", json=body,
                                  headers={"Idempotency-Key": "k" * 256}),
                400, "invalid_idempotency_key")


async def test_failed_request_does_not_burn_its_key(crm: Any) -> None:
    client, _, _ = crm
    headers = {"Idempotency-Key": "retry-me"}
    await error(await client.post("/api/customers", headers=headers,
                                  json={"name": "Z", "customer_code": "10001"}),
                409, "duplicate_customer_code")
    resp = await client.post("/api/customers", headers=headers,
                             json={"name": "Z", "customer_code": "30001"})
    assert resp.status == 201


async def test_an_idempotency_key_outlives_a_restart_in_the_database(crm: Any) -> None:
    """No Redis: the first answer is kept in the database (``idempotency_keys``), so the
    same request after a restart (a new app on the same database) replays it."""
    client, sessions, _ = crm
    name = await add_user(client, "agent", "2001")  # keys are per principal: one account
    await sign_in_as(client, name)
    before = await count(sessions, Customer)
    headers = {"Idempotency-Key": "restart-1"}
    body = {"name": "Ada Lovelace", "phones": ["+1 212 555 0178"]}
    first = await client.post("/api/customers", json=body, headers=headers)
    assert first.status == 201
    async with TestClient(TestServer(build_app(sessions))) as restarted:
        await sign_in_as(restarted, name)
        again = await restarted.post("/api/customers", json=body, headers=headers)
        assert again.status == 201 and again.headers["Idempotent-Replayed"] == "true"
        assert (await again.json()) == (await first.json())
        assert again.headers["Location"] == first.headers["Location"]
        await error(await restarted.post("/api/customers", json={"name": "Other"},
                                         headers=headers), 422, "idempotency_key_reused")
    assert await count(sessions, Customer) == before + 1
    async with sessions() as session:
        rows = (await session.scalars(select(IdempotencyKeyRow))).all()
    assert [(row.key, row.status) for row in rows] == [("restart-1", 201)]


async def test_expired_idempotency_rows_are_ignored_and_deleted(crm: Any) -> None:
    _, sessions, _ = crm
    results = DatabaseResults(sessions, ttl_s=60.0)
    await results.put("p", "old", StoredResult("f", 201, {"n": 1}, None))
    assert await results.get("p", "old") == StoredResult("f", 201, {"n": 1}, None)
    await results.put("p", "old", StoredResult("g", 201, {"n": 2}, None))  # first one stands
    assert (await results.get("p", "old") or StoredResult("", 0, None, None)).body == {"n": 1}
    results.ttl_s = -1.0
    assert await results.get("p", "old") is None
    await results.put("p", "new", StoredResult("f", 201, {"n": 3}, None))
    assert await count(sessions, IdempotencyKeyRow) == 1


def test_idempotency_store_is_bounded_and_expires() -> None:
    store = IdempotencyStore(max_keys=2, ttl_s=60.0)

    async def go() -> None:
        made = iter(range(100))

        async def create() -> tuple[int, Any, str | None]:
            return 201, {"n": next(made)}, None

        for key in ("a", "b", "c"):
            await store.run(("p", key), {}, create)
        assert len(store) == 2
        resp = await store.run(("p", "a"), {}, create)  # evicted: runs again
        assert resp.status == 201 and b'"n": 3' in resp.body  # type: ignore[operator]
        store.ttl_s = -1.0
        resp = await store.run(("p", "c"), {}, create)  # expired: runs again
        assert b'"n": 4' in resp.body  # type: ignore[operator]

    asyncio.run(go())


# --- update ---------------------------------------------------------------------------------


async def test_patch_changes_only_given_fields(crm: Any) -> None:
    client, _, ids = crm
    url = f"/api/customers/{ids[CUSTOMERS[1][1]]}"
    resp = await client.patch(url, json={"company": "Acme", "do_not_call": True,
                                         "phones": ["+86 138 0013 8000", "+1 212 555 0188"],
                                         "tags": ["late payer"]})
    assert resp.status == 200, await resp.text()
    card = await resp.json()
    assert card["company"] == "Acme" and card["do_not_call"] is True
    assert card["name"] == "Bob O'Brien" and card["customer_code"] == "10002"
    assert card["phones"] == ["+8613800138000", "+12125550188"]
    assert card["tags"] == ["late payer"]
    cleared = await (await client.patch(url, json={"company": None, "phones": [],
                                                   "customer_code": ""})).json()
    assert cleared["company"] is None and cleared["phones"] == []
    assert cleared["customer_code"] is None
    assert await names(client, "+86 138-0013-8000") == []
    same = await (await client.patch(url, json={})).json()
    assert {**same, "value_12m": None} == {**cleared, "value_12m": None}  # window moves on


async def test_patch_errors(crm: Any) -> None:
    client, _, ids = crm
    url = f"/api/customers/{ids['Alice Smith']}"
    await error(await client.patch(url, json={"customer_code": "10002"}), 409,
                "duplicate_customer_code")
    await error(await client.patch(url, json={"name": None}), 400, "validation_error")
    await error(await client.patch(url, json={"phones": None}), 400, "validation_error")
    await error(await client.patch(url, json={"bogus": 1}), 400, "validation_error")
    body = await error(await client.patch(url, json={"phones": ["nope"]}), 400, "invalid_phone")
    assert "phones[0]" in body["message"]
    await error(await client.patch("/api/customers/999999", json={"name": "N"}), 404,
                "customer_not_found")
    card = await (await client.get(url)).json()
    assert card["customer_code"] == "10001" and card["phones"] == ["+14155550132"]
    # keeping the own code is no conflict
    assert (await client.patch(url, json={"customer_code": "10001"})).status == 200


# --- interactions ---------------------------------------------------------------------------


async def test_interactions_newest_first_with_pages(crm: Any) -> None:
    client, _, ids = crm
    url = f"/api/customers/{ids['Alice Smith']}/interactions"
    body = await (await client.get(url)).json()
    assert body["total"] == 3
    assert [i["call_id"] for i in body["interactions"]] == ["call-30", "call-10", "call-0"]
    page = await (await client.get(url, params={"limit": "1", "offset": "1"})).json()
    assert [i["call_id"] for i in page["interactions"]] == ["call-10"]
    empty = await (await client.get(f"/api/customers/{ids['Dan Shared']}/interactions")).json()
    assert empty == {"interactions": [], "total": 0}
    await error(await client.get("/api/customers/999999/interactions"), 404,
                "customer_not_found")


async def test_an_agent_wraps_up_its_own_calls_only(crm: Any) -> None:
    client, sessions, ids = crm
    async with sessions() as session, session.begin():
        row = Interaction(customer_id=ids["Alice Smith"], direction="inbound", agent="2001",
                          call_id="call-mine", started_at=T0)
        session.add(row)
    other = {"Authorization": f"Bearer {await token_for(client, 'agent', '2002')}"}
    mine = {"Authorization": f"Bearer {await token_for(client, 'agent', '2001')}"}
    url = f"/api/interactions/{row.id}"
    await error(await client.patch(url, json={"notes": "not mine"}, headers=other), 403,
                "forbidden")
    answer = await client.patch(url, json={"notes": "mine"}, headers=mine)
    assert answer.status == 200 and (await answer.json())["notes"] == "mine"
    # a supervisor may correct any agent's wrap-up
    boss = {"Authorization": f"Bearer {await token_for(client, 'supervisor')}"}
    assert (await client.patch(url, json={"disposition": "resolved"},
                               headers=boss)).status == 200


async def test_wrap_up_sets_disposition_and_notes(crm: Any) -> None:
    client, sessions, ids = crm
    async with sessions() as session:
        iid = await session.scalar(select(Interaction.id).where(Interaction.call_id == "call-10"))
    notes = "Line one\n  indented — 中文"
    resp = await client.patch(f"/api/interactions/{iid}",
                              json={"disposition": " resolved ", "notes": notes})
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert body["disposition"] == "resolved" and body["notes"] == notes
    assert body["call_id"] == "call-10" and body["started_at"] == "2026-03-01T09:10:00Z"
    only_notes = await (await client.patch(f"/api/interactions/{iid}",
                                           json={"notes": None})).json()
    assert only_notes["disposition"] == "resolved" and only_notes["notes"] is None
    card = await (await client.get(f"/api/customers/{ids['Alice Smith']}")).json()
    assert card["recent_interactions"][1]["disposition"] == "resolved"


async def test_wrap_up_errors(crm: Any) -> None:
    client, sessions, _ = crm
    async with sessions() as session:
        iid = await session.scalar(select(Interaction.id).limit(1))
    url = f"/api/interactions/{iid}"
    await error(await client.patch(url, json={"notes": "n" * 10_001}), 400, "validation_error")
    assert (await client.patch(url, json={"notes": "n" * 10_000})).status == 200
    await error(await client.patch(url, json={"disposition": "d" * 65}), 400,
                "validation_error")
    await error(await client.patch(url, json={"outcome": "x"}), 400, "validation_error")
    await error(await client.patch(url, json={"notes": 5}), 400, "validation_error")
    await error(await client.patch(url, data=b"[", headers={"Content-Type": "application/json"}),
                400, "invalid_json")
    await error(await client.patch("/api/interactions/424242", json={"notes": "x"}), 404,
                "interaction_not_found")
    await error(await client.patch("/api/interactions/x", json={"notes": "x"}), 404,
                "interaction_not_found")


# --- no database ----------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/api/customers?q=alice"),
    ("GET", "/api/customers/lookup?number=123"),
    ("GET", "/api/customers/1"),
    ("GET", "/api/customers/1/interactions"),
    ("POST", "/api/customers"),
    ("PATCH", "/api/customers/1"),
    ("PATCH", "/api/interactions/1"),
])
async def test_without_sessions_every_crm_route_is_503(method: str, path: str) -> None:
    async with TestClient(TestServer(build_app(None))) as client:
        await sign_in(client)
        resp = await client.request(method, path, json={"name": "X"})
        await error(resp, 503, "crm_unavailable")


async def test_unreachable_database_is_503(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'missing' / 'crm.db'}")
    try:
        app = build_app(session_factory(engine), users_in_db=False)  # accounts elsewhere
        async with TestClient(TestServer(app)) as client:
            await sign_in(client)
            await error(await client.get("/api/customers/1"), 503, "crm_unavailable")
        # with the accounts in that database, signing in says so too (not a 500)
        async with TestClient(TestServer(build_app(session_factory(engine)))) as client:
            answer = await client.post("/api/auth/login", json={"username": "a",
                                                                "password": "b" * 8})
            await error(answer, 503, "crm_unavailable")
    finally:
        await engine.dispose()
