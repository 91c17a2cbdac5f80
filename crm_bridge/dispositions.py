"""Dispositions as data (table ``dispositions``, migration 0015): what an agent files a call
under at wrap-up, with a label per language.

The REST routes (``/api/dispositions``), the CLI (``callcenter disposition ...``) and the
wrap-up check all come through here. A code is never deleted, only disabled: interactions
filed under it keep it and the console still labels them; a disabled code is no longer offered
in the wrap-up list nor accepted by :func:`check_code`. Labels are per language (``en``,
``zh-CN``; ``en`` is required, the fallback of any language without its own).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_bridge.models import DispositionRow

#: lower-case code: what ``interactions.disposition`` stores and reports group by
CODE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
#: the languages the console speaks; labels in others are refused (a typo, not a language)
LANGUAGES = ("en", "zh-CN")
MAX_LABEL = 200


class DispositionError(ValueError):
    """Invalid data (the message names the field)."""


class UnknownDisposition(LookupError):
    """No disposition by that code."""


class DuplicateDisposition(Exception):
    """Create of a code that exists."""


@dataclass(frozen=True, slots=True)
class Disposition:
    code: str
    labels: dict[str, str] = field(default_factory=dict)
    position: int = 0
    active: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.code, str) or not CODE.match(self.code):
            raise DispositionError(f"code {str(self.code)[:64]!r}: 1-64 of a-z 0-9 _ - "
                                   "(lower case, starting with a letter or digit)")
        if not isinstance(self.labels, dict):
            raise DispositionError("labels: an object of language -> text")
        for lang, text in self.labels.items():
            if lang not in LANGUAGES:
                raise DispositionError(f"labels: language {str(lang)[:16]!r} is not one of "
                                       f"{', '.join(LANGUAGES)}")
            if not isinstance(text, str) or not text.strip() or len(text) > MAX_LABEL:
                raise DispositionError(f"labels.{lang}: 1-{MAX_LABEL} characters")
        if not self.labels.get("en"):
            raise DispositionError("labels.en is required (the fallback of other languages)")
        if not isinstance(self.position, int) or isinstance(self.position, bool) \
                or not 0 <= self.position <= 1_000_000:
            raise DispositionError("position: a whole number 0..1000000")
        if not isinstance(self.active, bool):
            raise DispositionError("active: true or false")

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "labels": dict(self.labels), "position": self.position,
                "active": self.active}


def from_document(data: Any) -> Disposition:
    """A :class:`Disposition` from a JSON object (unknown fields refused)."""
    if not isinstance(data, dict):
        raise DispositionError("the body must be a JSON object")
    unknown = set(data) - {"code", "labels", "position", "active"}
    if unknown:
        raise DispositionError(f"unknown field {sorted(unknown)[0]!r}")
    labels = data.get("labels", {})
    if isinstance(labels, dict):
        labels = {lang: text.strip() if isinstance(text, str) else text
                  for lang, text in labels.items()}
    return Disposition(code=data.get("code", ""), labels=labels,
                       position=data.get("position", 0), active=data.get("active", True))


def _of(row: DispositionRow) -> Disposition:
    return Disposition(row.code, dict(row.labels or {}), row.position, row.active)


class Dispositions:
    """The table's reader and writer."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def list(self, *, active_only: bool = False) -> list[Disposition]:
        """In the console's order (position, then code)."""
        query = select(DispositionRow).order_by(DispositionRow.position, DispositionRow.code)
        if active_only:
            query = query.where(DispositionRow.active.is_(True))
        async with self.sessions() as session:
            return [_of(row) for row in (await session.scalars(query)).all()]

    async def get(self, code: str) -> Disposition:
        async with self.sessions() as session:
            row = await session.get(DispositionRow, code)
        if row is None:
            raise UnknownDisposition(f"no disposition {code[:64]!r}")
        return _of(row)

    async def create(self, item: Disposition) -> Disposition:
        """Add one; without a position it goes last."""
        async with self.sessions() as session, session.begin():
            if await session.get(DispositionRow, item.code) is not None:
                raise DuplicateDisposition(f"disposition {item.code!r} exists")
            position = item.position
            if not position:
                last = await session.scalar(select(func.max(DispositionRow.position)))
                position = (last or 0) + 10
            session.add(DispositionRow(code=item.code, labels=dict(item.labels),
                                       position=position, active=item.active))
            try:
                await session.flush()
            except IntegrityError:  # created meanwhile by another writer
                raise DuplicateDisposition(f"disposition {item.code!r} exists") from None
        return Disposition(item.code, dict(item.labels), position, item.active)

    async def update(self, code: str, changes: dict[str, Any]) -> Disposition:
        """Change some of ``labels`` (merged per language; a null label removes that
        language), ``position``, ``active``; checked as a whole before it is written."""
        unknown = set(changes) - {"labels", "position", "active", "code"}
        if unknown:
            raise DispositionError(f"unknown field {sorted(unknown)[0]!r}")
        if "code" in changes and changes["code"] != code:
            raise DispositionError("code cannot be changed (interactions are filed under it): "
                                   "disable this one and add another")
        async with self.sessions() as session, session.begin():
            row = await session.get(DispositionRow, code)
            if row is None:
                raise UnknownDisposition(f"no disposition {code[:64]!r}")
            labels = dict(row.labels or {})
            new_labels = changes.get("labels", {})
            if not isinstance(new_labels, dict):
                raise DispositionError("labels: an object of language -> text")
            for lang, text in new_labels.items():
                if text is None:
                    labels.pop(lang, None)
                else:
                    labels[lang] = text.strip() if isinstance(text, str) else text
            after = Disposition(code, labels, changes.get("position", row.position),
                                changes.get("active", row.active))
            row.labels, row.position, row.active = dict(after.labels), after.position, \
                after.active
        return after

    async def check_code(self, code: str) -> None:
        """Raise :class:`UnknownDisposition` unless ``code`` is an active disposition (what a
        wrap-up may file a call under)."""
        async with self.sessions() as session:
            row = await session.get(DispositionRow, code)
        if row is None or not row.active:
            active = [d.code for d in await self.list(active_only=True)]
            state = "is disabled" if row is not None else "is not a disposition"
            raise UnknownDisposition(f"{code[:64]!r} {state}; choose one of: "
                                     f"{', '.join(active) or '(none defined)'}")


__all__ = [
    "CODE",
    "LANGUAGES",
    "Disposition",
    "DispositionError",
    "Dispositions",
    "DuplicateDisposition",
    "UnknownDisposition",
    "from_document",
]
