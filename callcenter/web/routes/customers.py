"""``/api/customers``: search, screen-pop look-up, card, create and update customers.

Bodies are validated by pydantic models in strict mode with unknown fields refused, so a typo
(``"phone"`` for ``"phones"``) is a 400, never a silently dropped value. Phone numbers are
normalised to E.164 in the configured region (``crm_default_region``); a bad one is a 400 that
names it. Every error is the usual JSON shape; validation errors add pydantic's ``details``.

Duplicate submissions (a double click, a retry after a timeout) are absorbed by the optional
``Idempotency-Key`` header on ``POST /api/customers``: see :class:`IdempotencyStore`.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any, TypeVar

from aiohttp import web
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from callcenter.web.auth import principal
from callcenter.web.body import read_json
from callcenter.web.errors import ApiError
from callcenter.web.idempotency import DurableResults, StoredResult
from callcenter.web.state import CRM_REGION, CRM_SESSIONS
from crm_bridge.lookup import CustomerNotFound, build_card, lookup_card
from crm_bridge.models import CUSTOMER_CODE_PATTERN
from crm_bridge.phones import MAX_INPUT_CHARS, InvalidNumber, normalise
from crm_bridge.queries import (
    DuplicateCustomerCode,
    PhoneInput,
    code_owner,
    create_customer,
    search_customers,
    update_customer,
)

log = logging.getLogger(__name__)

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
MAX_QUERY_CHARS = 200
MAX_ID = 2**63 - 1
EMAIL_RE = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"

# --- shared by the CRM routes (customers and interactions) ----------------------------------


H = TypeVar("H", bound=Callable[[web.Request], Awaitable[web.StreamResponse]])


def crm_route(handler: H) -> H:
    """A database that cannot be reached answers 503 (validation failures are 400s of the
    error middleware, see :func:`read_body`)."""

    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except (OperationalError, InterfaceError) as exc:
            log.warning("CRM database error in %s %s: %s", request.method, request.path,
                        type(exc).__name__)
            raise ApiError(503, "crm_unavailable", "the CRM database is not reachable") from None

    return wrapped  # type: ignore[return-value]


def sessions(request: web.Request) -> async_sessionmaker[AsyncSession]:
    found = request.app.get(CRM_SESSIONS)
    if found is None:
        raise ApiError(503, "crm_unavailable", "this server has no CRM database configured")
    return found


def path_id(request: web.Request, name: str, not_found: str) -> int:
    """The integer id in the path; anything else cannot exist, so it is a 404 like a miss."""
    raw = request.match_info[name]
    if not raw.isascii() or not raw.isdigit() or int(raw) > MAX_ID:
        raise ApiError(404, not_found, f"no {not_found.removesuffix('_not_found')} {raw!r}")
    return int(raw)


def int_param(request: web.Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = lo - 1
    if not lo <= value <= hi:
        raise ApiError(400, "invalid_parameter", f"{name} must be an integer from {lo} to {hi}")
    return value


def page(request: web.Request) -> tuple[int, int]:
    """``limit`` (1..100, default 20) and ``offset`` (>= 0) from the query string."""
    return (int_param(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT),
            int_param(request, "offset", 0, 0, MAX_ID))


M = TypeVar("M", bound=BaseModel)


async def read_body(request: web.Request, model: type[M], **context: Any) -> tuple[M, Any]:
    """The validated body and the raw JSON value (for idempotency fingerprints).

    Bytes that are not JSON (wrong media type or charset, not UTF-8, malformed, nested too
    deeply) are refused by :func:`~callcenter.web.body.read_json` (400 ``invalid_json`` or
    ``unsupported_charset``, 415); wrong types, unknown or missing fields → 400
    ``validation_error`` with pydantic's details (``loc``, ``msg``, ``type``; the input is not
    echoed back). Oversized bodies are refused by aiohttp/middleware before this (413).
    """
    text, data = await read_json(request)
    try:
        return model.model_validate_json(text, strict=True, context=context), data
    except ValidationError as exc:
        details = exc.errors(include_url=False, include_context=False, include_input=False)
        first = details[0]
        if first["type"] == "json_invalid":  # pydantic's parser is stricter (nesting depth)
            raise ApiError(400, "invalid_json",
                           f"request body is not valid JSON: {first['msg']}") from None
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise ApiError(400, "validation_error", f"{where}: {first['msg']}",
                       details=details) from None


def _no_nul(value: str) -> str:
    if "\x00" in value:  # PostgreSQL text cannot hold NUL; refuse it everywhere alike
        raise ValueError("must not contain NUL characters")
    return value


def _blank_to_none(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


def bounded(max_chars: int, *, strip: bool = True) -> StringConstraints:
    """1 to ``max_chars`` characters, surrounding whitespace stripped unless told."""
    return StringConstraints(strip_whitespace=strip, min_length=1, max_length=max_chars)


NO_NUL = AfterValidator(_no_nul)
BLANK_IS_NONE = BeforeValidator(_blank_to_none)
"""Null, and blank (what forms send for "empty"), mean no value."""

# Bounded strings without NULs, and their optional forms (``BLANK_IS_NONE``). Spelled out as
# aliases rather than built by a function: a type checker reads annotations, it does not run them.
Text64 = Annotated[str, bounded(64), NO_NUL]
Text100 = Annotated[str, bounded(100), NO_NUL]
Text200 = Annotated[str, bounded(200), NO_NUL]
Text2000 = Annotated[str, bounded(2000), NO_NUL]
OptionalText64 = Annotated[Text64 | None, BLANK_IS_NONE]
OptionalText100 = Annotated[Text100 | None, BLANK_IS_NONE]
OptionalText200 = Annotated[Text200 | None, BLANK_IS_NONE]
OptionalText2000 = Annotated[Text2000 | None, BLANK_IS_NONE]


# --- idempotency ----------------------------------------------------------------------------


@dataclass(slots=True)
class _Stored:
    fingerprint: str
    status: int
    body: Any
    location: str | None
    at: float


class IdempotencyStore:
    """Results of recent ``POST``s by ``Idempotency-Key``: in this process's memory, and kept
    durably (``durable``: Redis or the database, :mod:`callcenter.web.idempotency`).

    The same key with the same body replays the first answer (same customer, no second row,
    header ``Idempotent-Replayed: true``); the same key with another body is a 422. Concurrent
    requests with one key wait for the first. Only successes are kept: a failed request can be
    corrected and retried with its key.

    Memory answers a client repeating itself within seconds at once; the durable store
    answers a retry after a restart or one sent to another server process (a load balancer
    in front of several). Keys are scoped to the principal, expire after ``ttl_s`` and at most
    ``max_keys`` are kept in memory (least recently used go first). Two processes receiving
    the same key at the same instant may both run it (the first answer stored wins the
    replays); within one process, concurrent requests with one key wait for the first.
    """

    def __init__(self, max_keys: int = 10_000, ttl_s: float = 24 * 3600.0, *,
                 durable: DurableResults | None = None) -> None:
        self.max_keys = max_keys
        self.ttl_s = ttl_s
        self.durable = durable
        self._done: OrderedDict[tuple[str, str], _Stored] = OrderedDict()
        self._locks: dict[tuple[str, str], tuple[asyncio.Lock, int]] = {}

    def __len__(self) -> int:
        return len(self._done)

    def _get(self, key: tuple[str, str]) -> _Stored | None:
        stored = self._done.get(key)
        if stored is not None and time.monotonic() - stored.at > self.ttl_s:
            del self._done[key]
            return None
        if stored is not None:
            self._done.move_to_end(key)
        return stored

    def _put(self, key: tuple[str, str], stored: _Stored) -> None:
        self._done[key] = stored
        while len(self._done) > self.max_keys:
            self._done.popitem(last=False)

    async def _recall(self, key: tuple[str, str]) -> _Stored | None:
        """The answer kept durably (before a restart, or by another process)."""
        if self.durable is None:
            return None
        try:
            result = await self.durable.get(*key)
        except Exception as exc:  # the durable store is down: memory still protects
            log.warning("idempotency store unreachable (%s): answering from memory", exc)
            return None
        if result is None:
            return None
        stored = _Stored(result.fingerprint, result.status, result.body, result.location,
                         time.monotonic())
        self._put(key, stored)
        return stored

    async def _keep(self, key: tuple[str, str], stored: _Stored) -> None:
        if self.durable is None:
            return
        try:
            await self.durable.put(*key, StoredResult(stored.fingerprint, stored.status,
                                                      stored.body, stored.location))
        except Exception as exc:
            log.warning("idempotency key not kept durably (%s): a retry after a restart "
                        "would run again", exc)

    async def run(
        self, key: tuple[str, str], payload: Any,
        create: Callable[[], Awaitable[tuple[int, Any, str | None]]],
    ) -> web.Response:
        """Answer from the store, or run ``create`` (status, JSON body, Location) once."""
        fingerprint = hashlib.sha256(
            json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                stored = self._get(key) or await self._recall(key)
                replayed = stored is not None
                if stored is None:
                    status, body, location = await create()
                    stored = _Stored(fingerprint, status, body, location, time.monotonic())
                    if 200 <= status < 300:
                        self._put(key, stored)
                        await self._keep(key, stored)
                elif stored.fingerprint != fingerprint:
                    raise ApiError(422, "idempotency_key_reused",
                                   "this Idempotency-Key was used with a different body")
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)
        headers = {"Location": stored.location} if stored.location else {}
        if replayed:
            headers["Idempotent-Replayed"] = "true"
        return web.json_response(stored.body, status=stored.status, headers=headers)


IDEMPOTENCY = web.AppKey("crm_idempotency", IdempotencyStore)
MAX_IDEMPOTENCY_KEY = 255

# --- bodies ---------------------------------------------------------------------------------


def _name(value: str) -> str:
    return " ".join(value.split())  # as the importer does: one space between words


def _past(value: date) -> date:
    if value > date.today():
        raise ValueError("birthday is in the future")
    return value


Name = Annotated[Text200, AfterValidator(_name)]
Code = Annotated[str, StringConstraints(pattern=f"^(?:{CUSTOMER_CODE_PATTERN.pattern})$")]
Email = Annotated[str, StringConstraints(strip_whitespace=True, max_length=320,
                                         pattern=EMAIL_RE), AfterValidator(_no_nul)]
PhoneText = Annotated[str, StringConstraints(max_length=MAX_INPUT_CHARS)]
Tag = Text64


class _CustomerBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    phones: list[PhoneText] | None = Field(None, max_length=20)
    customer_code: Annotated[Code | None, BeforeValidator(_blank_to_none)] = None
    email: Annotated[Email | None, BeforeValidator(_blank_to_none)] = None
    company: OptionalText200 = None
    title: OptionalText100 = None
    address: OptionalText2000 = None
    region: OptionalText100 = None
    industry: OptionalText100 = None
    birthday: Annotated[date, AfterValidator(_past)] | None = None
    consent: bool | None = None
    do_not_call: bool | None = None
    tags: list[Tag] | None = Field(None, max_length=50)


class CustomerCreate(_CustomerBody):
    """``POST /api/customers``: ``name`` is required; everything else optional."""

    name: Name
    phones: list[PhoneText] = Field(default_factory=list, max_length=20)
    consent: bool = False
    do_not_call: bool = False
    tags: list[Tag] = Field(default_factory=list, max_length=50)


_NOT_NULL = ("name", "phones", "consent", "do_not_call", "tags")


class CustomerPatch(_CustomerBody):
    """``PATCH``: only the fields given change; null clears an optional one."""

    @model_validator(mode="after")
    def _required_stay(self) -> CustomerPatch:
        for field in _NOT_NULL:
            if field in self.model_fields_set and getattr(self, field) is None:
                raise ValueError(f"{field} cannot be null")
        return self


def _phones(raws: list[str], region: str) -> list[PhoneInput]:
    """E.164 of every number, or a 400 naming the first bad one and why."""
    found = []
    for index, raw in enumerate(raws):
        try:
            found.append(PhoneInput(e164=normalise(raw, region), raw=raw.strip()))
        except InvalidNumber as exc:
            raise ApiError(400, "invalid_phone",
                           f"phones[{index}] {raw[:MAX_INPUT_CHARS]!r}: {exc.reason}") from None
    return found


W = TypeVar("W")


def _code_taken(code: str | None) -> ApiError:
    return ApiError(409, "duplicate_customer_code",
                    f"customer_code {code!r} belongs to another customer")


async def _write(
    factory: async_sessionmaker[AsyncSession], code: str | None, own_id: int | None,
    work: Callable[[AsyncSession], Awaitable[W]],
) -> W:
    """Run ``work`` in one transaction; turn unique-index races into clear 409s.

    The code is checked before writing, but two concurrent writers can both pass that check:
    the unique index then fails the later one. Afterwards the code's owner is known, so the
    answer is ``duplicate_customer_code`` just as in the checked case. Any other race (two
    requests creating the same new tag) is retried once, by then the tag exists.
    """
    for attempt in (1, 2):
        async with factory() as session:
            try:
                async with session.begin():
                    return await work(session)
            except DuplicateCustomerCode:
                raise _code_taken(code) from None
            except IntegrityError:
                if code is not None:
                    owner = await code_owner(session, code)
                    if owner is not None and owner != own_id:
                        raise _code_taken(code) from None
                if attempt == 2:
                    raise ApiError(409, "conflict",
                                   "a concurrent change conflicted with this one; retry") from None
    raise AssertionError("unreachable")


# --- handlers -------------------------------------------------------------------------------


@crm_route
async def search(request: web.Request) -> web.Response:
    """``GET /api/customers?q=``: by name substring, phone (any format) or customer code."""
    query = request.query.get("q", "").strip()
    if not query:
        raise ApiError(400, "invalid_parameter", "q is required: a name, phone number or code")
    if len(query) > MAX_QUERY_CHARS or "\x00" in query:
        raise ApiError(400, "invalid_parameter",
                       f"q must be at most {MAX_QUERY_CHARS} characters, without NUL")
    limit, offset = page(request)
    async with sessions(request)() as session:
        found, total = await search_customers(session, query, request.app[CRM_REGION],
                                              limit=limit, offset=offset)
    return web.json_response({"customers": found, "total": total})


@crm_route
async def lookup(request: web.Request) -> web.Response:
    """``GET /api/customers/lookup?number=``: exactly the screen pop's answer."""
    number = request.query.get("number")
    if number is None:
        raise ApiError(400, "invalid_parameter", "number is required")
    async with sessions(request)() as session:
        answer = await lookup_card(session, number, request.app[CRM_REGION])
    return web.json_response(answer)


