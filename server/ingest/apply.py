"""Apply a batch of verified frames in one transaction: dedupe, book points, coupons and referrals, advance acks."""

import hashlib
from collections import defaultdict, namedtuple

from peewee import IntegrityError, chunked

from protocol.envelope import SV_KINDS, TX_KINDS
from server.campaigns import coupons, referral, settle
from server.db import bulk_insert, db, utcnow
from server.fleet.models import Device
from server.ingest import extras
from server.ingest.models import Record
from server.licences import checks
from server.loyalty import service as loyalty
from server.loyalty.booking import sold_at
from server.tags import realtime as tags
from server.wallet import offline as wallet

CHUNK = 200
REVERSING = ("refund", "void")
# How far past acked_upto one batch looks for contiguous seqs: a seq that never comes
# (a terminal lost it) must not make every later batch read all records after it.
SCAN_AHEAD = 4096
RECORD_FIELDS = ("dev", "seq", "kind", "ts", "received_at", "ref", "orig", "amount", "cur", "tok", "customer",
                 "body_hash")

# acks: {dev: (upto, [also...])}; statuses: [(dev, "seq", seq, status)];
# applied / duplicates / conflicts / revoked: [(dev, seq)] (seq None for a heartbeat)
Batch = namedtuple("Batch", "acks statuses applied duplicates conflicts revoked")


def apply_batch(items, states=(), seen=(), now=None, attempts=3):
    """Apply verified ``items`` ``[(dev, obj, body)]`` (sale, refund, void, hb) in ONE transaction.

    A ``(dev, seq)`` already stored with the same body hash is a duplicate (acked
    again, not applied); with another hash a seq_conflict (neither). ``states`` are
    ``[(dev, "online"|"offline")]`` in arrival order, ``seen`` devices that sent
    anything valid. Returns a Batch; nothing is acked unless this commit succeeded.
    Frames of a device revoked in the database (perhaps a moment ago, by another
    process) are not applied. A unique-key race with another ingest process rolls
    back and retries.
    """
    now = now or utcnow()
    for attempt in range(attempts):
        try:
            with db.atomic():
                return _apply(items, states, seen, now)
        except IntegrityError:
            if attempt == attempts - 1:
                raise


def _apply(items, states, seen, now):
    live = _live(set(seen) | {dev for dev, obj, body in items} | {dev for dev, state in states})
    revoked = [(dev, obj.get("seq")) for dev, obj, body in items if dev not in live]
    items = [item for item in items if item[0] in live]
    states = [(dev, state) for dev, state in states if dev in live]
    seen = [dev for dev in seen if dev in live]
    txs = [(dev, obj, hashlib.sha256(body).hexdigest()) for dev, obj, body in items if obj["kind"] in TX_KINDS]
    new, acked, duplicates, conflicts = _classify(txs)
    points = [(dev, obj, h) for dev, obj, h in new if obj["kind"] not in SV_KINDS]
    results = dict(zip([(dev, obj["seq"]) for dev, obj, h in points],
                       loyalty.apply_txs([_tx(dev, obj, customer) for dev, obj, h, customer in _with_origs(points)],
                                         now)))
    results.update(_stored_value([(dev, obj) for dev, obj, h in new if obj["kind"] in SV_KINDS], now))
    verdicts = checks.judge_sales([(dev, obj["seq"], obj["ts"], obj.get("acq"))
                                   for dev, obj, h in new if obj["kind"] == "sale"], now)
    rows, statuses, shown = [], [], []
    for dev, obj, h in new:
        result = results[(dev, obj["seq"])]
        rows.append((dev, obj["seq"], obj["kind"], obj["ts"], now, obj["ref"], obj.get("orig"), obj["amount"],
                     obj["cur"], obj.get("tok"), result["customer"], h))
        status = _with_verdict(result["status"], verdicts.get((dev, obj["seq"])))
        if status is not None:
            statuses.append((dev, "seq", obj["seq"], status))
            shown.append((obj.get("tok"), status))
    _use_coupons(new, results, now)
    bulk_insert(Record, RECORD_FIELDS, rows)
    extras.enrich(shown, now, tags.on_sales(rows, now))
    for dev, for_, seq, status in statuses:
        status.update(results[(dev, seq)].get("sv", {}))  # the balance right after this record
    buyers = {results[(dev, obj["seq"])]["customer"] for dev, obj, h in new if obj["kind"] == "sale"}
    referral.reward_first_purchases(sorted(c for c in buyers if c), now)
    _undo_reversed(new, results, now)
    _update_devices(items, states, seen, now)
    _note_conflicts(conflicts)
    acks = _advance(acked)
    return Batch(acks, statuses, [(dev, obj["seq"]) for dev, obj, h in new], duplicates, conflicts, revoked)


