"""A deterministic synthetic CRM: customers, phones, orders, interactions, ratings, complaints.

Pure (no database): :class:`SyntheticCrm` yields plain row dicts, ready for SQLAlchemy Core
``insert()`` executemany, batch by batch, so ``crm_bridge.seed`` can stream a million customers
without holding them. The same ``seed`` gives the same rows whatever the batch size (shared
numbers are drawn from a rolling window, not from "this batch").

What it models, so that screen pops and tiers have something real to show:

- Chinese (王伟, 李娜 ...) and Western names, with companies, titles, regions and industries to
  match the country; numbers valid for ``phonenumbers`` from CN, US, GB, DE and AU, stored as
  E.164 with a human-written raw form (``138-0013-8000``, ``(415) 555-0132`` ...);
- about 10 % of customers with a second number, and about 0.5 % whose second number is another
  customer's (family lines, shared switchboards);
- order counts around a mean, amounts skewed (log-normal per customer and per order), so every
  value tier is populated; interactions with times and outcomes, some rated; a few complaints.

Timestamps are relative to ``anchor`` (default: now), so the 365-day value window always sees
recent orders; everything else depends only on the seed.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from crm_bridge import synth_data as data

Row = dict[str, Any]
TABLES = ("customers", "phones", "customer_tags", "orders", "interactions",
          "satisfaction_ratings", "complaints")
CODE_OFFSET = 10_000_000
"""Customer codes are ``CODE_OFFSET + id``: 8 digits a caller can key into the IVR."""

SECOND_NUMBER_P = 0.10
SHARED_NUMBER_P = 0.005
HISTORY_DAYS = 5 * 365


@dataclass
class NextIds:
    """The next free primary key per table (continues after rows already in the database)."""

    ids: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TABLES, 1))

    def take(self, table: str) -> int:
        value = self.ids[table]
        self.ids[table] = value + 1
        return value


def _digits(rng: random.Random, count: int) -> str:
    return str(rng.randrange(10**count)).zfill(count)


def _number(rng: random.Random, country: str) -> tuple[str, str, str]:
    """(E.164, raw as a person would write it, kind) for a valid number of ``country``."""
    cc, mobile_prefixes, landlines = data.NUMBERING[country]
    if landlines and rng.random() < 0.3:
        prefix, length = rng.choice(landlines)
        kind = "work"
    else:
        prefix, length = rng.choice(mobile_prefixes)
        kind = "mobile"
    national = prefix + _digits(rng, length - len(prefix))
    style: Callable[[str], str] = rng.choice(data.RAW_STYLES[country])
    return f"+{cc}{national}", style(national), kind


class SyntheticCrm:
    """Rows for ``count`` more customers per :meth:`batch` call; see the module docstring."""

    def __init__(
        self,
        seed: int,
        orders_per_customer_mean: float,
        anchor: dt.datetime,
        tag_ids: dict[str, int],
        next_ids: NextIds | None = None,
    ) -> None:
        if orders_per_customer_mean < 0:
            raise ValueError("orders_per_customer_mean must be >= 0")
        if anchor.tzinfo is None:
            raise ValueError("anchor must be timezone-aware")
        self.rng = random.Random(seed)
        self.mean_orders = orders_per_customer_mean
        self.anchor = anchor
        self.tag_ids = tag_ids
        self.ids = next_ids or NextIds()
        self.recent_numbers: deque[tuple[str, str]] = deque(maxlen=1000)

    def batch(self, count: int) -> dict[str, list[Row]]:
        rows: dict[str, list[Row]] = {table: [] for table in TABLES}
        for _ in range(count):
            self._customer(rows)
        return rows

    def _when(self, after: dt.datetime) -> dt.datetime:
        span = (self.anchor - after).total_seconds()
        return after + dt.timedelta(seconds=self.rng.random() * max(span, 0.0))

    def _customer(self, rows: dict[str, list[Row]]) -> None:
        rng = self.rng
        cid = self.ids.take("customers")
        country = rng.choices(data.COUNTRIES, weights=data.COUNTRY_WEIGHTS)[0]
        person = data.person(rng, country)
        business = rng.random() < 0.6
        created = self.anchor - dt.timedelta(days=rng.random() * HISTORY_DAYS)
        rows["customers"].append({
            "id": cid,
            "customer_code": str(CODE_OFFSET + cid),
            "name": person.name,
            "company": data.company(rng, country, person) if business else None,
            "title": rng.choice(data.TITLES[country]) if business else None,
            "email": f"{person.ascii_name}.{cid}@{rng.choice(data.EMAIL_DOMAINS)}",
            "address": data.address(rng, country),
            "region": rng.choice(data.REGIONS[country]),
            "industry": rng.choice(data.INDUSTRIES) if business else None,
            "birthday": (dt.date(1950, 1, 1) + dt.timedelta(days=rng.randrange(20_000))
                         if rng.random() < 0.6 else None),
            "consent": rng.random() < 0.7,
            "do_not_call": rng.random() < 0.05,
            "created_at": created,
            "updated_at": created,
        })
        self._phones(rows, cid, country)
        self._tags(rows, cid)
        self._orders(rows, cid, created, business)
        self._interactions(rows, cid, created)
        if rng.random() < 0.04:
            self._complaint(rows, cid, created)

    def _phones(self, rows: dict[str, list[Row]], cid: int, country: str) -> None:
        rng = self.rng
        e164, raw, kind = _number(rng, country)
        numbers = [(e164, raw, kind)]
        roll = rng.random()
        if roll < SHARED_NUMBER_P and self.recent_numbers:
            shared_e164, shared_raw = rng.choice(self.recent_numbers)
            numbers.append((shared_e164, shared_raw, "home"))
        elif roll < SECOND_NUMBER_P:
            second_country = country if rng.random() < 0.8 else rng.choice(data.COUNTRIES)
            numbers.append(_number(rng, second_country))
        self.recent_numbers.append((e164, raw))
        seen: set[str] = set()
        for number, raw_text, number_kind in numbers:
            if number in seen:  # a random second number equal to the first: keep one
                continue
            seen.add(number)
            rows["phones"].append({
                "id": self.ids.take("phones"), "customer_id": cid, "e164": number,
                "raw": raw_text, "kind": number_kind,
            })

    def _tags(self, rows: dict[str, list[Row]], cid: int) -> None:
        if self.tag_ids and self.rng.random() < 0.2:
            names = self.rng.sample(sorted(self.tag_ids), k=min(2, len(self.tag_ids)))
            for name in names[: self.rng.randint(1, len(names))]:
                rows["customer_tags"].append({"customer_id": cid, "tag_id": self.tag_ids[name]})

    def _orders(self, rows: dict[str, list[Row]], cid: int, created: dt.datetime,
                business: bool) -> None:
        rng = self.rng
        if self.mean_orders == 0:
            return
        count = round(rng.expovariate(1.0 / self.mean_orders))
        spend = rng.lognormvariate(0.0, 1.0) * (1.0 if business else 0.4)
        for _ in range(count):
            product, price = rng.choice(data.PRODUCTS)
            amount = price * spend * rng.lognormvariate(0.0, 0.5)
            rows["orders"].append({
                "id": self.ids.take("orders"), "customer_id": cid, "product": product,
                "amount": Decimal(f"{min(amount, 9_999_999_999.0):.2f}"), "currency": "USD",
                "ordered_at": self._when(created),
            })

    def _interactions(self, rows: dict[str, list[Row]], cid: int, created: dt.datetime) -> None:
        rng = self.rng
        for _ in range(math.floor(rng.expovariate(1.0 / 1.5))):
            iid = self.ids.take("interactions")
            started = self._when(max(created, self.anchor - dt.timedelta(days=730)))
            outcome = rng.choices(data.OUTCOMES, weights=data.OUTCOME_WEIGHTS)[0]
            answered = started + dt.timedelta(seconds=rng.randint(3, 120))
            ended = answered + dt.timedelta(seconds=rng.randint(20, 900))
            inbound = rng.random() < 0.8
            call_id = f"{int(started.timestamp())}.{iid}"
            rows["interactions"].append({
                "id": iid, "customer_id": cid, "call_id": call_id,
                "direction": "inbound" if inbound else "outbound",
                "caller_number": rows["phones"][-1]["e164"] if inbound else None,
                "queue": rng.choice(data.QUEUES), "agent": f"agent{rng.randint(1, 200):03d}",
                "ivr_path": rng.choice(data.IVR_PATHS) if inbound else None,
                "disposition": outcome.disposition, "notes": rng.choice(data.NOTES),
                "started_at": started,
                "answered_at": answered if outcome.answered else None,
                "ended_at": ended if outcome.answered else answered,
                "hangup_cause": outcome.hangup_cause,
                "recording_ref": f"recordings/{started:%Y/%m}/{call_id}.wav"
                if outcome.answered else None,
                # no random draw here: the rest of the data stays as it was for a seed
                "campaign": None if inbound else data.CAMPAIGNS[iid % len(data.CAMPAIGNS)],
                "talk_started_at": answered if outcome.answered else None,
                "talk_ended_at": ended if outcome.answered else None,
            })
            if outcome.answered and rng.random() < 0.3:
                rows["satisfaction_ratings"].append({
                    "id": self.ids.take("satisfaction_ratings"), "customer_id": cid,
                    "interaction_id": iid,
                    "score": rng.choices((1, 2, 3, 4, 5), weights=(5, 7, 15, 33, 40))[0],
                    "comment": rng.choice(data.RATING_COMMENTS),
                    "rated_at": ended + dt.timedelta(minutes=1),
                })

    def _complaint(self, rows: dict[str, list[Row]], cid: int, created: dt.datetime) -> None:
        rng = self.rng
        opened = self._when(created)
        status = rng.choices(("open", "in_progress", "closed"), weights=(4, 2, 4))[0]
        category, summary = rng.choice(data.COMPLAINTS)
        rows["complaints"].append({
            "id": self.ids.take("complaints"), "customer_id": cid, "status": status,
            "category": category, "summary": summary, "opened_at": opened,
            "closed_at": self._when(opened) if status == "closed" else None,
            # the workflow's stage for the coarse status (as migration 0010 derives it)
            "stage": {"open": "registered", "in_progress": "accepted"}.get(status, status),
            "stage_at": opened,
        })
