"""Property tests: balances stay the sums of the ledger and equal an independent model under
duplicated, reordered, re-batched and concurrent input (issue 5, "must be shown by tests").

A scenario is what terminals and staff did: sales (with lines, campaign times, redemptions) and
refunds and voids of them on two terminals for a few cards, plus manual adjustments. It is
delivered to apply_txs the way ingest calls it, (a) in order, (b) with resends of records
already delivered, (c) shuffled, always in random batch splits; authorisations happen online
just before a sale's first delivery, as at a real terminal. The expected balance of every card
is computed here from the unique events alone, with the outcomes only the server can decide
(was a redemption approved, was an adjustment allowed) taken as observed.
"""

import random
import threading
from datetime import datetime, timezone
from fractions import Fraction

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from peewee import fn

from server.db import db
from server.loyalty import ledger, programme, service
from server.loyalty.ledger import LedgerError
from server.loyalty.models import Card, Customer, PointsEntry, Programme, RedeemAuth, SalePoints
from server.loyalty.redeem import authorise_redeem

NOW = datetime(2025, 9, 1)
IN_JUNE = int(datetime(2025, 6, 15, tzinfo=timezone.utc).timestamp())
IN_AUGUST = int(datetime(2025, 8, 15, tzinfo=timezone.utc).timestamp())
CARDS = (0, 1, 2)
DEVS = ("T1", "T2")
TIERS = (("basic", 0, 1000), ("silver", 100000, 1200), ("gold", 500000, 1500), ("vip", 2000000, 2000))


def doc(tier_mults):
    return {"categories": {"dairy": {"points": 3, "per": 1}},
            "tiers": [{"name": n, "spend": s, "mult": m if tier_mults else 1000} for n, s, m in TIERS],
            "campaigns": [{"id": "dairy", "mult": 1500, "cat": "dairy", "from": "2025-06-01", "until": "2025-07-01"},
                          {"id": "hello", "bonus": 7, "from": "2025-06-01", "until": "2025-07-01"}]}


def tok(card):
    return "%064x" % (card + 1)


@st.composite
def scenarios(draw):
    """A list of events in the order they happened; reversals come after their sale, on its terminal."""
    events, seqs, sales = [], {dev: 0 for dev in DEVS}, []
    for _ in range(draw(st.integers(1, 14))):
        what = draw(st.sampled_from(("sale", "sale", "reverse", "adjust")))
        if what == "adjust":
            events.append({"id": len(events), "what": "adjust", "card": draw(st.sampled_from(CARDS)),
                           "delta": draw(st.integers(-300, 300).filter(bool))})
            continue
        if what == "reverse" and sales:
            sale = draw(st.sampled_from(sales))
            kind = draw(st.sampled_from(("refund", "refund", "void")))
            amount = sale["amount"] if kind == "void" else draw(st.integers(0, 150) | st.integers(0, sale["amount"] + 5000))
            card = draw(st.sampled_from((sale["card"], None)))
        else:
            sale, kind, card = None, "sale", draw(st.sampled_from(CARDS + (None,)))
            amount = draw(st.integers(0, 300000))
        dev = sale["dev"] if sale else draw(st.sampled_from(DEVS))
        seqs[dev] += 1
        ev = {"id": len(events), "what": kind, "dev": dev, "seq": seqs[dev], "ref": "R%s-%d" % (dev, seqs[dev]),
              "card": card, "amount": amount, "orig": sale["ref"] if sale else None, "sale": sale}
        if kind == "sale":
            ev["ts"] = draw(st.sampled_from((IN_JUNE, IN_AUGUST)))
            ev["lines"] = draw(st.none() | st.lists(st.fixed_dictionaries({
                "sku": st.sampled_from(("A", "B")), "cat": st.sampled_from(("dairy", "bread", "")),
                "amt": st.integers(0, 200000), "qty": st.just(1)}), max_size=3))
            ev["redeem"] = draw(st.sampled_from((0, 0, 100, 300))) if card is not None else 0
            sales.append(ev)
        events.append(ev)
    return events


