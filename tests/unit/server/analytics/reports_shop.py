"""A small shop for the report tests, built through the real ingest, wallet and tag tables.

Two stores: M1 in Asia/Shanghai (UTC+8, terminal T1) and M2 in Europe/Berlin (UTC+1 in winter, T2).
Customers by card: A=1, B=2, C=3, D=4, E=5, F=6; one sale without a card. February in Shanghai
is [2025-01-31 16:00Z, 2025-02-28 16:00Z).

  #   store  card  UTC time          amount  what
  1   T1     A     2025-01-10 04:00  10000
  2   T1     B     2025-01-20 04:00   5000
  3   T1     C     2025-01-25 04:00   3000
  12  T1     E     2025-01-31 16:30   2000   00:30 on 1 Feb in Shanghai
  4   T1     A     2025-02-03 04:00  20000
  5   T1     A     2025-02-10 04:00   4000
  6   T1     D     2025-02-12 04:00   6000
  7   T1     B     2025-02-14 04:00   9000   voided by 8
  9   T1     -     2025-02-15 04:00   1001   no card
  10  T1     A     2025-02-16 04:00   2000   refund of 4
  11  T1     A     2025-03-05 04:00   1500
  1   T2     F     2025-02-28 17:00   7000   18:00 on 28 Feb in Berlin, 01:00 on 1 Mar in Shanghai
"""

import calendar
from datetime import datetime

from server.fleet.models import Device, Merchant
from server.ingest.apply import apply_batch
from server.loyalty.models import Card
from server.tags import models as tags
from server.wallet import service

SALES = (  # dev, seq, card, UTC time, amount, kind, orig
    ("T1", 1, 1, "2025-01-10 04:00", 10000, "sale", None),
    ("T1", 2, 2, "2025-01-20 04:00", 5000, "sale", None),
    ("T1", 3, 3, "2025-01-25 04:00", 3000, "sale", None),
    ("T1", 12, 5, "2025-01-31 16:30", 2000, "sale", None),
    ("T1", 4, 1, "2025-02-03 04:00", 20000, "sale", None),
    ("T1", 5, 1, "2025-02-10 04:00", 4000, "sale", None),
    ("T1", 6, 4, "2025-02-12 04:00", 6000, "sale", None),
    ("T1", 7, 2, "2025-02-14 04:00", 9000, "sale", None),
    ("T1", 8, 2, "2025-02-14 05:00", 9000, "void", "R7"),
    ("T1", 9, None, "2025-02-15 04:00", 1001, "sale", None),
    ("T1", 10, 1, "2025-02-16 04:00", 2000, "refund", "R4"),
    ("T1", 11, 1, "2025-03-05 04:00", 1500, "sale", None),
    ("T2", 1, 6, "2025-02-28 17:00", 7000, "sale", None),
)


def utc(text):
    return datetime.fromisoformat(text)


def unix(text):
    return calendar.timegm(utc(text).timetuple())


def build(add, mk):
    """Fill the database; return ``{letter: customer id}``."""
    Merchant.create(code="M1", name="西湖店", province="浙江省", tz="Asia/Shanghai")
    Merchant.create(code="M2", name="Berlin <Mitte>", province="浙江省", tz="Europe/Berlin")
    for dev, merchant in (("T1", "M1"), ("T2", "M2")):
        add(dev)
        Device.update(merchant=merchant).where(Device.id == dev).execute()
    for dev, seq, card, when, amount, kind, orig in SALES:
        pairs = mk.sale(seq, amount=amount, tok=mk.tok(card) if card else None, kind=kind, orig=orig, ts=unix(when))
        apply_batch([mk.record(dev, pairs, kind=kind)], now=utc(when))
    ids = {letter: Card.get(Card.tok == mk.tok(n)).customer_id for n, letter in enumerate("ABCDEF", 1)}
    # stored value: 500.00 on A's card at M1 in January, 30.00 on F's at M2 in February
    a = service.open_account(mk.tok(1), now=utc("2025-01-20 00:00"))["id"]
    f = service.open_account(mk.tok(6), now=utc("2025-02-01 00:00"))["id"]
    service.topup(a, 50000, "a1", merchant="M1", dev="T1", now=utc("2025-01-20 05:00"), tiers=[])
    service.topup(f, 3000, "f1", merchant="M2", dev="T2", now=utc("2025-02-05 05:00"), tiers=[])
    service.topup(a, 1000, "a2", merchant="M1", dev="T1", now=utc("2025-03-05 05:00"), tiers=[])
    # tag history, by hand instead of what ingest's re-tagging wrote (tested in tests/unit/server/tags), so the
    # sizes are checkable: C gains growth exactly when February starts in Shanghai
    tags.TagEvent.delete().execute()
    for who, when, gained, lost in (("A", "2025-01-15 00:00", "loyal,lc_active", ""),
                                    ("B", "2025-01-20 00:00", "lc_active", ""),
                                    ("C", "2025-01-31 16:00", "growth", ""),
                                    ("B", "2025-02-10 00:00", "lc_silent", "lc_active"),
                                    ("A", "2025-03-02 00:00", "", "loyal")):
        tags.TagEvent.create(customer=ids[who], at=unix(when), gained=gained, lost=lost)
    tags.TagCount.create(run=1, tag="loyal", customers=1, at=unix("2025-02-01 00:00"))
    tags.TagCount.create(run=1, tag="lc_active", customers=2, at=unix("2025-02-01 00:00"))
    return ids
