"""Pure half of the customer import: header mapping and row validation (no file, no database).

Every row becomes either a :class:`CustomerRecord` (clean, normalised values) or a
:class:`RejectedRow` with its row number and a reason a person can act on. Nothing is repaired
silently: a bad phone number rejects the row rather than storing the customer without it, and
values that are too long are refused rather than truncated.

Row numbers are what a spreadsheet shows: the header is row 1, the first customer row 2.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from crm_bridge.models import CUSTOMER_CODE_PATTERN
from crm_bridge.phones import InvalidNumber, is_mobile, normalise

# canonical field -> accepted header spellings (after trimming, lower-casing, spaces -> "_")
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "name": ("name", "full_name", "customer_name", "姓名"),
    "customer_code": ("customer_code", "code", "customer_no", "客户编号"),
    "phone": ("phone", "phones", "phone_number", "telephone", "tel", "电话"),
    "mobile": ("mobile", "mobile_phone", "cell", "手机"),
    "work_phone": ("work_phone", "office_phone"),
    "home_phone": ("home_phone",),
    "email": ("email", "e_mail", "邮箱"),
    "company": ("company", "company_name", "公司"),
    "title": ("title", "job_title"),
    "address": ("address", "地址"),
    "region": ("region", "state", "province", "地区"),
    "industry": ("industry", "行业"),
    "birthday": ("birthday", "date_of_birth", "birth_date", "生日"),
    "consent": ("consent", "marketing_consent"),
    "do_not_call": ("do_not_call", "dnc"),
    "tags": ("tags", "标签"),
}
PHONE_COLUMNS = {"phone": None, "mobile": "mobile", "work_phone": "work", "home_phone": "home"}
MAX_LENGTHS = {"name": 200, "company": 200, "title": 100, "email": 320, "region": 100,
               "industry": 100, "address": 2000}
TEXT_FIELDS = ("company", "title", "email", "address", "region", "industry")

EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
SPLIT_RE = re.compile(r"[;|,]")
TRUE = {"1", "true", "yes", "y", "t", "x", "是"}
FALSE = {"0", "false", "no", "n", "f", "否"}
DATE_FORMATS = ("%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%Y/%m/%d", "%d.%m.%Y")


class ImportFileError(ValueError):
    """The file as a whole cannot be imported (unreadable, wrong type, no ``name`` column)."""


@dataclass(frozen=True)
class RejectedRow:
    row: int
    reason: str


@dataclass
class CustomerRecord:
    """One valid row. ``None`` (and empty collections) mean "not given": leave stored data."""

    row: int
    name: str
    customer_code: str | None = None
    phones: list[tuple[str, str, str]] = field(default_factory=list)  # (e164, raw, kind)
    fields: dict[str, object] = field(default_factory=dict)  # company ... do_not_call
    tags: list[str] = field(default_factory=list)

    @property
    def name_key(self) -> str:
        return name_key(self.name)


def name_key(name: str) -> str:
    """Names compared for matching: case-folded, inner whitespace collapsed."""
    return " ".join(name.split()).casefold()


def map_columns(headers: Iterable[object]) -> tuple[dict[str, str], list[str]]:
    """({canonical field: header as in the file}, [headers not understood]).

    ImportFileError when no ``name`` column exists or two headers mean the same field.
    """
    lookup = {alias: canonical for canonical, aliases in COLUMN_ALIASES.items()
              for alias in aliases}
    mapping: dict[str, str] = {}
    ignored: list[str] = []
    for header in headers:
        key = re.sub(r"[\s\-]+", "_", str(header).strip().lower())
        canonical = lookup.get(key)
        if canonical is None:
            ignored.append(str(header))
        elif canonical in mapping:
            raise ImportFileError(
                f"columns {mapping[canonical]!r} and {header!r} both mean {canonical!r}")
        else:
            mapping[canonical] = str(header)
    if "name" not in mapping:
        raise ImportFileError(
            "no 'name' column; the header must name at least: name, phone or customer_code")
    if not (mapping.keys() & {"customer_code", *PHONE_COLUMNS}):
        raise ImportFileError("need a 'phone' or a 'customer_code' column to identify customers")
    return mapping, ignored


class _Reject(ValueError):
    pass


def _bool(value: str, column: str) -> bool:
    folded = value.casefold()
    if folded in TRUE:
        return True
    if folded in FALSE:
        return False
    raise _Reject(f"{column} {value!r} is not yes/no (true/false, 1/0)")


def _date(value: str) -> dt.date:
    for fmt in DATE_FORMATS:
        try:
            day = dt.datetime.strptime(value, fmt).date()
        except ValueError:
            continue
        if not dt.date(1900, 1, 1) <= day <= dt.date.today():
            raise _Reject(f"birthday {value!r} is not between 1900 and today")
        return day
    raise _Reject(f"birthday {value!r} is not a date (use YYYY-MM-DD)")


def _phones(cells: Mapping[str, str], region: str) -> list[tuple[str, str, str]]:
    found: dict[str, tuple[str, str, str]] = {}
    for column, kind in PHONE_COLUMNS.items():
        for raw in SPLIT_RE.split(cells.get(column, "")):
            raw = raw.strip()
            if not raw:
                continue
            try:
                e164 = normalise(raw, region)
            except InvalidNumber as exc:
                raise _Reject(f"{column} {raw!r}: {exc.reason}") from exc
            found.setdefault(e164, (e164, raw, kind or ("mobile" if is_mobile(e164) else "other")))
    return list(found.values())


def _record(row: int, cells: Mapping[str, str], region: str) -> CustomerRecord:
    if not any(cells.values()):
        raise _Reject("empty row")
    for column, limit in MAX_LENGTHS.items():
        if len(cells.get(column, "")) > limit:
            raise _Reject(f"{column} longer than {limit} characters")
    name = " ".join(cells.get("name", "").split())
    if not name:
        raise _Reject("missing name")
    code = cells.get("customer_code", "") or None
    if code is not None and not CUSTOMER_CODE_PATTERN.fullmatch(code):
        raise _Reject(f"customer_code {code!r}: use at most 32 letters, digits, '_' or '-'")
    phones = _phones(cells, region)
    if code is None and not phones:
        raise _Reject("no phone and no customer_code: the customer could never be found again")
    record = CustomerRecord(row=row, name=name, customer_code=code, phones=phones)
    for column in TEXT_FIELDS:
        if cells.get(column):
            record.fields[column] = cells[column]
    if "email" in record.fields and not EMAIL_RE.fullmatch(str(record.fields["email"])):
        raise _Reject(f"email {record.fields['email']!r} is not an e-mail address")
    if cells.get("birthday"):
        record.fields["birthday"] = _date(cells["birthday"])
    for column in ("consent", "do_not_call"):
        if cells.get(column):
            record.fields[column] = _bool(cells[column], column)
    tags = [tag.strip() for tag in SPLIT_RE.split(cells.get("tags", "")) if tag.strip()]
    if any(len(tag) > 64 for tag in tags):
        raise _Reject("a tag is longer than 64 characters")
    record.tags = list(dict.fromkeys(tags))
    return record


def validate_rows(
    rows: Iterable[Mapping[str, object]], mapping: Mapping[str, str], default_region: str,
    first_row: int = 2,
) -> tuple[list[CustomerRecord], list[RejectedRow]]:
    """Valid records and rejected rows (file order); duplicates within the file are rejected
    (a second row with the same customer_code, or the same name and phone without a code)."""
    records: list[CustomerRecord] = []
    rejected: list[RejectedRow] = []
    codes: dict[str, int] = {}
    name_phones: dict[tuple[str, str], int] = {}
    for number, raw in enumerate(rows, start=first_row):
        cells = {field_: str(raw.get(header, "") or "").strip()
                 for field_, header in mapping.items()}
        try:
            record = _record(number, cells, default_region)
            if record.customer_code is not None:
                if record.customer_code in codes:
                    raise _Reject(f"customer_code {record.customer_code!r} already on row "
                                  f"{codes[record.customer_code]}")
                codes[record.customer_code] = number
            else:
                for e164, _, _ in record.phones:
                    if (record.name_key, e164) in name_phones:
                        raise _Reject(f"same name and phone as row "
                                      f"{name_phones[record.name_key, e164]}")
                for e164, _, _ in record.phones:
                    name_phones[record.name_key, e164] = number
        except _Reject as exc:
            rejected.append(RejectedRow(number, str(exc)))
            continue
        records.append(record)
    return records, rejected
