"""Online authorisation of a stored-value spend at a terminal: check and book in one serialised transaction.

The request ``(dev, aid)`` is its own idempotency key: a replay gets the first answer and
books nothing more. Every answer, approval or decline, is kept in AuthAttempt (never the PIN).
"""

import logging
import re

from server.db import db, utcnow
from server.wallet import pin as pins
from server.wallet.models import AuthAttempt, WalletAccount, WalletEntry

CODES = ("APPROVED", "UNKNOWN_CARD", "FROZEN", "BAD_PIN", "LOCKED", "INSUFFICIENT", "WRONG_CURRENCY",
         "BAD_AMOUNT", "PIN_REQUIRED", "AID_REUSED")
CUR_RE = re.compile(r"^[A-Z]{3}$")
log = logging.getLogger(__name__)


def key_of(dev, aid):
    """The ledger key of the spend an approved authorisation books."""
    return "auth:%s:%s" % (dev, aid)


def authorise(dev, aid, tok, amount, cur, pin, now=None, merchant=None):
    """Authorise a spend of ``amount`` minor units of ``cur`` on card ``tok`` and book it if approved.

    Returns ``{"ok", "code", "bal", "cur"}``: code one of CODES, bal the balance after (None
    unless approved or INSUFFICIENT, so a card without its PIN reveals nothing), cur the
    card's currency. AID_REUSED: ``(dev, aid)`` was answered before for another card or amount.
    """
    now = now or utcnow()
    aid = str(aid)
    amount = amount if _whole(amount) else None
    cur = cur if isinstance(cur, str) and CUR_RE.match(cur) else "XXX"
    earlier = _earlier(dev, aid, tok, amount, cur)
    if earlier is not None:
        return earlier
    # The slow PIN hash runs before the write lock; pins.recheck redoes it if the PIN changed meanwhile.
    row = WalletAccount.get_or_none(WalletAccount.tok == tok)
    stored = row.pin_hash if row is not None else None
    ok = bool(stored and pin and not pins.is_locked(row, now) and pins.matches(pin, stored))
    with db.atomic():
        earlier = _earlier(dev, aid, tok, amount, cur)
        if earlier is not None:
            return earlier
        row = WalletAccount.get_or_none(WalletAccount.tok == tok)
        code, bal, held = _decide(row, key_of(dev, aid), amount, cur, pin, stored, ok, now, dev, merchant)
        AuthAttempt.create(dev=dev, aid=aid, account=row.id if row else None, tok=None if row else tok,
                           amount=amount, cur=cur, code=code, bal=bal, merchant=merchant, at=now, held=held)
    if code != "APPROVED":
        log.info("stored-value authorisation %s/%s declined: %s", dev, aid, code)
    return _answer(code, bal, row.cur if row else cur)


def _decide(row, key, amount, cur, pin, stored, ok, now, dev, merchant):
    """(code, balance to show, held) for the request; books the spend when approved.

    held: this approval booked the spend and now waits for the terminal's record naming it.
    """
    code, bal = _check(row, key, amount, cur, pin, stored, ok, now)
    if code is not None:
        return code, bal, False
    taken = WalletAccount.update(balance=WalletAccount.balance - amount).where(
        (WalletAccount.id == row.id) & (WalletAccount.balance >= amount)).execute()
    balance = WalletAccount.select(WalletAccount.balance).where(WalletAccount.id == row.id).scalar()
    if not taken:
        return "INSUFFICIENT", balance, False
    WalletEntry.create(account=row.id, delta=-amount, kind="spend", key=key, dev=dev, merchant=merchant, at=now,
                       booked_at=now)
    return "APPROVED", balance, True


def _check(row, key, amount, cur, pin, stored, ok, now):
    """(code, balance) of a request answered without booking, else (None, None)."""
    if amount is None:
        return "BAD_AMOUNT", None
    if row is None:
        return "UNKNOWN_CARD", None
    if WalletEntry.select().where(WalletEntry.key == key).exists():
        return "APPROVED", row.balance  # the terminal's record of this spend arrived before this request
    if row.state != "active":
        return "FROZEN", None
    if cur != row.cur:
        return "WRONG_CURRENCY", None
    if row.pin_hash is not None:
        if pins.is_locked(row, now):
            return "LOCKED", None
        if not pin:
            return "PIN_REQUIRED", None
        outcome = pins.count(row, pins.recheck(row, pin, stored, ok), now)
        if outcome != "OK":
            return outcome, None
    return None, None


def _earlier(dev, aid, tok, amount, cur):
    """The answer already given to ``(dev, aid)``, AID_REUSED if it was for another request, else None."""
    attempt = AuthAttempt.get_or_none((AuthAttempt.dev == dev) & (AuthAttempt.aid == aid))
    if attempt is None:
        return None
    account = attempt.account
    card = account.tok if account is not None else attempt.tok
    if (card, attempt.amount, attempt.cur) != (tok, amount, cur):
        return _answer("AID_REUSED", None, cur)
    return _answer(attempt.code, attempt.bal, account.cur if account is not None else attempt.cur)


def _answer(code, bal, cur):
    return {"ok": code == "APPROVED", "code": code, "bal": bal, "cur": cur}


def _whole(amount):
    return isinstance(amount, int) and not isinstance(amount, bool) and amount > 0
