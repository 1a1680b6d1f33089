"""Who is who: create customers, link and unlink card tokens, merge two records of one person.

Every change of a card's holder is kept as CardEvent rows, every merge as a CustomerMerge;
texts (reasons, notes) go to the vault through server.customers.notes.
"""

import logging
import re

from server.campaigns import coupons
from server.customers import notes, wipe
from server.customers.models import CardEvent, CustomerMerge, ServiceCase
from server.db import db, utcnow
from server.loyalty import ledger, tiers
from server.loyalty.models import Card, Customer
from server.loyalty.service import new_customer_id
from server.tags import people
from server.vault import store
from server.wallet import service as wallet

log = logging.getLogger("possync.customers")

TOK = re.compile(r"^[0-9a-f]{64}$")
BIN = re.compile(r"^([0-9]{6})?$")
LAST4 = re.compile(r"^([0-9]{4})?$")
MAX_CHAIN = 1000


class CustomerError(Exception):
    """A customer operation that cannot be done; the message says why and what to do instead."""


def create_customer(actor):
    """A new active customer under a neutral id; returns the id."""
    customer = Customer.create(id=new_customer_id())
    log.info("customer %s created by %s", customer.id, actor)
    return customer.id


def get(customer):
    """The Customer row of id ``customer`` or a CustomerError."""
    row = Customer.get_or_none(Customer.id == customer)
    if row is None:
        raise CustomerError("no customer %s (check the id: C followed by 16 letters/digits)" % customer)
    return row


def resolve(customer):
    """The id of the customer ``customer`` ends up as after merges (itself if never merged)."""
    row = get(customer)
    for _ in range(MAX_CHAIN):
        if row.state != "merged" or not row.merged_into:
            return row.id
        row = get(row.merged_into)
    raise CustomerError("customer %s: merge chain longer than %d (a cycle?)" % (customer, MAX_CHAIN))


def group(customer):
    """``customer`` (resolved) followed by every customer merged into it, directly or through others."""
    root = resolve(customer)
    out, frontier = [root], [root]
    while frontier:
        frontier = [c for (c,) in Customer.select(Customer.id).where(Customer.merged_into.in_(frontier)
                                                                    & (Customer.state == "merged")).tuples()]
        out += frontier
    return out


def active(customer):
    """The Customer row of ``customer`` if it is active; else a CustomerError naming where it went."""
    row = get(customer)
    if row.state == "merged":
        now = resolve(row.id)
        raise CustomerError("customer %s was merged into %s: use %s" % (row.id, now, now))
    if row.state == "erased":
        raise CustomerError("customer %s was erased: nothing can be added to it (create a new customer)" % row.id)
    return row


def card_label(bin_, last4):
    """How people see a card: BIN and last 4 digits, never the token."""
    return "%s…%s" % (bin_ or "??????", last4 or "????")


def link_card(customer, tok, bin_, last4, actor):
    """Give card ``tok`` to ``customer``; True if linked, False if it already was its card.

    A card held by another customer is refused: unlink it first, or merge the two customers.
    """
    if not TOK.match(tok or ""):
        raise CustomerError("card token must be 64 lowercase hex digits (the token, never the card number)")
    if not BIN.match(bin_ or "") or not LAST4.match(last4 or ""):
        raise CustomerError("card BIN must be 6 digits and last4 4 digits (or empty)")
    with db.atomic():
        row = active(customer)
        card = Card.get_or_none(Card.tok == tok)
        if card is not None and card.customer_id == row.id:
            return False
        if card is not None:
            raise CustomerError("card %s is held by customer %s: unlink it first (customer unlink TOK) or merge %s "
                                "into %s" % (card_label(card.bin, card.last4), card.customer_id,
                                             card.customer_id, row.id))
        Card.create(tok=tok, customer=row.id, bin=bin_ or "", last4=last4 or "")
        CardEvent.create(customer=row.id, tok=tok, bin=bin_ or "", last4=last4 or "", action="link", actor=actor)
    return True