def body(ev, approved):
    """The record dict a terminal's event reaches apply_txs as."""
    tx = {"dev": ev["dev"], "seq": ev["seq"], "kind": ev["what"], "ref": ev["ref"], "orig": ev["orig"],
          "amount": ev["amount"], "cur": "CNY", "customer": None}
    if ev["card"] is not None:
        tx.update(tok=tok(ev["card"]), bin="622848", last4="0005")
    if ev["what"] == "sale":
        tx["ts"] = ev["ts"]
        if ev["lines"] is not None:
            tx["lines"] = ev["lines"]
        if ev["id"] in approved:
            tx.update(redeem=ev["redeem"], auth=ev["id"])
    return tx


def deliver(deliveries, rng):
    """Apply ``deliveries`` (events, resends included) in random batches; the observed outcomes."""
    approved, adjusted, authorised, done_adjusts = {}, {}, set(), set()
    i = 0
    while i < len(deliveries):
        batch = deliveries[i:i + rng.randint(1, 5)]
        i += len(batch)
        for ev in batch:
            if ev["what"] == "sale" and ev["redeem"] and ev["id"] not in authorised:
                authorised.add(ev["id"])
                answer = authorise_redeem(ev["dev"], ev["id"], tok(ev["card"]), ev["redeem"], now=NOW)
                assert authorise_redeem(ev["dev"], ev["id"], tok(ev["card"]), ev["redeem"], now=NOW) == answer
                if answer["ok"]:
                    approved[ev["id"]] = ev["redeem"]
        with db.atomic():
            service.apply_txs([body(ev, approved) for ev in batch if ev["what"] != "adjust"], now=NOW)
        for ev in batch:
            if ev["what"] == "adjust" and ev["id"] not in done_adjusts:
                done_adjusts.add(ev["id"])
                card = Card.get_or_none(Card.tok == tok(ev["card"]))
                try:
                    if card is not None:
                        ledger.adjust(card.customer_id, ev["delta"], "property test", "test", now=NOW)
                        adjusted[ev["id"]] = ev["delta"]
                except LedgerError:
                    pass
    return approved, adjusted


def earned(ev, mult):
    """What a sale earns (earn + campaign bonuses), computed here from the programme's rules."""
    amount, lines = ev["amount"], ev["lines"]
    parts = [(None, amount, Fraction(amount))]
    if lines:
        covered = sum(line["amt"] for line in lines)
        share = Fraction(amount, covered) if covered > amount else 1
        parts = [(line["cat"], line["amt"] * share, line["amt"] * share * (3 if line["cat"] == "dairy" else 1))
                 for line in lines]
        if covered < amount:
            parts.append((None, amount - covered, Fraction(amount - covered)))
    scale = Fraction(mult, 1000 * 100)
    total = int(sum(p for c, a, p in parts) * scale)
    if ev["ts"] == IN_JUNE:
        total += int(sum(p for c, a, p in parts if c == "dairy") * scale / 2)
        total += 7 if amount > 0 else 0
    return total


def expected(events, approved, adjusted, tier_mults):
    """``{card: points}`` from the unique events, in the order they happened."""
    points, qual, tier, sale_points = {c: 0 for c in CARDS}, {c: 0 for c in CARDS}, {c: 0 for c in CARDS}, {}
    for ev in events:
        if ev["what"] == "adjust":
            points[ev["card"]] += adjusted.get(ev["id"], 0)
            continue
        card = (ev["sale"] or ev)["card"]
        if card is None:
            continue
        if ev["what"] != "sale":
            qual[card] -= ev["amount"]
            continue
        sale_points[ev["id"]] = earned(ev, TIERS[tier[card]][2] if tier_mults else 1000)
        points[card] += sale_points[ev["id"]] - approved.get(ev["id"], 0)
        qual[card] += ev["amount"]
        tier[card] = max([tier[card]] + [n for n, t in enumerate(TIERS) if qual[card] >= t[1]])
    for sale in (ev for ev in events if ev["id"] in sale_points):
        revs = [ev for ev in events if ev["what"] in ("refund", "void") and ev["sale"] is sale]
        refunded = sum(ev["amount"] for ev in revs if ev["what"] == "refund")
        e = sale_points[sale["id"]]
        if any(ev["what"] == "void" for ev in revs):
            points[sale["card"]] += approved.get(sale["id"], 0) - e
        elif sale["amount"]:
            points[sale["card"]] -= e * min(refunded, sale["amount"]) // sale["amount"]
    return points


