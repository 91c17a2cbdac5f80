"""The CRM data layer on REAL databases: SQLite (a temp file) and the harness's PostgreSQL.

Every test gets its own database (PostgreSQL: a fresh ``CREATE DATABASE``), so tests neither see
nor break each other's rows.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import math
import uuid
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import phonenumbers
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from click.testing import CliRunner
from sqlalchemy import func, inspect, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from callcenter.cli import cli
from crm_bridge.analytics.store import refresh
from crm_bridge.cards import TIERS
from crm_bridge.db import (
    current_revision,
    downgrade_database,
    head_revision,
    make_engine,
    session_factory,
    upgrade_database,
)
from crm_bridge.importer import ImportFileError, import_file
from crm_bridge.lookup import build_card, find_customers, lookup_card
from crm_bridge.models import Base, Complaint, Customer, Order, Phone
from crm_bridge.seed import seed

pytestmark = pytest.mark.integration

ANCHOR = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
CRM_TABLES = {"customers", "phones", "orders", "interactions", "satisfaction_ratings", "tags",
              "customer_tags", "complaints", "queue_log", "acd_queues",
              "acd_queue_skills", "acd_agents", "acd_agent_skills", "acd_pause_reasons",
              "idempotency_keys", "acd_callbacks", "users", "audit_log", "complaint_steps",
              "customer_analytics",
              "campaigns", "campaign_leads", "dnc_numbers", "dial_decisions", "campaign_days",
              "sip_credentials", "dispositions"}
INJECTIONS = [
    "'; DROP TABLE customers; --",
    "1' OR '1'='1",
    "10000001' OR 1=1 --",
    "\" OR \"\"=\"",
    "+1 415 555 0132'); DELETE FROM phones; --",
    "%",
    "_",
    "10000001; DROP TABLE phones",
]


def _new_database(request: pytest.FixtureRequest, tmp_path: Path, backend: str) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'crm.db'}"
        return
    server = request.getfixturevalue("postgres_server")
    name = f"crm_{uuid.uuid4().hex[:12]}"
    server.psql(f"CREATE DATABASE {name} OWNER {server.user}")
    try:
        yield server.url.rsplit("/", 1)[0] + "/" + name
    finally:
        server.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(params=["sqlite", "postgres"])
def crm_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of each backend."""
    yield from _new_database(request, tmp_path, request.param)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def seeded_url(request: pytest.FixtureRequest,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """300 seeded customers per backend, shared by the read-only lookup tests of this module."""
    tmp = tmp_path_factory.mktemp("crm-seeded")
    for url in _new_database(request, tmp, request.param):
        report = asyncio.run(seed(url, 300, seed=4, progress=False, batch_size=128,
                                  anchor=ANCHOR))
        assert report.rows["customers"] == 300 and report.rows["orders"] > 1000
        yield url


@pytest.fixture
async def session(seeded_url: str) -> AsyncIterator[AsyncSession]:
    engine = make_engine(seeded_url)
    try:
        async with session_factory(engine)() as db_session:
            yield db_session
    finally:
        await engine.dispose()


async def _tables(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))


async def _count(url: str, model: Any) -> int:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            return int(await conn.scalar(select(func.count()).select_from(model)) or 0)
    finally:
        await engine.dispose()


# --- migrations -------------------------------------------------------------------------------


async def test_migrations_upgrade_downgrade_and_match_the_models(crm_url: str) -> None:
    assert await current_revision(crm_url) is None
    await upgrade_database(crm_url)
    await upgrade_database(crm_url)  # already at head: a no-op
    assert await current_revision(crm_url) == head_revision()
    engine = make_engine(crm_url)
    try:
        assert await _tables(engine) == CRM_TABLES | {"alembic_version"}
        async with engine.connect() as conn:
            diff = await conn.run_sync(lambda sync: compare_metadata(
                MigrationContext.configure(sync, opts={"compare_type": True}), Base.metadata))
        assert diff == [], f"models and migrations disagree: {diff}"

        await downgrade_database(crm_url, "base")
        assert await current_revision(crm_url) is None
        assert await _tables(engine) <= {"alembic_version"}  # no CRM table left

        await upgrade_database(crm_url)
        assert await _tables(engine) == CRM_TABLES | {"alembic_version"}
        report = await seed(crm_url, 20, progress=False, anchor=ANCHOR)
        assert report.rows["customers"] == 20
    finally:
        await engine.dispose()