def _stored_value(records, now):
    """Book stored-value records through the wallet; ``{(dev, seq): result}`` with the card's status."""
    if not records:
        return {}
    merchants = dict(Device.select(Device.id, Device.merchant).where(
        Device.id.in_(sorted({dev for dev, obj in records}))).tuples())
    txs = [dict(_tx(dev, obj, None), ts=obj["ts"], auth=obj.get("auth"), tried=obj.get("tried"),
                merchant=merchants.get(dev)) for dev, obj in records]
    booked = wallet.apply_txs(txs, now)
    cards = loyalty.statuses_for(tx["tok"] for tx in txs)
    out = {}
    for tx, sv in zip(txs, booked):
        status = dict(cards[tx["tok"]], earned=0)
        out[(tx["dev"], tx["seq"])] = {"customer": status["cust"] or None, "status": status,
                                       "sv": {"sv": sv["sv"], "svcur": sv["svcur"]}}
    return out


def _use_coupons(new, results, now):
    """Take the coupon a sale names; a refused one (used elsewhere, expired, unknown, void) is flagged, the sale stands."""
    for dev, obj, h in new:
        if obj["kind"] == "sale" and "coupon" in obj:
            customer = results[(dev, obj["seq"])]["customer"]
            when = sold_at(obj, now)
            out = coupons.use(obj["coupon"], dev, obj["seq"], obj["ref"], obj["amount"], obj["cur"], now=when,
                              customer=customer)
            if not out["ok"]:
                settle.flag_refused(dev, obj["seq"], obj["ref"], obj["coupon"], out["code"], out["reason"],
                                    obj["amount"], obj["cur"], customer, when, now)


def _undo_reversed(new, results, now):
    """A sale wholly refunded or voided gives back its coupon and, if it was a referee's first, the referral rewards.

    Looks at the sales this batch's refunds and voids name, and at this batch's sales (their
    reversal may have come first); only a sale that used a coupon or was bought by a rewarded
    referee has its reversals summed, so plain sales cost two indexed look-ups per chunk.
    """
    sales = {}  # (dev, ref) -> (seq, customer, amount); the latest sale of a ref wins, as in _with_origs
    for dev, obj, h in new:
        if obj["kind"] == "sale":
            sales[(dev, obj["ref"])] = (obj["seq"], results[(dev, obj["seq"])]["customer"], obj["amount"])
    named = {(dev, obj["orig"]) for dev, obj, h in new if obj["kind"] in REVERSING and obj.get("orig")}
    for dev, ref, seq, customer, amount in _record_rows(("dev", "ref", "seq", "customer", "amount"), "ref",
                                                        named - set(sales), ' AND "kind" = %s ORDER BY "seq"'
                                                        % db.param, ["sale"]):
        sales[(dev, ref)] = (seq, customer, amount)
    if not sales:
        return
    with_coupon = settle.used_by([(dev, seq) for (dev, ref), (seq, c, a) in sales.items()])
    referees = referral.rewarded_referees({c for seq, c, a in sales.values() if c})
    sales = {k: v for k, v in sales.items() if (k[0], v[0]) in with_coupon or v[1] in referees}
    refunded, voided = defaultdict(int), set()
    for dev, orig, kind, amount in _record_rows(("dev", "orig", "kind", "amount"), "orig", set(sales),
                                                ' AND "kind" IN (%s, %s)' % (db.param, db.param), list(REVERSING)):
        if kind == "void":
            voided.add((dev, orig))
        else:
            refunded[(dev, orig)] += amount
    whole = [(dev, seq, customer) for (dev, ref), (seq, customer, amount) in sorted(sales.items())
             if (dev, ref) in voided or ((dev, ref) in refunded and refunded[(dev, ref)] >= amount)]
    if whole:
        settle.give_back([(dev, seq) for dev, seq, customer in whole], now)
        referral.take_back([(customer, dev, seq) for dev, seq, customer in whole], now)