def reset(tier_mults):
    for model in (PointsEntry, SalePoints, RedeemAuth, Card, Customer, Programme):
        model.delete().execute()
    programme.save(doc(tier_mults), "test")


def check(events, approved, adjusted, tier_mults):
    sums = dict(PointsEntry.select(PointsEntry.customer, fn.SUM(PointsEntry.delta))
                .group_by(PointsEntry.customer).tuples())
    for c in Customer.select():
        assert c.points == sums.get(c.id, 0) == ledger.balance(c.id)
    want = expected(events, approved, adjusted, tier_mults)
    carded = {ev["card"] for ev in events if ev["what"] == "sale" and ev["card"] is not None}
    assert Customer.select().count() == len(carded)
    got = {card: Customer.get_by_id(Card.get(Card.tok == tok(card)).customer_id).points for card in carded}
    assert got == {card: want[card] for card in carded}
    keys = [k for (k,) in PointsEntry.select(PointsEntry.key).tuples()]
    assert len(keys) == len(set(keys))


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@SETTINGS
@given(events=scenarios(), seed=st.integers(0, 2 ** 32))
def test_in_order_with_tier_multipliers(app, events, seed):
    reset(tier_mults=True)
    approved, adjusted = deliver(events, random.Random(seed))
    check(events, approved, adjusted, tier_mults=True)


@SETTINGS
@given(events=scenarios(), seed=st.integers(0, 2 ** 32))
def test_in_order_with_resends(app, events, seed):
    rng = random.Random(seed)
    reset(tier_mults=True)
    deliveries = []
    for ev in events:
        deliveries.append(ev)
        deliveries += rng.sample(deliveries, min(len(deliveries), rng.randint(0, 2)))
    approved, adjusted = deliver(deliveries, rng)
    check(events, approved, adjusted, tier_mults=True)


@SETTINGS
@given(events=scenarios(), seed=st.integers(0, 2 ** 32))
def test_shuffled_with_resends(app, events, seed):
    # The tier a sale earns under depends on which sales came first, so this programme gives
    # every tier the same multiplier; everything else must not depend on the order at all.
    rng = random.Random(seed)
    reset(tier_mults=False)
    deliveries = events + rng.sample(events, rng.randint(0, len(events)))
    rng.shuffle(deliveries)
    approved, adjusted = deliver(deliveries, rng)
    check(events, approved, adjusted, tier_mults=False)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=scenarios(), seed=st.integers(0, 2 ** 32))
def test_concurrent_ingest_of_overlapping_deliveries(app, events, seed):
    """Three threads, each its own connection, apply shuffled copies of the same records."""
    copies = {}
    for ev in events:
        if ev["what"] != "adjust":
            copies[ev["id"]] = dict(ev, redeem=0, sale=ev["sale"] and copies[ev["sale"]["id"]])
    events = list(copies.values())
    reset(tier_mults=False)
    db.close()
    errors = []

    def worker(n):
        rng = random.Random(seed + n)
        mine = list(events)
        rng.shuffle(mine)
        try:
            for start in range(0, len(mine), 3):
                with db.atomic():
                    service.apply_txs([body(ev, {}) for ev in mine[start:start + 3]], now=NOW)
        except Exception as exc:  # a failure in a thread must fail the test
            errors.append(exc)
        finally:
            db.close()
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    check(events, {}, {}, tier_mults=False)
