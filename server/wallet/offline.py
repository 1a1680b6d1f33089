"""Stored-value records from terminals (svspend, svtopup, svrefund), booked inside ingest's transaction.

A spend the terminal approved offline is always booked — the goods are gone — and flagged for
review: unknown_card, frozen (the card was blocked at the spend's time), wrong_currency,
overdraft (the balance went below 0), over_limit (the terminal broke an offline limit).
A spend whose online approval was released before it came (server.wallet.stale) takes the
money again, flagged late_after_release.
Batch-first: a fixed number of queries per batch, whatever its size. Each record is booked
under a key naming it, so replays in any order book nothing twice.
"""

from collections import defaultdict
from datetime import datetime, timezone

from peewee import chunked, fn

from server.db import bulk_insert, db, utcnow
from server.loyalty.models import Card
from server.wallet import WalletError, settings, stale
from server.wallet.auth import key_of
from server.wallet.models import BLOCKING, AuthAttempt, WalletAccount, WalletEntry, WalletEvent
from server.wallet.service import bonus_for, new_account_id

CHUNK = 200
KINDS = {"svspend": "spend", "svtopup": "topup", "svrefund": "refund"}
ENTRY_FIELDS = ("account", "delta", "kind", "key", "dev", "seq", "ref", "orig", "merchant", "at", "booked_at",
                "offline", "flag", "note", "actor")
ACCOUNT_FIELDS = ("id", "tok", "bin", "last4", "customer", "cur", "balance", "state", "pin_fails", "created_at",
                  "low_balance")
EVENT_FIELDS = ("account", "action", "at", "actor", "reason")


def aid_of(tx):
    """The authorisation a spend belongs to: the one that approved it, or the one left unanswered
    (``tried``) before it was made offline — the server may have approved and booked that one."""
    if tx["kind"] != "svspend":
        return None
    return tx.get("auth") if tx.get("auth") is not None else tx.get("tried")


def key_for(tx):
    """The ledger key of a record: its authorisation's for a spend that has one, else ``dev:seq:kind``."""
    aid = aid_of(tx)
    if aid is not None:
        return key_of(tx["dev"], aid)
    return "%s:%d:%s" % (tx["dev"], tx["seq"], tx["kind"])


def apply_txs(txs, now=None, limits=None, tiers=None):
    """Book stored-value records; call inside the transaction that stores them.

    Each tx: dev, seq, kind (svspend|svtopup|svrefund), ref, orig, amount (minor units > 0),
    cur, tok, auth (the aid of its online approval, or None), merchant, and optionally tried
    (an offline spend's unanswered aid), ts (terminal time, epoch seconds; default now), bin,
    last4. ``limits`` is
    ``{"card": minor, "terminal": minor}`` (default WALLET_OFFLINE_LIMITS). Returns per tx
    ``{"sv": balance right after it, "svcur": cur, "flag": flag or None}``.
    """
    now = now or utcnow()
    batch = _Batch([_checked(tx, now) for tx in txs], now, settings.offline_limits(limits), tiers)
    results = [batch.apply(tx) for tx in batch.txs]
    batch.flush()
    return results