def _with_verdict(status, lic):
    """The status reply of a record carrying its acquirer verdict as ``lic``.

    A sale without a card gets a reply only when its acquirer is not OK: the terminal
    shows the warning even when no customer is there to see points.
    """
    if lic is None:
        return status
    if status is None:
        return None if lic == "OK" else dict(loyalty.unknown_status(), new=False, lic=lic)
    return dict(status, lic=lic)


def _live(devs):
    """The registered, unrevoked devices among ``devs``, as the database says now."""
    live = set()
    for part in chunked(sorted(devs), CHUNK):
        query = Device.select(Device.id).where(Device.id.in_(part) & Device.revoked_at.is_null())
        live.update(dev for (dev,) in query.tuples())
    return live


def _record_rows(columns, field, keys, where="", params=()):
    """Rows ``columns`` of the Record table whose ``(dev, field)`` is among ``keys``.

    Written as ``(dev = ? AND field IN (...)) OR ...`` so each term is an index search
    (a row-value IN list makes SQLite scan the whole table), and by hand since peewee's
    rendering of hundreds of values costs more than the query.
    """
    param = db.param
    for part in chunked(sorted(keys), CHUNK):
        groups = defaultdict(list)
        for dev, value in part:
            groups[dev].append(value)
        terms, args = [], []
        for dev, values in groups.items():
            terms.append('("dev" = %s AND "%s" IN (%s))' % (param, field, ", ".join([param] * len(values))))
            args.append(dev)
            args.extend(values)
        sql = 'SELECT %s FROM "%s" WHERE (%s)%s' % (", ".join('"%s"' % c for c in columns), Record._meta.table_name,
                                                   " OR ".join(terms), where)
        yield from db.execute_sql(sql, args + list(params))


def _classify(txs):
    """Split into new records, seqs to ack per device, duplicates and conflicts."""
    keys = {(dev, obj["seq"]) for dev, obj, h in txs}
    stored = {(dev, seq): h for dev, seq, h in _record_rows(("dev", "seq", "body_hash"), "seq", keys)}
    new, acked, duplicates, conflicts = [], defaultdict(set), [], []
    for dev, obj, h in txs:
        key = (dev, obj["seq"])
        known = stored.get(key)
        if known is None:
            stored[key] = h
            new.append((dev, obj, h))
            acked[dev].add(obj["seq"])
        elif known == h:
            duplicates.append(key)
            acked[dev].add(obj["seq"])
        else:
            conflicts.append(key)
    return new, acked, duplicates, conflicts


def _with_origs(new):
    """Attach the customer of each refund's or void's original sale stored earlier, if any."""
    wanted = {(dev, obj["orig"]) for dev, obj, h in new if obj["kind"] != "sale"}
    rows = _record_rows(("dev", "ref", "customer"), "ref", wanted,
                        ' AND "kind" = %s AND "customer" IS NOT NULL ORDER BY "seq"' % db.param, ["sale"])
    found = {}
    for dev, ref, cust in rows:
        found[(dev, ref)] = cust  # the latest sale of that ref wins
    return [(dev, obj, h, found.get((dev, obj.get("orig")))) for dev, obj, h in new]


