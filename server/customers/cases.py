"""Service cases (complaints, service, warranty, notes) and their follow-ups; every text in the vault."""

from server.customers import identity, notes
from server.customers.models import CASE_KINDS, CASE_STATES, CaseEvent, ServiceCase
from server.db import db, utcnow
from server.fleet.models import Merchant, iso


def open_case(customer, kind, text, actor, merchant=None, dev=None, ref=None, follow_up_at=None):
    """Open a case about ``customer`` (a merged id: the customer it became), maybe about sale ``dev``/``ref``;
    returns the case id."""
    if kind not in CASE_KINDS:
        raise identity.CustomerError("unknown case kind %r (one of: %s)" % (kind, ", ".join(CASE_KINDS)))
    if not text or not text.strip():
        raise identity.CustomerError("a case needs a text saying what happened")
    if merchant is not None and Merchant.get_or_none(Merchant.code == merchant) is None:
        raise identity.CustomerError("no merchant %s (see possync-server merchant list)" % merchant)
    root = identity.active(identity.resolve(customer)).id
    note = notes.write(root, text, actor, "service case")
    with db.atomic():
        identity.active(root)
        case = ServiceCase.create(customer=root, kind=kind, actor=actor, merchant=merchant, dev=dev, ref=ref,
                                  follow_up_at=follow_up_at, note=note)
    return case.id


def follow_up(case_id, actor, text=None, status=None, follow_up_at=None):
    """Add a follow-up to a case: a text, a new status and/or a new follow-up date; returns the event id."""
    if status is not None and status not in CASE_STATES:
        raise identity.CustomerError("unknown case status %r (one of: %s)" % (status, ", ".join(CASE_STATES)))
    if not text and status is None and follow_up_at is None:
        raise identity.CustomerError("a follow-up needs a text, a status or a follow-up date")
    case = ServiceCase.get_or_none(ServiceCase.id == case_id)
    if case is None:
        raise identity.CustomerError("no service case %s" % case_id)
    customer = identity.active(case.customer_id).id
    note = notes.write(customer, text, actor, "service case") if text else None
    now = utcnow()
    with db.atomic():
        changes = {}
        if status is not None:
            changes.update(status=status, closed_at=now if status == "closed" else None)
        if follow_up_at is not None:
            changes["follow_up_at"] = follow_up_at
        if changes:
            ServiceCase.update(**changes).where(ServiceCase.id == case.id).execute()
        event = CaseEvent.create(case=case.id, at=now, actor=actor, status=status, note=note)
    return event.id


def cases_of(customers, texts):
    """The cases of ``customers`` (ids), newest first, each with its follow-ups; ``texts`` = {note number: text}."""
    cases = list(ServiceCase.select().where(ServiceCase.customer.in_(list(customers))).order_by(ServiceCase.id.desc()))
    events = {}
    for e in CaseEvent.select().where(CaseEvent.case.in_([c.id for c in cases])).order_by(CaseEvent.id):
        events.setdefault(e.case_id, []).append({"id": e.id, "at": iso(e.at), "actor": e.actor, "status": e.status,
                                                 "text": texts.get(e.note)})
    return [{"id": c.id, "customer": c.customer_id, "kind": c.kind, "status": c.status, "opened_at": iso(c.opened_at),
             "closed_at": iso(c.closed_at), "follow_up_at": iso(c.follow_up_at), "actor": c.actor,
             "merchant": c.merchant_id, "dev": c.dev, "ref": c.ref, "text": texts.get(c.note),
             "events": events.get(c.id, [])} for c in cases]


def note_numbers(customers):
    """The vault note numbers of every case and follow-up of ``customers``."""
    cases = ServiceCase.select(ServiceCase.id, ServiceCase.note).where(ServiceCase.customer.in_(list(customers)))
    found = {note for _, note in cases.tuples()}
    found |= {note for (note,) in CaseEvent.select(CaseEvent.note).where(
        CaseEvent.case.in_([c for c, _ in cases.tuples()]) & CaseEvent.note.is_null(False)).tuples()}
    return found