@crm_route
async def get_customer(request: web.Request) -> web.Response:
    customer_id = path_id(request, "customer_id", "customer_not_found")
    async with sessions(request)() as session:
        try:
            card = await build_card(session, customer_id)
        except CustomerNotFound:
            raise ApiError(404, "customer_not_found", f"no customer {customer_id}") from None
    return web.json_response(card)


@crm_route
async def create(request: web.Request) -> web.Response:
    """``POST /api/customers`` → 201, the card and ``Location``."""
    factory = sessions(request)
    region = request.app[CRM_REGION]
    key = request.headers.get("Idempotency-Key")
    if key is not None and not 0 < len(key) <= MAX_IDEMPOTENCY_KEY:
        raise ApiError(400, "invalid_idempotency_key",
                       f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} characters")
    body, raw = await read_body(request, CustomerCreate)
    phones = _phones(body.phones, region)
    fields = body.model_dump(exclude={"phones", "tags"})

    async def insert() -> tuple[int, Any, str | None]:
        customer_id = await _write(factory, body.customer_code, None, lambda session:
                                   create_customer(session, fields, phones, body.tags))
        async with factory() as session:
            card = await build_card(session, customer_id)
        location = str(request.app.router["customer"].url_for(customer_id=str(customer_id)))
        return 201, card, location

    if key is None:
        status, card, location = await insert()
        return web.json_response(card, status=status, headers={"Location": str(location)})
    return await request.app[IDEMPOTENCY].run((principal(request).id, key), raw, insert)


@crm_route
async def update(request: web.Request) -> web.Response:
    """``PATCH /api/customers/{id}``: partial; ``phones``/``tags`` replace the lists."""
    customer_id = path_id(request, "customer_id", "customer_not_found")
    factory = sessions(request)
    body, _ = await read_body(request, CustomerPatch)
    given = body.model_dump(exclude_unset=True)
    phones = _phones(given.pop("phones"), request.app[CRM_REGION]) if "phones" in given else None
    tags = given.pop("tags", None)
    found = await _write(factory, given.get("customer_code"), customer_id, lambda session:
                         update_customer(session, customer_id, given, phones, tags))
    if not found:
        raise ApiError(404, "customer_not_found", f"no customer {customer_id}")
    async with factory() as session:
        card = await build_card(session, customer_id)
    return web.json_response(card)
