"""Marketing consent per channel: the state with its source in the vault, the changes (no PII) in the main DB."""

from server.customers import identity
from server.customers.models import CHANNELS, ConsentEvent
from server.db import db, utcnow
from server.fleet.models import iso
from server.vault import store

FIELD = "consent"


def grant(customer, channel, source, actor):
    """Record that ``customer`` agreed to marketing over ``channel``; ``source`` says how (form, app, call)."""
    return _set(customer, channel, True, source, actor)


def withdraw(customer, channel, source, actor):
    """Record that ``customer`` no longer wants marketing over ``channel``."""
    return _set(customer, channel, False, source, actor)


def may_contact(customer, channel, actor, purpose):
    """True only if the person behind ``customer`` granted ``channel`` and has not withdrawn it (audited read)."""
    _channel(channel)
    root = identity.get(identity.resolve(customer))
    if root.state == "erased":
        return False
    return bool(current(root.id, actor, purpose).get(channel, {}).get("granted"))


def current(customer, actor, purpose):
    """``{channel: {granted, at, source}}`` as the vault holds it (audited read); channels never asked are absent."""
    return store.get(customer, fields=[FIELD], actor=actor, purpose=purpose).get(FIELD) or {}


def changes(customers):
    """Every consent change of ``customers`` (ids), oldest first: customer, channel, granted, at, actor."""
    rows = ConsentEvent.select().where(ConsentEvent.customer.in_(list(customers))).order_by(ConsentEvent.id)
    return [{"customer": r.customer_id, "channel": r.channel, "granted": r.granted, "at": iso(r.at),
             "actor": r.actor} for r in rows]


def _channel(channel):
    if channel not in CHANNELS:
        raise identity.CustomerError("unknown consent channel %r (one of: %s)" % (channel, ", ".join(CHANNELS)))


def _set(customer, channel, granted, source, actor):
    _channel(channel)
    if not source or not source.strip():
        raise identity.CustomerError("say where the consent decision comes from (e.g. --source \"paper form, store "
                                     "M001\")")
    now = utcnow()
    # The main-database write lock (IMMEDIATE) serialises this read-modify-write of the vault
    # field, so two channels changed at once do not overwrite each other.
    with db.atomic():
        row = identity.active(customer)
        state = current(row.id, actor, "consent change")
        state[channel] = {"granted": granted, "at": iso(now), "source": source.strip()}
        store.put(row.id, {FIELD: state}, actor, "consent change")
        ConsentEvent.create(customer=row.id, channel=channel, granted=granted, at=now, actor=actor)
    return state[channel]
