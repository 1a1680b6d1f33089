"""Daily reconciliation: per store and terminal, over the merchant's local day, always equal to the ledger."""

import csv
import io
from datetime import datetime

import pytest

from server.db import db
from server.fleet.models import Merchant
from server.wallet import WalletError, auth, cards, offline, report, service
from server.wallet.models import WalletAccount, WalletEntry

# 2025-06-01 in Shanghai (UTC+8) is 2025-05-31 16:00 to 2025-06-01 16:00 UTC; in Berlin (UTC+2) 22:00 to 22:00.
SH_START, SH_END = datetime(2025, 5, 31, 16, 0), datetime(2025, 6, 1, 16, 0)


def tok(n):
    return "%064x" % (n * 7919 + 1)


def utc(text):
    return datetime.fromisoformat(text)


@pytest.fixture
def ledger(app):
    Merchant.create(code="M1", name="西湖店", province="浙江省", tz="Asia/Shanghai")
    Merchant.create(code="M2", name="Berlin", province="浙江省", tz="Europe/Berlin")
    a = service.open_account(tok(1), now=utc("2025-05-30 00:00"))["id"]
    b = service.open_account(tok(2), now=utc("2025-05-30 00:00"))["id"]
    service.topup(a, 100000, "open-a", merchant="M1", dev="T1", now=utc("2025-05-31 10:00"), tiers=[])  # 18:00 local
    service.topup(b, 3000, "open-b", merchant="M1", dev="T2", now=utc("2025-05-31 10:00"), tiers=[])
    with db.atomic():  # 00:05 local on the 1st: a terminal top-up with its bonus
        offline.apply_txs([{"dev": "T2", "seq": 1, "kind": "svtopup", "ref": "R1", "orig": None, "amount": 100000,
                            "cur": "CNY", "tok": tok(1), "auth": None, "merchant": "M1"}], utc("2025-05-31 16:05"))
    auth.authorise("T1", 1, tok(1), 2500, "CNY", None, now=utc("2025-06-01 15:50"), merchant="M1")  # 23:50 local
    service.refund("auth:T1:1", 500, "r1", dev="T1", merchant="M1", now=utc("2025-06-01 15:55"))
    with db.atomic():  # an offline overdraft on b, booked 23:58 local
        offline.apply_txs([{"dev": "T1", "seq": 2, "kind": "svspend", "ref": "R2", "orig": None, "amount": 4000,
                            "cur": "CNY", "tok": tok(2), "auth": None, "merchant": "M1"}], utc("2025-06-01 15:58"))
    cards.reissue(tok(2), tok(3), "cli:test", now=utc("2025-06-01 12:00"))
    service.adjust(WalletAccount.get(WalletAccount.tok == tok(3)).id, 1000, "adj", "cli:root", "overdraft",
                   now=utc("2025-06-01 12:30"))
    with db.atomic():  # 00:10 local on the 2nd: the next day in Shanghai
        offline.apply_txs([{"dev": "T1", "seq": 3, "kind": "svspend", "ref": "R3", "orig": None, "amount": 700,
                            "cur": "CNY", "tok": tok(1), "auth": None, "merchant": "M1"}], utc("2025-06-01 16:10"))
    service.topup(a, 2000, "berlin", merchant="M2", dev="T9", now=utc("2025-06-01 21:30"), tiers=[])  # 23:30 Berlin


def sums(start, end, merchant=None):
    """What the ledger says, added up here independently of the report."""
    out = {"opening": 0, "closing": 0, "flows": 0, "flagged": 0}
    for e in WalletEntry.select():
        if merchant is not None and e.merchant != merchant:
            continue
        out["opening"] += e.delta if e.booked_at < start else 0
        out["closing"] += e.delta if e.booked_at < end else 0
        out["flows"] += e.delta if start <= e.booked_at < end else 0
        out["flagged"] += 1 if e.flag and start <= e.booked_at < end else 0
    return out


def test_merchant_day_follows_its_zone_and_matches_the_ledger(ledger):
    out = report.daily("2025-06-01", merchant="M1")
    assert (out["tz"], out["from"], out["until"]) == ("Asia/Shanghai", "2025-05-31T16:00:00Z", "2025-06-01T16:00:00Z")
    rows = {(r["level"], r["dev"]): r for r in out["rows"]}
    t1, t2, store = rows[("terminal", "T1")], rows[("terminal", "T2")], rows[("merchant", None)]
    assert (t1["spend_online"], t1["spend_offline"], t1["refund"], t1["flagged"]) == (-2500, -4000, 500, 1)
    assert (t1["opening"], t1["closing"]) == (100000, 94000)  # the 700 at 00:10 is the next day's
    assert (t2["topup"], t2["bonus"], t2["opening"], t2["closing"]) == (100000, 12000, 3000, 115000)
    assert store["closing"] == t1["closing"] + t2["closing"] and store["level"] == "merchant"
    [total] = out["totals"]
    ledger_says = sums(SH_START, SH_END, "M1")
    assert (total["opening"], total["closing"], total["flagged"]) == (ledger_says["opening"], ledger_says["closing"],
                                                                      ledger_says["flagged"])
    assert sum(total[f] for f in report.FLOWS) == ledger_says["flows"]
    nxt = report.daily("2025-06-02", merchant="M1")
    assert nxt["totals"][0]["opening"] == total["closing"] and nxt["totals"][0]["spend_offline"] == -700


def test_whole_programme_day_and_another_zone(ledger):
    out = report.daily("2025-06-01")
    [total] = out["totals"]
    ledger_says = sums(SH_START, SH_END)
    assert (total["opening"], total["closing"]) == (ledger_says["opening"], ledger_says["closing"])
    assert (total["transfer"], total["adjust"]) == (0, 1000)  # a reissue moves money, it adds none
    assert [r["dev"] for r in out["rows"] if r["merchant"] is None] == [None, None]  # terminal "-" and its store
    # the Berlin top-up at 21:30 UTC is on the 1st in Berlin, on the 2nd in Shanghai
    assert report.daily("2025-06-01", merchant="M2")["totals"][0]["topup"] == 2000
    assert report.daily("2025-06-02")["totals"][0]["topup"] == 2000
    everything = report.daily("2030-01-01")["totals"][0]
    assert everything["opening"] == everything["closing"] == sum(a.balance for a in WalletAccount.select())


def test_csv_has_a_line_per_row_and_decimal_amounts(ledger):
    out = report.daily("2025-06-01", merchant="M1")
    lines = list(csv.DictReader(io.StringIO(report.to_csv(out))))
    assert len(lines) == len(out["rows"]) + len(out["totals"])
    assert lines[0]["level"] == "terminal" and lines[0]["dev"] == "T1" and lines[0]["spend_online"] == "-25.00"
    assert lines[-1]["level"] == "total" and lines[-1]["merchant"] == ""


def test_a_balance_changed_outside_the_ledger_refuses_the_report(ledger):
    WalletAccount.update(balance=WalletAccount.balance + 1).where(WalletAccount.tok == tok(1)).execute()
    with pytest.raises(WalletError, match="cached balance differs from the sum of the ledger for account"):
        report.daily("2025-06-01")


@pytest.mark.parametrize("kwargs,message", [({"merchant": "M404"}, "no merchant M404"),
                                            ({"tz": "Mars/Olympus"}, "IANA zone")])
def test_bad_merchant_or_zone(app, kwargs, message):
    with pytest.raises(WalletError, match=message):
        report.daily("2025-06-01", **kwargs)
    with pytest.raises(WalletError, match="YYYY-MM-DD"):
        report.daily("1.6.2025")
