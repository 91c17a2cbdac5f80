"""``callcenter crm import``: customers from CSV or Excel into the CRM, idempotently.

Reading is pandas (every cell as text, so leading zeros and ``+`` survive); validation is
:mod:`crm_bridge.import_rows`; storing is one transaction here, so a database error stores
nothing and the report never claims rows that are not there.

Matching, which is what makes a re-import a no-op:

- a row with a ``customer_code`` updates the customer with that code, or creates it;
- a row without one updates the customer who has one of the row's numbers *and* the same name
  (case and spacing ignored), or creates one; if several customers match, the row is rejected
  (which one was meant cannot be known).

Updating only fills in and adds: a non-empty cell replaces the stored value, an empty cell
leaves it alone; phone numbers and tags are added, never removed. A row that changes nothing
counts as ``unchanged``.
"""

from __future__ import annotations

import datetime as dt
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openpyxl.utils.exceptions import InvalidFileException
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from crm_bridge.db import make_engine, session_factory, upgrade_database
from crm_bridge.import_rows import (
    CustomerRecord,
    ImportFileError,
    RejectedRow,
    map_columns,
    name_key,
    validate_rows,
)
from crm_bridge.models import Customer, Phone, Tag, utcnow
from crm_bridge.phones import check_region

__all__ = ["ImportFileError", "ImportReport", "RejectedRow", "import_file", "read_table"]

CHUNK = 500  # ids per IN (...) query: well under SQLite's and asyncpg's parameter limits
CSV_SUFFIXES = {".csv", ".txt"}
EXCEL_SUFFIXES = {".xlsx", ".xlsm"}


@dataclass
class ImportReport:
    """What an import did; ``rejected`` lists every row not stored, with its reason."""

    path: str
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[RejectedRow] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.rejected

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "rows": self.rows,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": len(self.rejected),
            "rejected_rows": [{"row": r.row, "reason": r.reason} for r in self.rejected],
            "ignored_columns": self.ignored_columns,
        }