def _tx(dev, obj, customer):
    tx = {"dev": dev, "seq": obj["seq"], "kind": obj["kind"], "ref": obj["ref"], "orig": obj.get("orig"),
          "amount": obj["amount"], "cur": obj["cur"], "customer": customer, "ts": obj["ts"]}
    for name in ("tok", "bin", "last4", "lines", "redeem", "auth", "coupon"):
        if name in obj:
            tx[name] = obj[name]
    return tx


def _update_devices(items, states, seen, now):
    """last_seen for every device heard from; heartbeat fields; online/offline in arrival order."""
    heard = set(seen) | {dev for dev, obj, body in items}
    if heard:
        for part in chunked(sorted(heard), CHUNK):
            Device.update(last_seen=now, state="online").where(Device.id.in_(part)).execute()
    beats = {}
    for dev, obj, body in items:
        if obj["kind"] == "hb":
            beats[dev] = obj
    for dev, hb in beats.items():
        Device.update(version=hb["ver"], depth=hb["depth"], oldest=hb["oldest"], uptime=hb["up"],
                      full=hb["full"]).where(Device.id == dev).execute()
    last = {}
    for dev, state in states:
        last[dev] = state
    for dev, state in last.items():
        fields = {"state": state}
        if state == "online":
            fields["last_seen"] = now
        Device.update(**fields).where(Device.id == dev).execute()


def _note_conflicts(conflicts):
    """Remember each device's lowest conflicting seq (see Device.conflict_seq)."""
    lowest = {}
    for dev, seq in conflicts:
        lowest[dev] = min(seq, lowest.get(dev, seq))
    if lowest:
        sql = 'UPDATE "%s" SET "conflict_seq" = %s WHERE "id" = %s AND ("conflict_seq" IS NULL OR "conflict_seq" > %s)' % (
            Device._meta.table_name, db.param, db.param, db.param)
        db.cursor().executemany(sql, [(seq, dev, seq) for dev, seq in sorted(lowest.items())])


def _advance(acked):
    """Move each device's acked_upto over its contiguous applied seqs; return the acks to send.

    An ack's ``upto`` stops below a device's conflict_seq: the terminal's record under that
    seq was never applied, so it must not be told to delete it; applied ones go in ``also``.
    """
    if not acked:
        return {}
    devs = sorted(acked)
    upto, above, ceiling = {}, defaultdict(list), {}
    for part in chunked(devs, CHUNK):
        sql = ('SELECT d."id", d."acked_upto", d."conflict_seq", r."seq" FROM "%s" AS d LEFT JOIN "%s" AS r'
               ' ON r."dev" = d."id" AND r."seq" > d."acked_upto" AND r."seq" <= d."acked_upto" + %d'
               ' WHERE d."id" IN (%s) ORDER BY d."id", r."seq"'
               % (Device._meta.table_name, Record._meta.table_name, SCAN_AHEAD, ", ".join([db.param] * len(part))))
        for dev, top, conflict, seq in db.execute_sql(sql, part):
            upto[dev] = top
            if conflict is not None:
                ceiling[dev] = conflict - 1
            if seq is not None:
                above[dev].append(seq)
    acks, moved = {}, []
    for dev in devs:
        start = top = upto.get(dev, 0)
        for seq in above[dev]:
            if seq != top + 1:
                break
            top = seq
        if top > start:
            moved.append((dev, top))
        told = min(top, ceiling.get(dev, top))
        acks[dev] = (told, sorted(seq for seq in acked[dev] if seq > told))
    if moved:
        # Only ever forward: another ingest process may have moved it further already.
        sql = 'UPDATE "%s" SET "acked_upto" = %s WHERE "id" = %s AND "acked_upto" < %s' % (
            Device._meta.table_name, db.param, db.param, db.param)
        db.cursor().executemany(sql, [(top, dev, top) for dev, top in moved])
    return acks
