"""A member card's life: report loss (挂失) freezes it at once, unfreeze, reissue onto a new card, forget.

The tokens of every card that is not active form the fleet's hot list (``frozen_tokens``):
terminals refuse them offline too. Each change of that list raises the pushed config's version in
the same transaction, so the running ingest sends the terminals the new list within a second.
"""

import logging
import os

from server.db import db, utcnow
from server.fleet import pushconfig
from server.wallet import WalletError
from server.wallet.models import FREEZE_REASONS, UNFREEZE_REASONS, AuthAttempt, WalletAccount, WalletEvent, find
from server.wallet.service import as_dict, book, check_tok, create

log = logging.getLogger(__name__)


def freeze(tok, actor, reason, now=None):
    """Freeze the card ``tok`` (or account id) at once: refused online, on the hot list, flagged if spent offline.

    Freezing a frozen card changes nothing. Returns the account with ``changed``.
    """
    if reason not in FREEZE_REASONS:
        raise WalletError("freeze reason %r: give one of %s" % (reason, ", ".join(FREEZE_REASONS)))
    now = now or utcnow()
    with db.atomic():
        row = find(tok)
        if row.state in ("replaced", "closed"):
            raise WalletError("account %s is %s already: its card is refused everywhere" % (row.id, row.state))
        changed = row.state == "active"
        if changed:
            WalletAccount.update(state="frozen", frozen_at=now, frozen_by=actor).where(
                WalletAccount.id == row.id).execute()
            WalletEvent.create(account=row.id, action="freeze", at=now, actor=actor, reason=reason)
            pushconfig.bump("freeze", now)
    if changed:
        log.info("stored-value account %s frozen (%s) by %s", row.id, reason, actor)
    return dict(as_dict(find(row.id)), changed=changed)


def unfreeze(tok, actor, reason, now=None):
    """Make a frozen card usable again (e.g. found); returns the account with ``changed``."""
    if reason not in UNFREEZE_REASONS:
        raise WalletError("unfreeze reason %r: give one of %s" % (reason, ", ".join(UNFREEZE_REASONS)))
    now = now or utcnow()
    with db.atomic():
        row = find(tok)
        if row.state in ("replaced", "closed"):
            raise WalletError("account %s is %s: it cannot be unfrozen%s" % (
                row.id, row.state, "; its balance is on %s" % row.replaced_by if row.replaced_by else ""))
        changed = row.state == "frozen"
        if changed:
            WalletAccount.update(state="active", frozen_at=None, frozen_by=None).where(
                WalletAccount.id == row.id).execute()
            WalletEvent.create(account=row.id, action="unfreeze", at=now, actor=actor, reason=reason)
            pushconfig.bump("unfreeze", now)
    if changed:
        log.info("stored-value account %s unfrozen (%s) by %s", row.id, reason, actor)
    return dict(as_dict(find(row.id)), changed=changed)


def reissue(old_tok, new_tok, actor, bin="", last4="", now=None):
    """Open an account for card ``new_tok`` carrying over the balance, customer and PIN of ``old_tok``.

    One transaction: a transfer_out on the old account, a transfer_in on the new one, the old
    one marked replaced. Reissuing the same pair again returns the new account unchanged.
    """
    check_tok(new_tok)
    now = now or utcnow()
    with db.atomic():
        old = find(old_tok)
        if old.state == "replaced":
            new = WalletAccount.get_by_id(old.replaced_by)
            if new.tok != new_tok:
                raise WalletError("account %s was already reissued as %s: reissue that one if needed"
                                  % (old.id, new.id))
            return as_dict(new)
        if old.state == "closed":
            raise WalletError("account %s is closed: open a new account instead" % old.id)
        held = WalletAccount.get_or_none(WalletAccount.tok == new_tok)
        if held is not None:
            raise WalletError("the new card already has account %s: give a card without one" % held.id)
        new = create(new_tok, old.customer_id, old.cur, now, actor, action="reissue", other=old.id, bin=bin,
                     last4=last4, pin_hash=old.pin_hash, low_balance=old.low_balance)
        if old.balance:
            out_key = "reissue:%s:out" % old.id
            book(old.id, -old.balance, "transfer_out", out_key, now, actor=actor, note="to %s" % new.id)
            book(new.id, old.balance, "transfer_in", "reissue:%s:in" % old.id, now, actor=actor, orig=out_key,
                 note="from %s" % old.id)
        WalletAccount.update(state="replaced", replaced_by=new.id).where(WalletAccount.id == old.id).execute()
        WalletEvent.create(account=old.id, action="replace", at=now, actor=actor, other=new.id)
        pushconfig.bump("reissue", now)
    log.info("stored-value account %s reissued as %s by %s", old.id, new.id, actor)
    return as_dict(WalletAccount.get_by_id(new.id))


def frozen_tokens():
    """Tokens of every card that must be refused, also offline: frozen, replaced and closed accounts."""
    query = WalletAccount.select(WalletAccount.tok).where(WalletAccount.state != "active").order_by(WalletAccount.tok)
    return [tok for (tok,) in query.tuples()]


def forget_cards(customers, actor, now=None):
    """On erasure: give the cards of ``customers`` random tokens no card maps to, and close them.

    The balances stay (money still owed, in the float until the merchant settles it); only the
    link from a physical card to the account goes, with its PIN. Returns (accounts, {cur: balance
    owed}, the tokens they had).
    """
    now = now or utcnow()
    owed, old = {}, set()
    with db.atomic():
        rows = list(WalletAccount.select().where(WalletAccount.customer.in_(list(customers))))
        for row in rows:
            state = "closed" if row.state in ("active", "frozen") else row.state
            WalletAccount.update(tok=os.urandom(32).hex(), bin="", last4="", pin_hash=None, state=state).where(
                WalletAccount.id == row.id).execute()
            AuthAttempt.update(tok=None).where(AuthAttempt.tok == row.tok).execute()
            WalletEvent.create(account=row.id, action="close", at=now, actor=actor, reason="erased")
            owed[row.cur] = owed.get(row.cur, 0) + row.balance
            old.add(row.tok)
        if rows:
            pushconfig.bump("erase", now)
    return len(rows), owed, old
