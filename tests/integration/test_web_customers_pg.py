"""The CRM REST routes on the harness's real PostgreSQL (a fresh database per test).

A subset of ``tests/unit/test_web_customers.py`` (which runs on SQLite): what differs between
the backends is case folding, ``LIKE`` escaping, unique-constraint races, NUL handling and
BIGINT ids, so those are what is repeated here.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select

from crm_bridge.models import Customer, Interaction, Phone
from tests.unit.test_web_customers import INJECTIONS, count, crm_client, error, names

pytestmark = pytest.mark.integration


@pytest.fixture
async def crm(postgres_server: Any) -> AsyncIterator[Any]:
    name = f"crm_web_{uuid.uuid4().hex[:12]}"
    postgres_server.psql(f"CREATE DATABASE {name} OWNER {postgres_server.user}")
    try:
        async with crm_client(postgres_server.url.rsplit("/", 1)[0] + "/" + name) as ready:
            yield ready
    finally:
        postgres_server.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


async def test_search_on_postgres(crm: Any) -> None:
    client, sessions, _ = crm
    assert await names(client, "SMITH") == ["smithson trading", "Alice Smith"]
    assert await names(client, "(415) 555-0132") == ["Alice Smith"]
    assert await names(client, "C-3") == ["张伟"]
    before = (await count(sessions, Customer), await count(sessions, Phone))
    for text in INJECTIONS:
        found = await names(client, text)
        assert found == (["100% Pure_Water Ltd"] if text in ("%", "_") else []), text
    assert (await count(sessions, Customer), await count(sessions, Phone)) == before
    await error(await client.get("/api/customers", params={"q": "a\x00"}), 400,
                "invalid_parameter")


async def test_create_patch_and_duplicates_on_postgres(crm: Any) -> None:
    client, _, ids = crm
    resp = await client.post("/api/customers", json={
        "name": "Frank Lee", "phones": ["(212) 555-0142"], "customer_code": "20001",
        "tags": ["vip"], "birthday": "1980-02-29"})
    assert resp.status == 201, await resp.text()
    card = await resp.json()
    assert card["phones"] == ["+12125550142"] and card["tags"] == ["vip"]
    await error(await client.post("/api/customers", json={"name": "X", "customer_code": "20001"}),
                409, "duplicate_customer_code")
    await error(await client.post("/api/customers", json={"name": "X", "phones": ["12"]}),
                400, "invalid_phone")
    await error(await client.post("/api/customers", json={"name": "X\x00"}), 400,
                "validation_error")
    patched = await client.patch(resp.headers["Location"],
                                 json={"phones": ["+1 212 555 0142", "+86 138 0013 8001"],
                                       "tags": ["vip", "new"]})
    assert patched.status == 200, await patched.text()
    assert (await patched.json())["phones"] == ["+12125550142", "+8613800138001"]
    await error(await client.patch(f"/api/customers/{ids['Alice Smith']}",
                                   json={"customer_code": "20001"}),
                409, "duplicate_customer_code")
    await error(await client.get(f"/api/customers/{2**62}"), 404, "customer_not_found")


async def test_concurrent_idempotent_creates_on_postgres(crm: Any) -> None:
    client, sessions, _ = crm
    before = await count(sessions, Customer)
    body = {"name": "Grace Hopper", "phones": ["+1 212 555 0177"], "tags": ["fresh-tag"]}
    headers = {"Idempotency-Key": "pg-1"}
    answers = await asyncio.gather(*(client.post("/api/customers", json=body, headers=headers)
                                     for _ in range(5)))
    assert {r.status for r in answers} == {201}
    assert len({(await r.json())["customer_id"] for r in answers}) == 1
    assert await count(sessions, Customer) == before + 1


async def test_interactions_and_wrap_up_on_postgres(crm: Any) -> None:
    client, sessions, ids = crm
    url = f"/api/customers/{ids['Alice Smith']}/interactions"
    body = await (await client.get(url, params={"limit": "2"})).json()
    assert body["total"] == 3
    assert [i["call_id"] for i in body["interactions"]] == ["call-30", "call-10"]
    async with sessions() as session:
        iid = await session.scalar(select(Interaction.id).where(Interaction.call_id == "call-0"))
    resp = await client.patch(f"/api/interactions/{iid}",
                              json={"disposition": "follow_up", "notes": "n" * 10_000})
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["disposition"] == "follow_up"
    await error(await client.patch(f"/api/interactions/{iid}", json={"notes": "a\x00b"}), 400,
                "validation_error")
    await error(await client.patch("/api/interactions/987654", json={"notes": "x"}), 404,
                "interaction_not_found")


async def test_racing_creates_with_one_code_make_one_customer(crm: Any) -> None:
    """Without a key, concurrent creates with one code: the unique index decides, the losers
    get the same 409 as the checked case (and a new tag created by both is no 500)."""
    client, sessions, _ = crm
    before = await count(sessions, Customer)
    answers = await asyncio.gather(*(
        client.post("/api/customers", json={"name": f"Racer {n}", "customer_code": "77777",
                                            "tags": ["racing"]})
        for n in range(6)))
    statuses = sorted(r.status for r in answers)
    assert statuses == [201] + [409] * 5, statuses
    for resp in answers:
        if resp.status == 409:
            assert (await resp.json())["error"]["code"] == "duplicate_customer_code"
    assert await count(sessions, Customer) == before + 1


async def test_racing_creates_with_one_new_tag_all_succeed(crm: Any) -> None:
    client, _, _ = crm
    answers = await asyncio.gather(*(
        client.post("/api/customers", json={"name": f"Tagged {n}", "tags": ["brand-new"]})
        for n in range(6)))
    assert [r.status for r in answers] == [201] * 6
    assert [(await r.json())["tags"] for r in answers] == [["brand-new"]] * 6