class _Batch:
    """What one batch needs from the database, loaded up front, and the rows it will write."""

    def __init__(self, txs, now, limits, tiers):
        self.txs, self.now, self.limits, self.tiers = txs, now, limits, tiers
        self.released = stale.settle([(tx["dev"], aid_of(tx)) for tx in txs if aid_of(tx) is not None])
        self.done = _booked([self._key(tx) for tx in txs])
        self.attempts = _attempts([(tx["dev"], str(aid_of(tx))) for tx in txs if aid_of(tx) is not None])
        self.accounts = _accounts({tx["tok"] for tx in txs})
        self.holders = _holders({tx["tok"] for tx in txs} - set(self.accounts))
        self.unknown, self.new_accounts, self.events = set(), [], []
        ids = [a["id"] for a in self.accounts.values()]
        self.blocks = _blocks(ids)
        self.totals = _totals(ids)
        spends = [tx for tx in txs if tx["kind"] == "svspend"]
        self.window = _window({tx["dev"] for tx in spends}, min([tx["at"] for tx in spends], default=now))
        first = [o["at"] for stored in self.window.values() for o in stored] + [tx["at"] for tx in spends]
        self.approvals = _approvals({tx["dev"] for tx in spends}, min(first, default=now))
        self.entries, self.moves = [], defaultdict(int)

    def apply(self, tx):
        """Book one record (unless its key is booked) and return its result."""
        key = self._key(tx)
        if key in self.done:
            account = self.accounts.get(tx["tok"], {"balance": None, "cur": tx["cur"]})
            return {"sv": account["balance"], "svcur": account["cur"], "flag": self.done[key]}
        account = self.accounts.get(tx["tok"]) or self._open(tx)
        kind, amount = KINDS[tx["kind"]], tx["amount"]
        # offline: made without an approval; a declined aid is no approval, a missing one is trusted
        offline = kind == "spend" and (tx.get("auth") is None
                                       or self.attempts.get((tx["dev"], str(tx["auth"])), "APPROVED") != "APPROVED")
        delta = -amount if kind == "spend" else amount
        flag = "late_after_release" if key != key_for(tx) else self._flag(tx, account, kind, delta, offline)
        self._book(account, delta, kind, key, tx, flag, offline)
        if kind == "spend" and offline:
            self.window[tx["dev"]].append({"account": account["id"], "at": tx["at"], "booked_at": self.now,
                                           "amount": amount})
        if kind == "topup":
            bonus = bonus_for(amount, self.tiers)
            if bonus:
                self._book(account, bonus, "bonus", key + ":bonus", tx, flag, False, orig=key)
        return {"sv": account["balance"], "svcur": account["cur"], "flag": flag}

    def _key(self, tx):
        """The ledger key of a record; a late one's if its approval was released before it came."""
        aid = aid_of(tx)
        if aid is not None and (tx["dev"], str(aid)) in self.released:
            return stale.late_key(tx["dev"], aid)
        return key_for(tx)

    def _open(self, tx):
        """A top-up of an unknown card sells a new anonymous card; any other record of one books onto a closed
        account opened to hold it, flagged unknown_card."""
        state = "active" if tx["kind"] == "svtopup" else "closed"
        account = {"id": new_account_id(), "cur": tx["cur"], "balance": 0}
        self.new_accounts.append((account["id"], tx["tok"], tx.get("bin", ""), tx.get("last4", ""),
                                  self.holders.get(tx["tok"]), tx["cur"], 0, state, 0, self.now,
                                  settings.get("WALLET_LOW_BALANCE")))
        actor = "ingest:%s" % tx["dev"]
        self.events.append((account["id"], "open", self.now, actor, None))
        if state == "closed":
            self.events.append((account["id"], "close", self.now, actor, "unknown_card"))
            self.unknown.add(account["id"])
        self.accounts[tx["tok"]] = account
        return account

    def _flag(self, tx, account, kind, delta, offline):
        """Why a record needs review, if it does; only offline spends and records of blocked cards are judged."""
        if account["id"] in self.unknown or self.blocks.get(account["id"]) == "unknown":
            return "unknown_card"
        if kind in ("topup", "refund") or offline:
            if _blocked(self.blocks.get(account["id"], ()), tx["at"]):
                return "frozen"
            if tx["cur"] != account["cur"]:
                return "wrong_currency"
        if kind == "refund":
            totals = self.totals[account["id"]]
            if totals["refund"] + delta > -totals["spend"]:
                return "over_limit"
        if not offline:
            return None
        if account["balance"] + delta < 0:
            return "overdraft"
        return "over_limit" if self._over_limit(tx, account["id"], -delta) else None

    def _over_limit(self, tx, account, amount):
        """True if this offline spend takes the terminal past its per-card or per-terminal offline limit.

        Counted: this terminal's offline spends made by the spend's time that the server had not
        received by then (unreconciled); for the card, only those since its last online approval here.
        """
        dev, at = tx["dev"], tx["at"]
        since = max([t for t in self.approvals.get((dev, account), ()) if t <= at], default=None)
        open_ = [o for o in self.window[dev] if o["at"] <= at < o["booked_at"]]
        card = amount + sum(o["amount"] for o in open_ if o["account"] == account and (since is None
                                                                                       or o["at"] > since))
        terminal = amount + sum(o["amount"] for o in open_)
        return card > self.limits["card"] or terminal > self.limits["terminal"]

    def _book(self, account, delta, kind, key, tx, flag, offline, orig=None):
        note = "refund of %s" % tx["orig"] if kind == "refund" and tx.get("orig") else None
        self.entries.append((account["id"], delta, kind, key, tx["dev"], tx["seq"], tx.get("ref"), orig,
                             tx.get("merchant"), tx["at"], self.now, offline, flag, note, "ingest:%s" % tx["dev"]))
        self.done[key] = flag
        self.moves[account["id"]] += delta
        account["balance"] += delta
        if kind in ("spend", "refund"):
            self.totals[account["id"]][kind] += delta

    def flush(self):
        """Write the new accounts, events and entries and move the balances: a few statements in all."""
        bulk_insert(WalletAccount, ACCOUNT_FIELDS, self.new_accounts)
        bulk_insert(WalletEvent, EVENT_FIELDS, self.events)
        bulk_insert(WalletEntry, ENTRY_FIELDS, self.entries)
        if self.moves:
            sql = 'UPDATE "%s" SET "balance" = "balance" + %s WHERE "id" = %s' % (
                WalletAccount._meta.table_name, db.param, db.param)
            db.cursor().executemany(sql, [(delta, account) for account, delta in sorted(self.moves.items())])


