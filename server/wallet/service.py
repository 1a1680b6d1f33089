"""Stored-value accounts: open, top up (with bonus), spend, refund, adjust, statements, low-balance list.

Every change is an entry in the append-only ledger, booked under a unique key naming its event;
booking an event again returns the earlier outcome. The balance column moves in the same
transaction as its entry. Card lifecycle (freeze, reissue) is in server.wallet.cards.
"""

import base64
import logging
import os
import re

from peewee import fn

from server.db import db, utcnow
from server.fleet.models import iso
from server.loyalty.models import Customer
from protocol.money import exponent
from protocol.money import text as money
from server.wallet import WalletError, settings
from server.wallet.models import ADJUST_REASONS, WalletAccount, WalletEntry, WalletEvent, find
from server.wallet.pin import hash_pin

TOK_RE = re.compile(r"^[0-9a-f]{64}$")
CUR_RE = re.compile(r"^[A-Z]{3}$")
AMOUNT_RE = re.compile(r"^([0-9]+)(?:\.([0-9]+))?$")
MAX_KEY = 90  # leaves room for the ":bonus" of a top-up's bonus entry
log = logging.getLogger(__name__)


def new_account_id():
    """A neutral account id: ``W`` + 16 random base32 characters (80 bits)."""
    return "W" + base64.b32encode(os.urandom(10)).decode()


def check_tok(tok):
    """WalletError unless ``tok`` is a card token (64 lowercase hex digits)."""
    if not isinstance(tok, str) or not TOK_RE.match(tok):
        raise WalletError("a card token is 64 lowercase hex digits (the keyed hash the terminal sends), "
                          "not the card number")


def check_amount(amount):
    """WalletError unless ``amount`` is a whole number of minor units above 0."""
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise WalletError("amount %r: give a whole number of minor units above 0 (e.g. 1250 for 12.50)" % (amount,))


def parse_amount(text, cur):
    """Decimal text (``"12.50"``) as exact minor units of ``cur``; WalletError for more decimals than it has."""
    match = AMOUNT_RE.match(text.strip())
    if not match:
        raise WalletError("amount %r: write it as digits with an optional decimal point, e.g. 12.50" % text)
    whole, frac = match.group(1), match.group(2) or ""
    exp = exponent(cur)
    if len(frac) > exp:
        raise WalletError("amount %s has more decimals than %s has: give at most %d, e.g. %s"
                          % (text, cur, exp, money(1250, cur)))
    amount = int(whole) * 10 ** exp + int((frac + "0" * exp)[:exp] or 0)
    check_amount(amount)
    return amount


def bonus_for(amount, tiers=None):
    """The bonus a top-up of ``amount`` earns: that of the highest tier whose ``min`` it reaches, else 0."""
    bonus = 0
    for tier in settings.bonus_tiers(tiers):
        if amount >= tier["min"]:
            bonus = tier["bonus"]
    return bonus


def book(account_id, delta, kind, key, now, **fields):
    """Append an entry and move the balance by ``delta``, inside the caller's transaction.

    False (and nothing changed) if ``key`` is booked already. ``at`` defaults to ``now``.
    """
    if WalletEntry.select().where(WalletEntry.key == key).exists():
        return False
    fields.setdefault("at", now)
    WalletEntry.create(account=account_id, delta=delta, kind=kind, key=key, booked_at=now, **fields)
    WalletAccount.update(balance=WalletAccount.balance + delta).where(WalletAccount.id == account_id).execute()
    return True


def create(tok, customer, cur, now, actor, action="open", **fields):
    """Insert a new account for card ``tok`` with its opening event (inside the caller's transaction)."""
    fields.setdefault("low_balance", settings.get("WALLET_LOW_BALANCE"))
    row = WalletAccount.create(id=new_account_id(), tok=tok, customer=customer, cur=cur, created_at=now, **fields)
    WalletEvent.create(account=row.id, action=action, at=now, actor=actor, other=fields.get("other"))
    return row


def open_account(tok, customer=None, cur="CNY", pin=None, actor=None, bin="", last4="", now=None):
    """Open a stored-value account for member card ``tok`` (customer id, or None for an anonymous card)."""
    check_tok(tok)
    if not isinstance(cur, str) or not CUR_RE.match(cur):
        raise WalletError("currency %r: give an ISO 4217 code such as CNY" % (cur,))
    digest = None if pin is None else hash_pin(pin)
    now = now or utcnow()
    with db.atomic():
        if customer is not None:
            _active_customer(customer)
        held = WalletAccount.get_or_none(WalletAccount.tok == tok)
        if held is not None:
            raise WalletError("this card already has stored-value account %s (%s): top it up, or reissue it "
                              "onto a new card" % (held.id, held.state))
        row = create(tok, customer, cur, now, actor, bin=bin, last4=last4, pin_hash=digest)
    log.info("stored-value account %s opened by %s", row.id, actor)
    return as_dict(row)