def unlink_card(tok, actor, note=None):
    """Take card ``tok`` away from its customer; returns that customer's id.

    The Card row is deleted (its history stays in CardEvent): Card.customer cannot be empty,
    and a placeholder customer would silently collect the card's next sales. Without a row,
    the next sale with this card enrols a new customer through ingest, as for any unknown card.
    """
    card = Card.get_or_none(Card.tok == tok)
    if card is None:
        raise CustomerError("no customer holds this card: nothing to unlink (check the token)")
    text = notes.write(card.customer_id, note, actor, "unlink card") if note else None
    # secure_delete: the deleted row's token must not linger in a free block, where a later
    # erase of this customer (which replaces the token in CardEvent) could not reach it.
    with wipe.secure_delete(), db.atomic():
        card = Card.get_or_none(Card.tok == tok)
        if card is None:
            raise CustomerError("the card was unlinked meanwhile: nothing to unlink")
        CardEvent.create(customer=card.customer_id, tok=tok, bin=card.bin, last4=card.last4, action="unlink",
                         actor=actor, note=text)
        card.delete_instance()
    log.info("card unlinked from %s by %s", card.customer_id, actor)
    return card.customer_id


def merge(src, dst, actor, reason):
    """Merge customer ``src`` into ``dst`` (one person): cards, points, tier and qualifying spend, wallets, open
    coupons, cases, vault fields; ``dst``'s tag stats are rebuilt from the group's sales and it is re-tagged.

    The main-database part is one transaction; then the vault: ``dst`` keeps its own fields
    and gains those only ``src`` had, and ``src``'s vault is erased. Merging again a pair
    already merged finishes an interrupted vault step. Returns what moved.
    """
    if not reason or not reason.strip():
        raise CustomerError("give the reason for the merge (e.g. --reason \"same person, two cards\")")
    with db.atomic():
        done = _check_merge(get(src), get(dst))
        if done:
            outcome = {"src": src, "dst": dst, "points": 0, "cards": 0, "cases": 0, "wallets": 0, "coupons": 0,
                       "tier": get(dst).tier, "already": True}
        else:
            outcome = _merge_rows(src, dst, actor, notes.write(dst, reason, actor, "merge"))
            outcome["tags"] = people.merged(dst, group(dst))
    outcome["vault_fields"] = _merge_vault(src, dst, actor)
    log.info("customer %s merged into %s by %s", src, dst, actor)
    return outcome


def _check_merge(src, dst):
    """True if ``src`` is already merged into ``dst`` (maybe through others); CustomerError if it cannot be."""
    if src.id == dst.id:
        raise CustomerError("cannot merge customer %s into itself" % src.id)
    if dst.state == "erased":
        raise CustomerError("customer %s was erased: merge into an active customer" % dst.id)
    if dst.state == "merged":
        now = resolve(dst.id)
        raise CustomerError("customer %s was itself merged into %s: merge into %s instead" % (dst.id, now, now))
    if src.state == "erased":
        raise CustomerError("customer %s was erased: there is nothing left to merge" % src.id)
    if src.state == "merged":
        now = resolve(src.id)
        if now == dst.id:
            return True
        raise CustomerError("customer %s was already merged into %s: merge %s into %s instead, if they are one"
                            % (src.id, now, now, dst.id))
    return False


def _merge_rows(src, dst, actor, note):
    now = utcnow()
    points = ledger.transfer(src, dst, "merge:%s" % src, actor, now=now)
    wallets = wallet.move_owner(src, dst, actor, now=now)
    moved_coupons = coupons.move_owner(src, dst, actor)
    cards = list(Card.select().where(Card.customer == src))
    for card in cards:
        for customer, action, other in ((src, "merge_out", dst), (dst, "merge_in", src)):
            CardEvent.create(customer=customer, tok=card.tok, bin=card.bin, last4=card.last4, action=action,
                             other=other, at=now, actor=actor, note=note)
    Card.update(customer=dst).where(Card.customer == src).execute()
    cases = ServiceCase.update(customer=dst).where(ServiceCase.customer == src).execute()
    tier = tiers.carry_over(src, dst, now)["tier"]
    Customer.update(state="merged", merged_into=dst).where(Customer.id == src).execute()
    CustomerMerge.create(src=src, dst=dst, at=now, actor=actor, note=note, points=points)
    return {"src": src, "dst": dst, "points": points, "cards": len(cards), "cases": cases, "wallets": wallets,
            "coupons": moved_coupons, "tier": tier, "already": False}


def _merge_vault(src, dst, actor):
    """Copy the vault fields only ``src`` has to ``dst``, then erase ``src``'s; returns the copied names."""
    theirs = store.get(src, actor=actor, purpose="merge")
    if not theirs:
        return []
    ours = store.get(dst, fields=sorted(theirs), actor=actor, purpose="merge")
    missing = {name: value for name, value in theirs.items() if name not in ours}
    if missing:
        store.put(dst, missing, actor, "merge")
    store.erase(src, actor, "merge")
    return sorted(missing)