def read_table(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """(headers, rows as {header: text}) of a CSV (UTF-8, BOM allowed) or .xlsx (first sheet)."""
    import pandas as pd  # heavy: only when importing

    suffix = path.suffix.lower()
    if not path.is_file():
        raise ImportFileError(f"{path}: no such file")
    try:
        if suffix in CSV_SUFFIXES:
            frame = pd.read_csv(path, dtype=str, na_filter=False, skip_blank_lines=False,
                                encoding="utf-8-sig")
        elif suffix in EXCEL_SUFFIXES:
            frame = pd.read_excel(path, dtype=str, na_filter=False, engine="openpyxl")
        else:
            raise ImportFileError(f"{path}: unsupported file type {suffix!r} (use .csv or .xlsx)")
    except UnicodeDecodeError as exc:
        raise ImportFileError(f"{path}: not UTF-8 text ({exc.reason})") from exc
    except ImportFileError:
        raise
    except (ValueError, OSError, zipfile.BadZipFile, InvalidFileException) as exc:
        # pandas parser errors, a file named .xlsx that is not a workbook, permissions
        raise ImportFileError(f"{path}: cannot be read: {exc}") from exc
    headers = [str(column) for column in frame.columns]
    # keys as text too: an .xlsx header cell may be a number or a date
    rows = [{str(key): value for key, value in row.items()} for row in frame.to_dict("records")]
    return headers, rows


async def import_file(url: str, path: str | Path, default_region: str) -> ImportReport:
    """Import customers from ``path`` into the database at ``url`` (schema upgraded first).

    ``default_region`` reads numbers written without a country code. Raises ImportFileError
    for a file that cannot be imported at all; row problems go into the report instead.
    """
    region = check_region(default_region)
    path = Path(path)
    headers, rows = read_table(path)
    mapping, ignored = map_columns(headers)
    records, rejected = validate_rows(rows, mapping, region)
    report = ImportReport(path=str(path), rows=len(rows), rejected=rejected,
                          ignored_columns=ignored)
    await upgrade_database(url)
    engine = make_engine(url)
    try:
        async with session_factory(engine)() as session, session.begin():
            await _store(session, records, report)
    finally:
        await engine.dispose()
    report.rejected.sort(key=lambda rejected_row: rejected_row.row)
    return report


def _chunks(values: Iterable[Any]) -> Iterable[list[Any]]:
    values = list(values)
    for start in range(0, len(values), CHUNK):
        yield values[start:start + CHUNK]


async def _load(session: AsyncSession, records: list[CustomerRecord]) -> tuple[
        dict[str, Customer], dict[str, list[Customer]], dict[str, Tag]]:
    """Existing customers by code and by phone (with phones and tags loaded), tags by name."""
    options = (selectinload(Customer.phones), selectinload(Customer.tags))
    by_code: dict[str, Customer] = {}
    codes = {r.customer_code for r in records if r.customer_code}
    for chunk in _chunks(codes):
        for customer in await session.scalars(
                select(Customer).options(*options).where(Customer.customer_code.in_(chunk))):
            by_code[customer.customer_code or ""] = customer
    by_phone: dict[str, list[Customer]] = {}
    numbers = {e164 for r in records if not r.customer_code for e164, _, _ in r.phones}
    for chunk in _chunks(numbers):
        owners = select(Phone.customer_id).where(Phone.e164.in_(chunk))
        for customer in await session.scalars(
                select(Customer).options(*options).where(Customer.id.in_(owners))):
            for phone in customer.phones:
                if phone.e164 in numbers:
                    by_phone.setdefault(phone.e164, []).append(customer)
    tags: dict[str, Tag] = {}
    for chunk in _chunks({tag for r in records for tag in r.tags}):
        for tag in await session.scalars(select(Tag).where(Tag.name.in_(chunk))):
            tags[tag.name] = tag
    return by_code, by_phone, tags


def _match(record: CustomerRecord, by_phone: dict[str, list[Customer]]) -> list[Customer]:
    found: dict[int, Customer] = {}
    for e164, _, _ in record.phones:
        for customer in by_phone.get(e164, []):
            if name_key(customer.name) == record.name_key:
                found[id(customer)] = customer
    return list(found.values())


def _apply(customer: Customer, record: CustomerRecord, tags: dict[str, Tag]) -> bool:
    """Fill ``customer`` from ``record``; True if anything changed."""
    changed = False
    if customer.name != record.name:
        customer.name, changed = record.name, True
    for column, value in record.fields.items():
        if getattr(customer, column) != value:
            setattr(customer, column, value)
            changed = True
    have = {phone.e164 for phone in customer.phones}
    for e164, raw, kind in record.phones:
        if e164 not in have:
            customer.phones.append(Phone(e164=e164, raw=raw, kind=kind))
            changed = True
    have_tags = {tag.name for tag in customer.tags}
    for name in record.tags:
        if name not in have_tags:
            customer.tags.append(tags.setdefault(name, Tag(name=name)))
            changed = True
    return changed


async def _store(session: AsyncSession, records: list[CustomerRecord],
                 report: ImportReport) -> None:
    by_code, by_phone, tags = await _load(session, records)
    for record in records:
        if record.customer_code:
            matches = [by_code[record.customer_code]] if record.customer_code in by_code else []
        else:
            matches = _match(record, by_phone)
        if len(matches) > 1:
            ids = ", ".join(str(c.id) for c in matches)
            report.rejected.append(RejectedRow(
                record.row, f"name and phone match several customers (ids {ids}); "
                "add a customer_code column to say which"))
            continue
        if matches:
            customer = matches[0]
            if _apply(customer, record, tags):
                customer.updated_at = utcnow()
                report.updated += 1
            else:
                report.unchanged += 1
            continue
        now = dt.datetime.now(dt.UTC)
        customer = Customer(customer_code=record.customer_code, name=record.name,
                            consent=False, do_not_call=False, created_at=now, updated_at=now,
                            phones=[], tags=[])
        _apply(customer, record, tags)
        session.add(customer)
        report.created += 1
        if record.customer_code:
            by_code[record.customer_code] = customer
        for e164, _, _ in record.phones:
            by_phone.setdefault(e164, []).append(customer)
    await session.flush()
