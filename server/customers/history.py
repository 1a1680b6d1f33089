"""What service staff see about a customer: purchases, points, stored value, coupons, cases, cards.

A customer's history includes everything of the customers merged into it. Texts come from
one audited vault read of just the notes shown; card tokens are never shown (BIN/last 4 only).
"""

from datetime import datetime

from peewee import JOIN

from server.campaigns.coupons import coupons_of
from server.customers import cases, identity, notes
from server.customers.models import CardEvent, CustomerMerge
from server.fleet.models import Device, Merchant, iso
from server.ingest.models import Record
from server.licences.alarms import zone
from server.loyalty.models import Card, PointsEntry
from protocol.money import text as money
from server.vault import store
from server.wallet import service as wallet


def history(customer, actor, purpose, limit=50):
    """The service view of ``customer`` (resolved through merges); each list holds at most ``limit`` items.

    Purchases, points, cases and card events come newest first; statements and coupons oldest first.
    """
    root = identity.get(identity.resolve(customer))
    members = identity.group(root.id)
    events, joined = card_events(members, limit), merges(members)
    numbers = cases.note_numbers(members) | {e["note"] for e in events + joined if e["note"]}
    texts = read_notes(root.id, numbers, actor, purpose)
    for event in events + joined:
        event["text"] = texts.get(event.pop("note"))
    return {
        "customer": root.id, "state": root.state, "merged": members[1:], "points": root.points,
        "tier": root.tier, "created_at": iso(root.created_at),
        "cards": cards(root.id), "purchases": purchases(members, limit), "points_entries": points(members, limit),
        "wallets": wallets(members, limit), "coupons": coupons(members),
        "cases": cases.cases_of(members, texts)[:limit],
        "card_events": events, "merges": joined,
    }


def read_notes(customer, numbers, actor, purpose):
    """``{number: text}`` of the vault notes ``numbers`` of ``customer``, in one audited read (none: no read)."""
    if not numbers:
        return {}
    return notes.of(store.get(customer, fields=sorted(notes.field(n) for n in numbers), actor=actor, purpose=purpose))


def amount(minor, cur):
    """Money as minor units, currency and a display string."""
    return {"amount": minor, "cur": cur, "display": "%s %s" % (money(minor, cur), cur)}


def cards(customer):
    """The cards ``customer`` holds now, as BIN / last 4 / since."""
    rows = Card.select().where(Card.customer == customer).order_by(Card.created_at)
    return [{"bin": c.bin, "last4": c.last4, "since": iso(c.created_at)} for c in rows]


def purchases(members, limit=None):
    """Sales, refunds and voids of ``members``, newest first; ``time`` is the sale time in its merchant's zone."""
    query = (Record.select(Record, Merchant.tz.alias("tz")).join(Device, JOIN.LEFT_OUTER, on=(Record.dev == Device.id))
             .join(Merchant, JOIN.LEFT_OUTER).where(Record.customer.in_(members))
             .order_by(Record.received_at.desc(), Record.id.desc()).limit(limit))
    return [dict(amount(r.amount, r.cur), customer=r.customer_id, kind=r.kind, ref=r.ref, orig=r.orig, dev=r.dev,
                 seq=r.seq, time=local_time(r.ts, r.tz), received_at=iso(r.received_at))
            for r in query.objects()]


def local_time(ts, tz):
    """Terminal time ``ts`` (Unix seconds) as ISO 8601 in zone ``tz``; None for a clock no calendar holds."""
    try:
        return datetime.fromtimestamp(ts, zone(tz)).isoformat()
    except (OverflowError, OSError, ValueError):
        return None


def points(members, limit=None):
    """Points ledger entries of ``members``, newest first."""
    rows = PointsEntry.select().where(PointsEntry.customer.in_(members)).order_by(PointsEntry.id.desc()).limit(limit)
    return [{"customer": e.customer_id, "delta": e.delta, "reason": e.reason, "at": iso(e.created_at),
             "expires_at": iso(e.expires_at), "dev": e.dev, "seq": e.seq, "actor": e.actor, "note": e.note}
            for e in rows]


def wallets(members, limit=None):
    """Stored-value accounts of ``members``, each with its statement (newest ``limit`` lines)."""
    out = []
    for customer in members:
        for account in wallet.accounts_of(customer):
            lines = wallet.statement(account["id"])
            out.append(dict(account, statement=lines[-limit:] if limit else lines))
    return out


def coupons(members):
    """Coupons of ``members``, oldest first per customer."""
    return [dict(c, customer=customer) for customer in members for c in coupons_of(customer)]


def card_events(members, limit=None):
    """Card history of ``members``, newest first: BIN/last 4, action, other customer; ``note`` is a note number."""
    rows = CardEvent.select().where(CardEvent.customer.in_(members)).order_by(CardEvent.id.desc()).limit(limit)
    return [{"customer": e.customer_id, "card": identity.card_label(e.bin, e.last4), "action": e.action,
             "other": e.other, "at": iso(e.at), "actor": e.actor, "note": e.note} for e in rows]


def merges(members):
    """Merges that made ``members`` one customer, oldest first (``note`` is the reason's note number)."""
    rows = CustomerMerge.select().where(CustomerMerge.dst.in_(members) | CustomerMerge.src.in_(members))
    return [{"src": m.src_id, "dst": m.dst_id, "at": iso(m.at), "actor": m.actor, "points": m.points,
             "note": m.note} for m in rows.order_by(CustomerMerge.id)]