async def test_constraints_hold(crm_url: str) -> None:
    """Foreign keys (SQLite too: the connect pragma) and the score CHECK are enforced."""
    from sqlalchemy.exc import IntegrityError

    from crm_bridge.models import SatisfactionRating

    await upgrade_database(crm_url)
    engine = make_engine(crm_url)
    try:
        factory = session_factory(engine)
        with pytest.raises(IntegrityError):
            async with factory() as db, db.begin():
                db.add(Phone(customer_id=999_999, e164="+14155550132", raw="x", kind="mobile"))
        async with factory() as db, db.begin():
            customer = Customer(name="Rating Tester", phones=[], tags=[])
            db.add(customer)
        with pytest.raises(IntegrityError):
            async with factory() as db, db.begin():
                db.add(SatisfactionRating(customer_id=customer.id, score=6))
    finally:
        await engine.dispose()


# --- lookups on seeded data -------------------------------------------------------------------


def _formats(e164: str) -> list[tuple[str, str]]:
    """(text, default region) pairs a human or a trunk might produce for ``e164``."""
    number = phonenumbers.parse(e164, None)
    home = phonenumbers.region_code_for_number(number)
    national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    international = phonenumbers.format_number(
        number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    return [
        (e164, "US"),
        (international, "DE"),
        (international.replace(" ", "-"), "CN"),
        ("00" + e164[1:], "US"),
        ("00 " + international[1:], "GB"),
        (national, home),
    ]


async def test_lookup_by_every_format_and_by_code(session: AsyncSession) -> None:
    rows = (await session.execute(
        select(Phone.e164, Phone.raw, Phone.customer_id, Customer.customer_code)
        .join(Customer, Customer.id == Phone.customer_id).order_by(Phone.id)
    )).all()
    owners: dict[str, set[int]] = {}
    for e164, _, customer_id, _ in rows:
        owners.setdefault(e164, set()).add(customer_id)
    single = [row for row in rows if len(owners[row.e164]) == 1]
    assert len(single) > 250
    for e164, raw, customer_id, code in single[::7]:
        region = phonenumbers.region_code_for_number(phonenumbers.parse(e164, None))
        for text, default_region in [*_formats(e164), (raw, region)]:
            result = await lookup_card(session, text, default_region, now=ANCHOR)
            assert result["match"] is not None, (text, default_region, result)
            assert result["match"]["customer_id"] == customer_id, (text, default_region)
            assert e164 in result["match"]["phones"]
        by_code = await lookup_card(session, f"  {code} ", "US", now=ANCHOR)
        assert by_code["match"]["customer_id"] == customer_id
        assert by_code["match"]["customer_code"] == code


async def test_issue_examples_in_the_seeded_region_formats(session: AsyncSession) -> None:
    """The exact spellings of the issue work once such numbers exist."""
    customer = Customer(name="Issue Example", customer_code="ISSUE-1", phones=[
        Phone(e164="+8613800138000", raw="+86 138-0013-8000", kind="mobile"),
        Phone(e164="+14155550132", raw="(415) 555-0132", kind="work"),
        Phone(e164="+442079460958", raw="0044 20 7946 0958", kind="other"),
    ], tags=[])
    session.add(customer)
    await session.flush()
    try:
        for text, region in [("+86 138-0013-8000", "US"), ("(415) 555-0132", "US"),
                             ("0044 20 7946 0958", "US"), ("13800138000", "CN"),
                             ("ISSUE-1", "US")]:
            result = await lookup_card(session, text, region, now=ANCHOR)
            assert result["match"]["customer_id"] == customer.id, text
    finally:
        await session.rollback()


async def test_shared_number_gives_candidates(session: AsyncSession) -> None:
    shared = (await session.execute(
        select(Phone.e164).group_by(Phone.e164).having(func.count() > 1)
    )).scalars().all()
    assert shared, "the seed makes a few numbers shared by two customers"
    for e164 in shared:
        owners = set((await session.scalars(
            select(Phone.customer_id).where(Phone.e164 == e164))).all())
        result = await lookup_card(session, e164, "US", now=ANCHOR)
        assert result["match"] is None
        assert {c["customer_id"] for c in result["candidates"]} == owners
        assert set(result["candidates"][0]) == {"customer_id", "customer_code", "name",
                                                "company", "region"}
        found = await find_customers(session, e164, "US")
        assert [c.id for c in found] == sorted(owners)


async def test_unknown_and_unreadable_input(session: AsyncSession) -> None:
    assert await lookup_card(session, "+61 2 9374 4000", "US") == {"match": None}  # no landlines
    assert await lookup_card(session, "ZZ-404", "US") == {"match": None}
    # Digits that are no valid number here are still a well-formed code nobody has.
    assert await lookup_card(session, "99999999", "US") == {"match": None}
    assert await lookup_card(session, "13800138000", "US") == {"match": None}
    for bad in ["+1 555", "", "   ", "(415) 555", "x" * 500, "+999 1234 5678", "a b"]:
        result = await lookup_card(session, bad, "US")
        assert result["match"] is None and result["error"], bad


async def test_sql_injection_strings_are_just_data(session: AsyncSession,
                                                   seeded_url: str) -> None:
    before = (await _count(seeded_url, Customer), await _count(seeded_url, Phone))
    for text in INJECTIONS:
        result = await lookup_card(session, text, "US")
        assert result["match"] is None and not result.get("candidates"), (text, result)
    assert (await _count(seeded_url, Customer), await _count(seeded_url, Phone)) == before
    assert (await lookup_card(session, "10000001", "US"))["match"]["customer_id"] == 1


async def test_card_matches_the_rows(session: AsyncSession) -> None:
    since = ANCHOR - dt.timedelta(days=365)
    complaint_owner = await session.scalar(
        select(Complaint.customer_id).where(Complaint.status != "closed").limit(1))
    for customer_id in {1, 2, 3, 150, 300, complaint_owner}:
        card = await build_card(session, customer_id, now=ANCHOR)
        orders = (await session.scalars(
            select(Order).where(Order.customer_id == customer_id))).all()
        recent = sorted(orders, key=lambda o: (o.ordered_at, o.id), reverse=True)[:5]
        assert [o["order_id"] for o in card["recent_orders"]] == [o.id for o in recent]
        window = [o for o in orders if o.ordered_at >= since]
        total = sum((o.amount for o in window), Decimal(0))
        assert card["value_12m"]["orders"] == len(window)
        assert Decimal(card["value_12m"]["total"]) == total
        assert card["value_tier"] in TIERS  # the stored tier: test_seeded_tiers_...
        complaints = (await session.scalars(
            select(Complaint).where(Complaint.customer_id == customer_id))).all()
        assert sorted(c["complaint_id"] for c in card["open_complaints"]) == sorted(
            c.id for c in complaints if c.status in ("open", "in_progress"))
        starts = [i["started_at"] for i in card["recent_interactions"]]
        assert starts == sorted(starts, reverse=True) and len(starts) <= 5
        json.dumps(card)  # JSON-ready as it is
        for key in ("customer_id", "name", "phones", "value_tier", "recent_orders",
                    "recent_interactions", "open_complaints", "tags", "do_not_call"):
            assert key in card
    assert complaint_owner is not None
    card = await build_card(session, complaint_owner, now=ANCHOR)
    assert card["open_complaints"]


async def test_seeded_tiers_are_all_populated(seeded_url: str, session: AsyncSession) -> None:
    """After ``analytics refresh`` the cards show the pyramid: 1 % / 4 % / 15 % / the rest of
    the customers with orders in the window, and ``none`` for those without."""
    engine = make_engine(seeded_url)
    try:
        report = await refresh(engine, ANCHOR)
    finally:
        await engine.dispose()
    buyers = sum(count for tier, count in report.tiers.items() if tier != "none")
    assert report.tiers["vip"] == math.ceil(buyers * 0.01)
    assert report.tiers["vip"] + report.tiers["major"] == math.ceil(buyers * 0.05)
    tiers = {(await build_card(session, cid, now=ANCHOR))["value_tier"] for cid in range(1, 301)}
    assert tiers == set(TIERS)
    card = await build_card(session, 1, now=ANCHOR)
    assert card["churn"]["as_of"] == "2026-06-01T12:00:00Z"


async def test_seed_is_deterministic_and_appends(tmp_path: Path) -> None:
    dumps = []
    for name in ("a", "b"):
        url = f"sqlite+aiosqlite:///{tmp_path / name}.db"
        await seed(url, 60, seed=9, progress=False, batch_size=7 if name == "a" else 60,
                   anchor=ANCHOR)
        engine = make_engine(url)
        async with engine.connect() as conn:
            dumps.append([
                (await conn.execute(select(table).order_by(*table.primary_key.columns))).all()
                for table in Base.metadata.sorted_tables
            ])
        await engine.dispose()
    assert dumps[0] == dumps[1]
    url = f"sqlite+aiosqlite:///{tmp_path / 'a'}.db"
    await seed(url, 10, seed=1, progress=False, anchor=ANCHOR)  # more customers, new ids
    assert await _count(url, Customer) == 70


# --- import -----------------------------------------------------------------------------------

GOOD_CSV = """\
Name , Phone,customer_code,EMAIL,company,region,birthday,do_not_call,tags,favourite colour
王伟,+86 138-0013-8000,C-1,wang.wei@example.cn,上海华信,上海,1985-03-02,no,vip;reseller,blue
Mary Smith,(415) 555-0132,C-2,mary@example.com,,California,,yes,,red
Oliver Brown,0044 20 7946 0958,,oliver@example.org,Harbor Ltd,London,,,,
Anna Müller,+49 151 23456789; +49 30 901820,,,,,,,,
"""

BAD_CSV = """\
name,phone,customer_code,email,birthday
Good One,+1 212 555 0100,G-1,good@example.com,
,+1 212 555 0101,G-2,,
Bad Phone,+1 555,G-3,,
Dup Code,+1 212 555 0102,G-1,,
No Way To Find,,,,
Bad Mail,+1 212 555 0103,G-4,not-an-email,
Bad Date,+1 212 555 0104,G-5,,1990-13-45
Good Two,+44 7400 123456,,,
Good Two,+44 7400 123456,,,
Bad Code,+1 212 555 0105,has space,,
'; DROP TABLE customers; --,+1 212 555 0106,G-6,,
"""


async def test_import_good_file_then_reimport_is_unchanged(crm_url: str, tmp_path: Path) -> None:
    path = tmp_path / "customers.csv"
    path.write_text(GOOD_CSV, encoding="utf-8")
    report = await import_file(crm_url, path, "US")
    assert (report.rows, report.created, report.updated, report.unchanged) == (4, 4, 0, 0)
    assert report.rejected == [] and report.ignored_columns == ["favourite colour"]

    again = await import_file(crm_url, path, "US")
    assert (again.created, again.updated, again.unchanged, again.rejected) == (0, 0, 4, [])
    assert await _count(crm_url, Customer) == 4 and await _count(crm_url, Phone) == 5

    engine = make_engine(crm_url)
    try:
        async with session_factory(engine)() as db:
            card = (await lookup_card(db, "C-1", "US"))["match"]
            assert card["name"] == "王伟" and card["tags"] == ["reseller", "vip"]
            assert card["birthday"] == "1985-03-02" and card["do_not_call"] is False
            assert (await lookup_card(db, "(415) 555-0132", "US"))["match"]["do_not_call"]
            anna = (await lookup_card(db, "030 901820", "DE"))["match"]
            assert anna["name"] == "Anna Müller" and len(anna["phones"]) == 2
    finally:
        await engine.dispose()

    # An edited file: a changed value and a new number update; empty cells erase nothing.
    path.write_text(GOOD_CSV.replace("mary@example.com", "mary.smith@example.com")
                    .replace("Oliver Brown,0044 20 7946 0958,",
                             "Oliver Brown,0044 20 7946 0958; +44 7400 123456,"),
                    encoding="utf-8")
    edited = await import_file(crm_url, path, "US")
    assert (edited.created, edited.updated, edited.unchanged) == (0, 2, 2)
    assert await _count(crm_url, Customer) == 4 and await _count(crm_url, Phone) == 6


async def test_import_bad_rows_are_listed_and_nothing_else_is_stored(
        crm_url: str, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(BAD_CSV, encoding="utf-8")
    report = await import_file(crm_url, path, "US")
    reasons = {r.row: r.reason for r in report.rejected}
    assert set(reasons) == {3, 4, 5, 6, 7, 8, 10, 11}
    assert "missing name" in reasons[3]
    assert "phone '+1 555'" in reasons[4] and "too short" in reasons[4]
    assert "already on row 2" in reasons[5]
    assert "no phone and no customer_code" in reasons[6]
    assert "email" in reasons[7]
    assert "birthday" in reasons[8]
    assert "same name and phone as row 9" in reasons[10]
    assert "customer_code" in reasons[11]
    assert (report.rows, report.created, len(report.rejected)) == (11, 3, 8)
    assert report.to_dict()["rejected_rows"][0] == {"row": 3, "reason": reasons[3]}
    assert await _count(crm_url, Customer) == 3  # Good One, Good Two, the injection-named one
    assert await _count(crm_url, Phone) == 3

    again = await import_file(crm_url, path, "US")
    assert (again.created, again.updated, again.unchanged, len(again.rejected)) == (0, 0, 3, 8)


async def test_import_xlsx_and_ambiguous_match(crm_url: str, tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["NAME", "Mobile", "Code", "Birthday", "Consent"])
    sheet.append(["李娜", 13800138001, "X-1", dt.datetime(1990, 5, 1), "是"])
    sheet.append([None, None, None, None, None])
    sheet.append(["James Lee", "(212) 555-0142", None, None, "maybe"])
    sheet.append(["James Lee", "555-0143", None, None, "true"])
    path = tmp_path / "customers.xlsx"
    book.save(path)
    report = await import_file(crm_url, path, "CN")
    assert {r.row: r.reason for r in report.rejected} == {
        3: "empty row", 4: "consent 'maybe' is not yes/no (true/false, 1/0)",
        5: "mobile '555-0143': not a valid number in CN"}
    assert report.created == 1

    report = await import_file(crm_url, path, "US")  # now the US numbers read, the CN one not
    assert report.created == 0 and {r.row for r in report.rejected} == {2, 3, 4, 5}

    engine = make_engine(crm_url)
    try:
        async with session_factory(engine)() as db:
            card = (await lookup_card(db, "+86 138 0013 8001", "US"))["match"]
            assert card["name"] == "李娜" and card["consent"] is True
            assert card["birthday"] == "1990-05-01"
            # Two customers with the same name and number: a row without a code cannot choose.
            for code in ("J-1", "J-2"):
                db.add(Customer(name="James Lee", customer_code=code, tags=[], phones=[
                    Phone(e164="+12125550150", raw="212 555 0150", kind="work")]))
            await db.commit()
    finally:
        await engine.dispose()
    ambiguous = tmp_path / "ambiguous.csv"
    ambiguous.write_text("name,phone\njames  lee,212-555-0150\n", encoding="utf-8")
    report = await import_file(crm_url, ambiguous, "US")
    assert report.created == 0 and "several customers" in report.rejected[0].reason


async def test_import_file_level_errors(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'crm.db'}"
    (tmp_path / "noname.csv").write_text("phone\n+14155550132\n")
    (tmp_path / "x.json").write_text("{}")
    (tmp_path / "latin1.csv").write_bytes("name,phone\nJos\xe9,+14155550132\n".encode("latin-1"))
    (tmp_path / "fake.xlsx").write_text("not a zip")
    for name, message in [("missing.csv", "no such file"), ("noname.csv", "no 'name' column"),
                          ("x.json", "unsupported file type"), ("latin1.csv", "not UTF-8"),
                          ("fake.xlsx", "cannot be read")]:
        with pytest.raises(ImportFileError, match=message):
            await import_file(url, tmp_path / name, "US")


async def test_import_after_seed_gets_fresh_ids(crm_url: str, tmp_path: Path) -> None:
    """Seeding sets ids explicitly; on PostgreSQL the sequences must have moved past them."""
    await seed(crm_url, 30, progress=False, anchor=ANCHOR)
    path = tmp_path / "new.csv"
    path.write_text("name,phone\nNew Person,+1 303 555 0199\n", encoding="utf-8")
    report = await import_file(crm_url, path, "US")
    assert report.created == 1
    assert await _count(crm_url, Customer) == 31


# --- CLI ----------------------------------------------------------------------------------------


def test_cli_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("CALLCENTER_DATABASE_URL", url)  # --db defaults to the configuration
    runner = CliRunner()

    def run(*args: str) -> Any:
        return runner.invoke(cli, ["crm", *args], obj={}, catch_exceptions=False)

    result = run("migrate")
    assert result.exit_code == 0 and head_revision() in result.output
    result = run("seed", "--customers", "40", "--seed", "3", "--no-progress")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["rows"]["customers"] == 40

    result = run("lookup", "10000005", "--json")
    assert result.exit_code == 0
    card = json.loads(result.output)["match"]
    assert card["customer_id"] == 5 and card["customer_code"] == "10000005"
    result = run("lookup", card["phones"][0], "--db", url)
    assert result.exit_code == 0 and json.loads(result.output)["match"]["customer_id"] == 5

    result = run("lookup", "+61 2 9374 4000", "--json")
    assert result.exit_code == 1 and json.loads(result.output) == {"match": None}
    result = run("lookup", "'; DROP TABLE customers; --", "--json")
    assert result.exit_code == 2 and json.loads(result.output)["match"] is None
    result = run("lookup", "13800138000", "--json", "--region", "CN")
    assert result.exit_code == 1  # readable in CN, unknown here
    result = run("lookup", "13800138000", "--region", "XX")
    assert result.exit_code == 2 and "unknown region" in result.output

    csv = tmp_path / "in.csv"
    csv.write_text(BAD_CSV, encoding="utf-8")
    result = run("import", str(csv))
    assert result.exit_code == 1
    assert "3 created" in result.output and "row 4: phone '+1 555'" in result.output
    result = run("import", str(csv), "--json")
    assert result.exit_code == 1 and json.loads(result.output)["unchanged"] == 3
    csv.write_text("name,phone\nGood One,+1 212 555 0100\n", encoding="utf-8")
    result = run("import", str(csv), "--json")
    assert result.exit_code == 0 and json.loads(result.output)["unchanged"] == 1
    result = run("import", str(tmp_path / "nope.csv"))
    assert result.exit_code == 1 and "no such file" in result.output

    result = run("downgrade", "--revision", "base")
    assert result.exit_code == 0 and "schema at base" in result.output
    result = run("migrate", "--revision", "nonexistent")
    assert result.exit_code == 1 and "nonexistent" in result.output