def topup(account, amount, key, dev=None, merchant=None, actor=None, now=None, tiers=None):
    """Add ``amount`` to ``account`` (id or token) plus the bonus its tier earns, booked as a separate entry.

    Returns account, key, booked (False for a replay of ``key``), amount, bonus, balance, cur.
    """
    check_amount(amount)
    _check_key(key)
    now = now or utcnow()
    with db.atomic():
        row = find(account)
        booked = not _booked(key, row, "topup")
        if booked:
            _usable(row, "top up")
            book(row.id, amount, "topup", key, now, dev=dev, merchant=merchant, actor=actor)
            bonus = bonus_for(amount, tiers)
            if bonus:
                book(row.id, bonus, "bonus", key + ":bonus", now, dev=dev, merchant=merchant, actor=actor, orig=key)
        return _outcome(row.id, key, booked, bonus=key + ":bonus")


def spend(account, amount, key, dev=None, merchant=None, actor=None, now=None):
    """Take ``amount`` from ``account`` (id or token); WalletError if it is not usable or holds too little."""
    check_amount(amount)
    _check_key(key)
    now = now or utcnow()
    with db.atomic():
        row = find(account)
        booked = not _booked(key, row, "spend")
        if booked:
            _usable(row, "spend from")
            if row.balance < amount:
                raise WalletError("account %s holds %s %s, less than %s: top it up or spend less"
                                  % (row.id, money(row.balance, row.cur), row.cur, money(amount, row.cur)))
            book(row.id, -amount, "spend", key, now, dev=dev, merchant=merchant, actor=actor)
        return _outcome(row.id, key, booked)


def refund(spend_key, amount, key, dev=None, merchant=None, actor=None, now=None):
    """Return ``amount`` of the spend booked as ``spend_key``, never more than it took in all.

    The money goes to the spend's account, or to the account that replaced it on reissue.
    """
    check_amount(amount)
    _check_key(key)
    now = now or utcnow()
    with db.atomic():
        spent = WalletEntry.get_or_none((WalletEntry.key == spend_key) & (WalletEntry.kind == "spend"))
        if spent is None:
            raise WalletError("no stored-value spend booked as %r: give the key of the spend (see the statement)"
                              % spend_key)
        row = current(spent.account)
        booked = not _booked(key, None, "refund")
        if booked:
            if row.state == "closed":
                raise WalletError("account %s is closed: settle the refund outside stored value" % row.id)
            done = WalletEntry.select(fn.COALESCE(fn.SUM(WalletEntry.delta), 0)).where(
                (WalletEntry.orig == spend_key) & (WalletEntry.kind == "refund")).scalar()
            left = -spent.delta - done
            if amount > left:
                raise WalletError("spend %s took %s and %s is refunded already: refund at most %s"
                                  % (spend_key, money(-spent.delta, row.cur), money(done, row.cur),
                                     money(left, row.cur)))
            book(row.id, amount, "refund", key, now, dev=dev, merchant=merchant, actor=actor, orig=spend_key)
        return _outcome(WalletEntry.get(WalletEntry.key == key).account_id, key, booked)


def adjust(account, delta, key, actor, reason, now=None):
    """Correct the balance of ``account`` by ``delta`` (either sign), e.g. to settle a flagged overdraft."""
    if reason not in ADJUST_REASONS:
        raise WalletError("adjustment reason %r: give one of %s" % (reason, ", ".join(ADJUST_REASONS)))
    if not isinstance(delta, int) or isinstance(delta, bool) or delta == 0:
        raise WalletError("adjustment %r: give a whole number of minor units, not 0 (negative takes money off)"
                          % (delta,))
    _check_key(key)
    now = now or utcnow()
    with db.atomic():
        row = find(account)
        booked = not _booked(key, row, "adjust")
        if booked:
            book(row.id, delta, "adjust", key, now, actor=actor, note=reason)
        return _outcome(row.id, key, booked)


def statement(account_id, since=None, until=None):
    """Entries of an account, oldest first, each with the balance right after it; ``since``/``until`` (UTC,
    booking time) narrow the list but not the running balance."""
    row = find(account_id)
    out, balance = [], 0
    for entry in WalletEntry.select().where(WalletEntry.account == row.id).order_by(WalletEntry.id):
        balance += entry.delta
        if (since is None or entry.booked_at >= since) and (until is None or entry.booked_at < until):
            out.append(dict(entry_dict(entry), balance=balance))
    return out


def accounts_of(customer):
    """The stored-value accounts of ``customer`` (id), oldest first."""
    rows = WalletAccount.select().where(WalletAccount.customer == customer).order_by(WalletAccount.created_at)
    return [as_dict(row) for row in rows]


