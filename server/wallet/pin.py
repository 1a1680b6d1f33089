"""Stored-value PINs: 4-6 digits kept only as a salted scrypt hash, with a wrong-PIN lockout.

A PIN never reaches a log, an error message or a column in clear. The hash string names its
own parameters (``scrypt$n$r$p$salt$hash``, base32 parts), so they can be raised later
without breaking the hashes already stored.
"""

import base64
import hashlib
import hmac
import logging
import os
import re
from datetime import timedelta

from server.db import db, utcnow
from server.wallet import WalletError, settings
from server.wallet.models import WalletAccount, WalletEvent, find

N, R, P, SALT_BYTES, HASH_BYTES = 2 ** 14, 8, 1, 16, 32
PIN_RE = re.compile(r"^[0-9]{4,6}$")
log = logging.getLogger(__name__)


def valid(pin):
    """True if ``pin`` is text of 4 to 6 digits."""
    return isinstance(pin, str) and PIN_RE.match(pin) is not None


def hash_pin(pin):
    """The self-describing slow hash of ``pin``; WalletError (without the PIN) if it is not 4-6 digits."""
    if not valid(pin):
        raise WalletError("a PIN is 4 to 6 digits: ask the customer for another one")
    salt = os.urandom(SALT_BYTES)
    digest = _scrypt(pin, salt, N, R, P)
    return "scrypt$%d$%d$%d$%s$%s" % (N, R, P, _b32(salt), _b32(digest))


def matches(pin, stored):
    """True if ``pin`` is the PIN hashed in ``stored``; compared in constant time."""
    if not valid(pin):
        return False
    name, n, r, p, salt, digest = stored.split("$")
    if name != "scrypt":
        raise WalletError("unknown PIN hash scheme %r: reset the PIN (possync-server wallet pin-reset)" % name)
    return hmac.compare_digest(_scrypt(pin, _unb32(salt), int(n), int(r), int(p)), _unb32(digest))


def is_locked(account, now):
    """True while ``account`` is locked after too many wrong PINs."""
    return account.locked_until is not None and account.locked_until > now


def recheck(row, pin, stored, ok):
    """``ok`` (``pin`` checked against ``stored`` before the transaction), checked again if the PIN changed since.

    The slow hash runs outside the write lock, so one PIN check does not hold up every other
    terminal's authorisation.
    """
    if row.pin_hash == stored:
        return ok
    return row.pin_hash is not None and matches(pin, row.pin_hash)


def count(account, ok, now):
    """Count one PIN attempt on ``account`` (read in the caller's transaction): "OK", "BAD_PIN" or "LOCKED".

    A correct PIN clears the count. The failure that reaches WALLET_PIN_TRIES locks the account
    for WALLET_PIN_LOCK_MIN minutes (and starts a fresh count for after the lock).
    """
    if is_locked(account, now):
        return "LOCKED"
    where = WalletAccount.id == account.id
    if ok:
        if account.pin_fails:
            WalletAccount.update(pin_fails=0).where(where).execute()
        return "OK"
    WalletAccount.update(pin_fails=WalletAccount.pin_fails + 1).where(where).execute()
    fails = WalletAccount.select(WalletAccount.pin_fails).where(where).scalar()
    if fails < settings.get("WALLET_PIN_TRIES"):
        return "BAD_PIN"
    until = now + timedelta(minutes=settings.get("WALLET_PIN_LOCK_MIN"))
    WalletAccount.update(pin_fails=0, locked_until=until).where(where).execute()
    WalletEvent.create(account=account.id, action="lock", at=now, actor="pin")
    log.warning("stored-value account %s locked until %s after %d wrong PINs", account.id, until, fails)
    return "LOCKED"


def set_pin(account, pin, actor, now=None):
    """Give ``account`` (id or token) its first PIN; WalletError if it has one (change or reset it instead)."""
    now = now or utcnow()
    with db.atomic():
        row = find(account)
        if row.pin_hash is not None:
            raise WalletError("account %s already has a PIN: change it with the old PIN, or reset it" % row.id)
        _store(row, hash_pin(pin), "pin_set", actor, now)


def change_pin(account, old, new, actor, now=None):
    """Replace the PIN of ``account`` after checking ``old`` (wrong tries count towards the lockout)."""
    now = now or utcnow()
    row = find(account)
    if row.pin_hash is None:
        raise WalletError("account %s has no PIN to change: set one instead" % row.id)
    digest, stored = hash_pin(new), row.pin_hash
    ok = matches(old, stored)
    with db.atomic():
        row = find(account)
        outcome = count(row, recheck(row, old, stored, ok), now)
        if outcome == "OK":
            _store(row, digest, "pin_change", actor, now)
    if outcome == "LOCKED":
        raise WalletError("account %s is locked after too many wrong PINs: wait %d minutes or have an "
                          "administrator reset the PIN" % (row.id, settings.get("WALLET_PIN_LOCK_MIN")))
    if outcome == "BAD_PIN":
        raise WalletError("the old PIN of account %s is wrong: try again (the account locks after %d wrong tries)"
                          % (row.id, settings.get("WALLET_PIN_TRIES")))


def reset_pin(account, actor, pin=None, now=None):
    """Administrator: set a new PIN on ``account`` (or none with ``pin=None``) and lift any lock."""
    now = now or utcnow()
    digest = None if pin is None else hash_pin(pin)
    with db.atomic():
        _store(find(account), digest, "pin_reset", actor, now)


def _store(row, digest, action, actor, now):
    WalletAccount.update(pin_hash=digest, pin_fails=0, locked_until=None).where(WalletAccount.id == row.id).execute()
    WalletEvent.create(account=row.id, action=action, at=now, actor=actor)
    log.info("stored-value account %s: %s by %s", row.id, action, actor)


def _scrypt(pin, salt, n, r, p):
    return hashlib.scrypt(pin.encode("ascii"), salt=salt, n=n, r=r, p=p, maxmem=256 * n * r, dklen=HASH_BYTES)


def _b32(data):
    return base64.b32encode(data).decode("ascii").rstrip("=")


def _unb32(text):
    return base64.b32decode(text + "=" * (-len(text) % 8))
