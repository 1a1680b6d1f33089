"""Property: whatever order and however often events arrive, balance == sum of entries == sum of unique events."""

import os
from datetime import datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from peewee import fn

from server.db import db
from server.wallet import WalletError, auth, offline, service
from server.wallet.models import WalletAccount, WalletEntry

T0 = datetime(2025, 6, 1, 2, 0)
TIERS = [{"min": 30000, "bonus": 3000}]
CARDS = 3
amounts = st.integers(1, 40000)
events = st.one_of(
    st.tuples(st.sampled_from(["svtopup", "svspend", "svrefund", "topup", "spend"]), st.integers(0, CARDS - 1),
              amounts),
    st.tuples(st.just("auth"), st.integers(0, CARDS - 1), amounts, st.booleans()),
    st.tuples(st.just("refund"), st.integers(0, 30), amounts))


def bonus(amount):
    return 3000 if amount >= 30000 else 0


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(evs=st.lists(events, min_size=1, max_size=20), data=st.data())
def test_balances_survive_replays_duplicates_and_reordering(app, evs, data):
    run = os.urandom(4).hex()
    toks = [os.urandom(32).hex() for _ in range(CARDS)]
    accounts = [service.open_account(t, actor="test", now=T0)["id"] for t in toks]
    for account in accounts:
        service.topup(account, 20000, "seed:%s:%s" % (run, account), now=T0, tiers=[])
    dev = "P" + run
    spend_keys = {i: _spend_key(dev, i, ev) for i, ev in enumerate(evs) if ev[0] in ("svspend", "spend", "auth")}
    # every event at least once, some again, in any order
    order = data.draw(st.permutations(list(range(len(evs))) + data.draw(st.lists(st.integers(0, len(evs) - 1),
                                                                                max_size=len(evs)))))
    answers, succeeded, recorded, pending = {}, set(), set(), []
    batch = data.draw(st.integers(1, 4))

    def flush():
        with db.atomic():
            offline.apply_txs(pending, T0 + timedelta(minutes=step), tiers=TIERS)
        del pending[:]
    for step, i in enumerate(order):
        kind, card = evs[i][0], evs[i][1]
        now = T0 + timedelta(minutes=step)
        # an authorised spend's record may come before or after (replays of) its request
        if kind.startswith("sv") or (kind == "auth" and evs[i][3] and data.draw(st.booleans())):
            if kind == "auth":
                recorded.add(i)
            pending.append(_tx(dev, i, evs[i], toks))
            if len(pending) >= batch:
                flush()
            continue
        if kind == "auth":
            answer = auth.authorise(dev, i, toks[card], evs[i][2], "CNY", None, now=now)
            assert answers.setdefault(i, answer) == answer
            continue
        try:
            if kind == "topup":
                out = service.topup(accounts[card], evs[i][2], "%s:%d" % (run, i), now=now, tiers=TIERS)
            elif kind == "spend":
                out = service.spend(accounts[card], evs[i][2], spend_keys[i], now=now)
            else:
                target = card % len(evs)
                if target not in spend_keys:
                    continue
                out = service.refund(spend_keys[target], evs[i][2], "%s:%d" % (run, i), now=now)
        except WalletError:
            continue
        assert i not in succeeded or not out["booked"]
        succeeded.add(i)
    if pending:
        flush()

    expected = {account: 20000 for account in accounts}
    for i, ev in enumerate(evs):
        kind, amount = ev[0], ev[2]
        if kind == "refund":
            if i in succeeded:
                expected[WalletEntry.get(WalletEntry.key == "%s:%d" % (run, i)).account_id] += amount
            continue
        account = accounts[ev[1]]
        if kind in ("svtopup", "topup"):
            expected[account] += amount + bonus(amount)
        elif kind == "svrefund":
            expected[account] += amount
        elif kind == "svspend" or (kind == "spend" and i in succeeded):
            expected[account] -= amount
        elif kind == "auth" and (answers.get(i, {"ok": False})["ok"] or i in recorded):
            expected[account] -= amount
    sums = dict(WalletEntry.select(WalletEntry.account, fn.SUM(WalletEntry.delta))
                .where(WalletEntry.account.in_(accounts)).group_by(WalletEntry.account).tuples())
    balances = dict(WalletAccount.select(WalletAccount.id, WalletAccount.balance)
                    .where(WalletAccount.id.in_(accounts)).tuples())
    assert balances == sums == expected


def _spend_key(dev, i, ev):
    if ev[0] == "svspend":
        return "%s:%d:svspend" % (dev, i)
    if ev[0] == "auth":
        return auth.key_of(dev, i)
    return "%s:spend:%d" % (dev, i)


def _tx(dev, i, ev, toks):
    """The terminal's record of event ``i``; an authorisation's spend names it as approved (auth) or, for odd
    amounts, as the request left unanswered before spending offline (tried)."""
    tx = {"dev": dev, "seq": i, "kind": ev[0], "ref": "R%d" % i, "orig": None, "amount": ev[2], "cur": "CNY",
          "tok": toks[ev[1]], "auth": None, "merchant": None}
    if ev[0] == "auth":
        tx.update({"kind": "svspend", "auth" if ev[2] % 2 == 0 else "tried": i})
    return tx