def move_owner(src, dst, actor, now=None):
    """Move every account of customer ``src`` to ``dst`` (a merge); returns how many moved."""
    now = now or utcnow()
    with db.atomic():
        ids = [a for (a,) in WalletAccount.select(WalletAccount.id).where(WalletAccount.customer == src).tuples()]
        for account in ids:
            WalletEvent.create(account=account, action="owner", at=now, actor=actor, other=src)
        WalletAccount.update(customer=dst).where(WalletAccount.id.in_(ids)).execute()
    return len(ids)


def low_balance(accounts=None):
    """Active accounts with a customer whose balance is below their reminder threshold (all, or of ``accounts``)."""
    query = WalletAccount.select().where((WalletAccount.state == "active") & WalletAccount.customer.is_null(False)
                                         & (WalletAccount.balance < WalletAccount.low_balance))
    if accounts is not None:
        query = query.where(WalletAccount.id.in_(list(accounts)))
    return [as_dict(row) for row in query.order_by(WalletAccount.id)]


def flagged(since=None, flag=None):
    """Flagged entries (offline overdrafts, spends on frozen or unknown cards, ...), oldest first."""
    query = (WalletEntry.select(WalletEntry, WalletAccount.cur).join(WalletAccount)
             .where(WalletEntry.flag.is_null(False)).order_by(WalletEntry.id))
    if since is not None:
        query = query.where(WalletEntry.booked_at >= since)
    if flag is not None:
        query = query.where(WalletEntry.flag == flag)
    return [dict(entry_dict(e), account=e.account_id, cur=e.account.cur) for e in query]


def as_dict(row):
    """The public view of an account (its card token stays inside)."""
    return {"id": row.id, "customer": row.customer_id, "bin": row.bin, "last4": row.last4, "cur": row.cur,
            "balance": row.balance, "state": row.state, "pin": row.pin_hash is not None,
            "locked_until": iso(row.locked_until), "frozen_at": iso(row.frozen_at), "frozen_by": row.frozen_by,
            "replaced_by": row.replaced_by, "created_at": iso(row.created_at), "low_balance": row.low_balance}


def entry_dict(e):
    """The public view of a ledger entry."""
    return {"at": iso(e.at), "booked_at": iso(e.booked_at), "kind": e.kind, "delta": e.delta, "key": e.key,
            "dev": e.dev, "seq": e.seq, "ref": e.ref, "orig": e.orig, "merchant": e.merchant, "offline": e.offline,
            "flag": e.flag, "actor": e.actor, "note": e.note}


def _usable(row, what):
    """WalletError saying what to do if the card of account ``row`` cannot be used to ``what``."""
    if row.state == "frozen":
        raise WalletError("cannot %s account %s: its card is frozen (挂失) since %s; unfreeze it if found, or "
                          "reissue it onto a new card" % (what, row.id, iso(row.frozen_at)))
    if row.state == "replaced":
        raise WalletError("cannot %s account %s: it was replaced by %s on reissue; use that one"
                          % (what, row.id, row.replaced_by))
    if row.state == "closed":
        raise WalletError("cannot %s account %s: it is closed" % (what, row.id))


def _active_customer(customer):
    row = Customer.get_or_none(Customer.id == customer)
    if row is None:
        raise WalletError("no customer %s: give an existing customer id (C...), or none for an anonymous card"
                          % customer)
    if row.state == "merged":
        raise WalletError("customer %s was merged into %s: open the account for %s" % (row.id, row.merged_into,
                                                                                        row.merged_into))
    if row.state != "active":
        raise WalletError("customer %s is %s: open the account for an active customer" % (row.id, row.state))


def _check_key(key):
    if not isinstance(key, str) or not 0 < len(key) <= MAX_KEY:
        raise WalletError("an idempotency key is text of 1 to %d characters naming the event" % MAX_KEY)


def _booked(key, row, kind):
    """True if ``key`` is booked already (as ``kind`` on ``row``, when given); WalletError if as something else."""
    done = WalletEntry.get_or_none(WalletEntry.key == key)
    if done is None:
        return False
    if done.kind != kind or (row is not None and done.account_id != row.id):
        raise WalletError("key %s is already booked as a %s on account %s: use a new key for a new event"
                          % (key, done.kind, done.account_id))
    return True


def current(row):
    """``row``, or the account that replaced it on reissue (following the chain)."""
    while row.state == "replaced" and row.replaced_by:
        row = WalletAccount.get_by_id(row.replaced_by)
    return row


def _outcome(account_id, key, booked, bonus=None):
    row = WalletAccount.get_by_id(account_id)
    entry = WalletEntry.get(WalletEntry.key == key)
    out = {"account": row.id, "key": key, "booked": booked, "amount": abs(entry.delta), "balance": row.balance,
           "cur": row.cur}
    if bonus is not None:
        extra = WalletEntry.get_or_none(WalletEntry.key == bonus)
        out["bonus"] = extra.delta if extra else 0
    return out
