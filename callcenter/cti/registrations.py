"""Which PJSIP endpoints have a phone registered: pure state fed AMI headers, like the call model.

Why per contact and not per endpoint: Asterisk reports each *contact* (a registered URI) of an
AOR. A phone that registers again from another port (an agent reloading the softphone, with the
AOR's ``remove_existing``) produces ``ContactStatus: NonQualified`` for the new URI *before*
``ContactStatus: Removed`` for the old one (seen on Asterisk 22, tests/fixtures/ami/contacts.ami):
an endpoint-level "last status wins" would call that phone unregistered. So an endpoint is
registered while at least one of its contacts is usable.

Sources (Asterisk 22, as it really sends them):

* ``PJSIPShowContacts`` at every (re)connect's resync: one ``ContactList`` event per dynamic
  (registered) contact — ``Endpoint``, ``Uri``, ``Status``, ``ObjectName`` (``<aor>;@<hash>``;
  no ``AOR`` header) — then ``ContactListComplete``. Static contacts (the trunk's) are not
  listed. :meth:`Registrations.reconcile` replaces the known contacts with that list, so an
  endpoint whose contacts expired or were removed while the link was down becomes unregistered.
* live ``ContactStatus`` events: ``URI``, ``ContactStatus``, ``AOR``, ``EndpointName``.

Statuses: ``Reachable`` and ``NonQualified`` (``qualify_frequency = 0``, as the agents' AORs
in docker/asterisk/pjsip.conf) are usable; so are ``Created``/``Unknown`` (just registered, not
yet qualified: the phone has just spoken to us). ``Unreachable`` (qualify failed) is not;
``Removed`` (unregistered, expired, replaced) deletes the contact. ``Updated`` (a refresh)
keeps the contact's last status.

Every change of an endpoint's registered/unregistered state is emitted once as a neutral
:class:`~callcenter.events.DeviceRegistration`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from callcenter import events as ev

Headers = Mapping[str, Any]
Emit = Callable[[ev.DomainEvent], None]

#: the technology of the endpoints these contacts belong to (the name an originate uses)
TECH = "PJSIP"

USABLE = frozenset({"Reachable", "NonQualified", "Unqualified", "Created", "Unknown"})
REMOVED = "Removed"
UPDATED = "Updated"


@dataclass(slots=True)
class Contact:
    endpoint: str
    aor: str
    uri: str
    status: str

    @property
    def usable(self) -> bool:
        return self.status in USABLE


def _ignore(_: ev.DomainEvent) -> None:
    pass


class Registrations:
    """Contacts by (AOR, URI); ``registered(endpoint)`` and the set of registered endpoints
    (``PJSIP/2001``) derive from them."""

    def __init__(self, emit: Emit = _ignore, clock: Callable[[], float] = time.time) -> None:
        self.emit = emit
        self.clock = clock
        self.contacts: dict[tuple[str, str], Contact] = {}
        #: endpoint name (``2001``) -> registered, as last emitted
        self._state: dict[str, bool] = {}
        #: AOR -> endpoint, learnt from events that name both (a ContactStatus may not)
        self._endpoint_of_aor: dict[str, str] = {}
        #: contacts touched by live events since the last resync began (see reconcile)
        self._touched: set[tuple[str, str]] | None = None

    # --- reading -------------------------------------------------------------------------

    def registered(self, endpoint: str) -> bool:
        """``endpoint`` as ``PJSIP/2001`` or ``2001``."""
        name = endpoint.partition("/")[2] if "/" in endpoint else endpoint
        return self._state.get(name, False)

    def registered_endpoints(self) -> frozenset[str]:
        return frozenset(f"{TECH}/{name}" for name, on in self._state.items() if on)

    # --- feeding -------------------------------------------------------------------------

    def apply(self, headers: Headers) -> None:
        """One AMI event; anything but ``ContactStatus`` is ignored."""
        if headers.get("Event") != "ContactStatus":
            return
        aor = str(headers.get("AOR") or "")
        uri = str(headers.get("URI") or "")
        status = str(headers.get("ContactStatus") or "")
        if not aor or not uri or not status:
            return
        endpoint = self._endpoint(aor, str(headers.get("EndpointName") or ""))
        key = (aor, uri)
        if self._touched is not None:
            self._touched.add(key)
        if status == REMOVED:
            self.contacts.pop(key, None)
        else:
            known = self.contacts.get(key)
            if known is None:
                self.contacts[key] = Contact(endpoint, aor, uri,
                                             "Created" if status == UPDATED else status)
            elif status != UPDATED:
                known.status = status
        self._settle(endpoint, uri, self._at(headers))

    def begin_resync(self) -> None:
        """A snapshot is about to be read: live events from now on are newer than it."""
        self._touched = set()

    def cancel_resync(self) -> None:
        """No snapshot after all (the listing failed): live events alone go on."""
        self._touched = None

    def reconcile(self, listed: Iterable[Headers]) -> None:
        """Replace the known contacts with ``PJSIPShowContacts``' ``ContactList`` events;
        contacts a live event touched during the listing keep what that event said."""
        touched = self._touched or set()
        self._touched = None
        seen: dict[tuple[str, str], Contact] = {}
        for row in listed:
            if row.get("Event") != "ContactList":
                continue
            aor = str(row.get("ObjectName") or "").partition(";@")[0]
            uri = str(row.get("Uri") or "")
            if not aor or not uri:
                continue
            endpoint = self._endpoint(aor, str(row.get("Endpoint") or ""))
            seen[(aor, uri)] = Contact(endpoint, aor, uri, str(row.get("Status") or "Unknown"))
        affected = {c.endpoint for c in self.contacts.values()} | set(self._state)
        for key in list(self.contacts):
            if key not in seen and key not in touched:
                del self.contacts[key]
        for key, contact in seen.items():
            if key not in touched:
                self.contacts[key] = contact
            affected.add(contact.endpoint)
        now = self.clock()
        for endpoint in sorted(affected):
            self._settle(endpoint, "", now)

    # --- inside --------------------------------------------------------------------------

    def _endpoint(self, aor: str, endpoint: str) -> str:
        if endpoint:
            self._endpoint_of_aor[aor] = endpoint
            return endpoint
        return self._endpoint_of_aor.get(aor, aor)

    def _settle(self, endpoint: str, uri: str, at: float) -> None:
        usable = [c for c in self.contacts.values() if c.endpoint == endpoint and c.usable]
        registered = bool(usable)
        if self._state.get(endpoint) is registered:
            return
        self._state[endpoint] = registered
        contact = usable[0].uri if usable else uri
        self.emit(ev.DeviceRegistration(at=at, endpoint=f"{TECH}/{endpoint}",
                                        registered=registered, contact=contact))

    def _at(self, headers: Headers) -> float:
        try:
            return float(headers["Timestamp"])
        except (KeyError, TypeError, ValueError):
            return self.clock()