def _checked(tx, now):
    """The record with ``at`` (its time as naive UTC); WalletError for one ingest should have refused."""
    if tx.get("kind") not in KINDS or not tx.get("tok"):
        raise WalletError("record %s/%s is not a stored-value record with a card token" % (tx.get("dev"),
                                                                                          tx.get("seq")))
    amount = tx.get("amount")
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise WalletError("record %s/%s: amount must be whole minor units above 0" % (tx["dev"], tx["seq"]))
    ts = tx.get("ts")
    at = now if ts is None else datetime.fromtimestamp(ts, timezone.utc).replace(tzinfo=None)
    return dict(tx, at=at)


def _booked(keys):
    """``{key: flag}`` of the keys already in the ledger."""
    out = {}
    for part in chunked(sorted(set(keys)), CHUNK):
        out.update(WalletEntry.select(WalletEntry.key, WalletEntry.flag).where(WalletEntry.key.in_(part)).tuples())
    return out


def _attempts(pairs):
    """``{(dev, aid): code}`` of the authorisation attempts among ``pairs``."""
    out = {}
    for part in chunked(sorted(set(pairs)), CHUNK):
        query = AuthAttempt.select(AuthAttempt.dev, AuthAttempt.aid, AuthAttempt.code).where(
            AuthAttempt.dev.in_({d for d, a in part}) & AuthAttempt.aid.in_({a for d, a in part}))
        wanted = set(part)
        out.update(((dev, aid), code) for dev, aid, code in query.tuples() if (dev, aid) in wanted)
    return out


def _accounts(toks):
    """``{tok: {"id", "cur", "balance"}}`` of the cards that have an account."""
    out = {}
    for part in chunked(sorted(toks), CHUNK):
        query = WalletAccount.select(WalletAccount.tok, WalletAccount.id, WalletAccount.cur,
                                     WalletAccount.balance).where(WalletAccount.tok.in_(part))
        for tok, account, cur, balance in query.tuples():
            out[tok] = {"id": account, "cur": cur, "balance": balance}
    return out


def _holders(toks):
    """``{tok: customer}`` of the loyalty cards among ``toks`` (a card new to stored value keeps its customer)."""
    out = {}
    for part in chunked(sorted(toks), CHUNK):
        out.update(Card.select(Card.tok, Card.customer).where(Card.tok.in_(part)).tuples())
    return out


def _blocks(ids):
    """``{account: [(at, blocked?)] oldest first}``, or "unknown" for an account opened for an unknown card."""
    out = defaultdict(list)
    for part in chunked(sorted(ids), CHUNK):
        query = (WalletEvent.select(WalletEvent.account, WalletEvent.at, WalletEvent.action, WalletEvent.reason)
                 .where(WalletEvent.account.in_(part) & WalletEvent.action.in_(BLOCKING + ("unfreeze",)))
                 .order_by(WalletEvent.at, WalletEvent.id))
        for account, at, action, reason in query.tuples():
            if reason == "unknown_card":
                out[account] = "unknown"
            elif out[account] != "unknown":
                out[account].append((at, action in BLOCKING))
    return out


def _blocked(changes, at):
    """True if the last block/unblock at or before ``at`` blocked the card."""
    state = False
    for when, blocked in changes:
        if when > at:
            break
        state = blocked
    return state


def _totals(ids):
    """``{account: {"spend": sum, "refund": sum}}`` of the ledger (spends negative)."""
    out = defaultdict(lambda: {"spend": 0, "refund": 0})
    for part in chunked(sorted(ids), CHUNK):
        query = (WalletEntry.select(WalletEntry.account, WalletEntry.kind, fn.SUM(WalletEntry.delta))
                 .where(WalletEntry.account.in_(part) & WalletEntry.kind.in_(("spend", "refund")))
                 .group_by(WalletEntry.account, WalletEntry.kind))
        for account, kind, total in query.tuples():
            out[account][kind] = total
    return out


def _window(devs, since):
    """``{dev: [spend]}``: stored offline spends of ``devs`` booked after ``since`` (unreconciled at some spend's
    time)."""
    out = defaultdict(list)
    for part in chunked(sorted(devs), CHUNK):
        query = (WalletEntry.select(WalletEntry.dev, WalletEntry.account, WalletEntry.at, WalletEntry.booked_at,
                                    WalletEntry.delta)
                 .where(WalletEntry.dev.in_(part) & (WalletEntry.offline == True)  # noqa: E712 (SQL, not Python)
                        & (WalletEntry.booked_at > since) & (WalletEntry.kind == "spend")))
        for dev, account, at, booked, delta in query.tuples():
            out[dev].append({"account": account, "at": at, "booked_at": booked, "amount": -delta})
    return out


def _approvals(devs, since):
    """``{(dev, account): [times]}`` of online approvals at ``devs`` since ``since``."""
    out = defaultdict(list)
    for part in chunked(sorted(devs), CHUNK):
        query = AuthAttempt.select(AuthAttempt.dev, AuthAttempt.account, AuthAttempt.at).where(
            AuthAttempt.dev.in_(part) & (AuthAttempt.code == "APPROVED") & (AuthAttempt.at >= since))
        for dev, account, at in query.tuples():
            out[(dev, account)].append(at)
    return out
