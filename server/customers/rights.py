"""Data-subject rights: export everything held about a customer, erase everything personal.

Erase keeps the customer id and every ledger row, so every balance and total still sums:
points stay booked to the erased id, and stored value stays on its accounts, because the
remaining balance is money the merchant still owes (a liability that must show in the
float and reconciliation until it is refunded or written off by the merchant's own process).
The accounts are closed: their cards no longer map to them.
What goes: the vault record (with every note), card tokens (replaced by random values no
card number maps to), BIN/last 4, the records' tokens, the free-text notes of points entries,
and the profiling data (tag stats, tags, tag history, risk flags; a recompute skips erased customers).
On SQLite no old byte survives (secure_delete, WAL truncated); on PostgreSQL old row versions
remain in the table files until VACUUM runs.
"""

import os

from server.customers import cases, consent, history, identity, notes, wipe
from server.customers.models import CardEvent
from server.db import db, utcnow
from server.fleet.models import iso
from server.ingest.models import Record
from server.loyalty.models import Card, Customer, PointsEntry
from server.vault import store
from server.tags import people
from server.wallet import cards as wallet_cards


def export(customer, actor, purpose):
    """Everything held about ``customer`` and the customers merged into it, as a JSON-serialisable dict.

    Vault fields come from one audited read; cards appear as BIN / last 4, never by token.
    """
    if not purpose or not purpose.strip():
        raise identity.CustomerError("say why the data is exported (e.g. --purpose \"access request #42\")")
    root = identity.get(identity.resolve(customer))
    members = identity.group(root.id)
    fields = store.get(root.id, actor=actor, purpose=purpose, action="export")
    texts = notes.of(fields)
    events, merges = history.card_events(members), history.merges(members)
    used = set()
    for row in events + merges:
        used.add(row["note"])
        row["text"] = texts.get(row.pop("note"))
    used |= cases.note_numbers(members)
    return {
        "exported_at": iso(utcnow()), "exported_by": actor, "purpose": purpose,
        "customer": {"id": root.id, "state": root.state, "created_at": iso(root.created_at), "points": root.points,
                     "tier": root.tier, "tier_since": iso(root.tier_since), "merged_from": members[1:]},
        "profile": {name: value for name, value in fields.items()
                    if name != consent.FIELD and not name.startswith(notes.PREFIX)},
        "consent": fields.get(consent.FIELD) or {}, "consent_changes": consent.changes(members),
        "cards": history.cards(root.id), "card_events": events, "merges": merges,
        "purchases": history.purchases(members), "points_entries": history.points(members),
        "wallets": history.wallets(members), "coupons": history.coupons(members),
        "cases": cases.cases_of(members, texts),
        "other_notes": {str(n): text for n, text in sorted(texts.items()) if n not in used},
        "vault_audit": [dict(row, at=iso(row["at"])) for member in members for row in store.audit(member, limit=None)],
    }


def erase(customer, actor, reason):
    """Erase the person behind ``customer`` (and the customers merged into it); a report of what was done.

    The vault record goes first (store.erase leaves no old copy in its file), then one
    main-database transaction pseudonymises cards and records with secure_delete on, then
    the WAL is checkpointed and truncated so old token bytes survive in no file. An erased
    customer reports nothing to do; an interrupted erase completes when run again.
    """
    if not reason or not reason.strip():
        raise identity.CustomerError("say why the customer is erased (e.g. --reason \"erasure request #42\")")
    root = identity.get(identity.resolve(customer))
    if root.state == "erased":
        # still truncate the WAL: an earlier erase may have found it held by a reader
        return {"customer": root.id, "erased": False, "detail": "already erased: nothing to do",
                "checkpointed": wipe.checkpoint()}
    members = identity.group(root.id)
    fields = sum(store.erase(member, actor, "erase: %s" % reason) for member in members)
    with wipe.secure_delete():
        with db.atomic():
            outcome = _pseudonymise(members, actor)
            people.forget(members)
            Customer.update(state="erased").where(Customer.id == root.id).execute()
        checkpointed = wipe.checkpoint()
    return dict(outcome, customer=root.id, erased=True, members=members, vault_fields=fields, checkpointed=checkpointed)


def _pseudonymise(members, actor):
    """Replace the tokens of ``members``' cards and card events by random ones; null their records' tokens."""
    now = utcnow()
    fresh = {}
    cards = list(Card.select().where(Card.customer.in_(members)))
    toks = {c.tok for c in cards} | {t for (t,) in CardEvent.select(CardEvent.tok).where(
        CardEvent.customer.in_(members)).distinct().tuples()}
    for tok in sorted(toks):
        fresh[tok] = os.urandom(32).hex()
        CardEvent.update(tok=fresh[tok], bin="", last4="").where(
            CardEvent.customer.in_(members) & (CardEvent.tok == tok)).execute()
    for card in cards:
        Card.update(tok=fresh[card.tok], bin="", last4="").where(Card.id == card.id).execute()
        CardEvent.create(customer=card.customer_id, tok=fresh[card.tok], action="erase", at=now, actor=actor)
    wallets, owed, member_cards = wallet_cards.forget_cards(members, actor, now)
    toks |= member_cards
    records = Record.update(tok=None).where(Record.customer.in_(members) & Record.tok.is_null(False)).execute()
    if toks:
        records += Record.update(tok=None).where(Record.customer.is_null() & Record.tok.in_(sorted(toks))).execute()
    notes_blanked = PointsEntry.update(note=None).where(PointsEntry.customer.in_(members)
                                                       & PointsEntry.note.is_null(False)).execute()
    return {"cards": len(cards), "tokens": len(toks), "records": records, "points_notes": notes_blanked,
            "wallets": wallets, "wallet_balance": owed}
