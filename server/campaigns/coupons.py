"""Coupons and vouchers: issue (idempotent by key), validate at the terminal, use once, void, list.

A coupon answers every check with one of OUTCOMES; ``discount`` is what it takes off the
sale in minor units (percent rounds down, never more than the amount; a gift coupon is a
present handed over at the counter and takes nothing off).
"""

from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from peewee import IntegrityError, chunked, fn

from server.campaigns import CampaignError
from server.campaigns.codes import new_code, normalise, printed
from server.campaigns.models import KINDS, Coupon
from server.db import db, utcnow
from server.fleet.models import iso
from server.loyalty.models import Card, Customer
from protocol.money import text as money

OUTCOMES = ("VALID", "UNKNOWN", "EXPIRED", "USED", "NOT_YET_VALID", "WRONG_CUSTOMER", "MIN_SPEND",
            "WRONG_CURRENCY", "VOIDED")
# The names the terminal's coupon check uses for some outcomes (the rest keep theirs).
AT_TERMINAL = {"VOIDED": "VOID", "WRONG_CUSTOMER": "NOT_YOURS"}
DEFAULT_TZ = "Asia/Shanghai"  # Merchant.tz's default: the day a coupon "expires on" ends there
CHUNK = 200
_FIELDS = [Coupon.code, Coupon.kind, Coupon.value, Coupon.cur, Coupon.min_spend, Coupon.customer, Coupon.campaign,
           Coupon.issued_at, Coupon.issued_by, Coupon.valid_from, Coupon.expires_at, Coupon.key]


def local_day_end(day, tz=DEFAULT_TZ):
    """The UTC moment (naive) the local calendar ``day`` ends in zone ``tz``: "valid until 31 Jan"."""
    end = datetime.combine(day + timedelta(days=1), time(0), ZoneInfo(tz))
    return end.astimezone(timezone.utc).replace(tzinfo=None)


def issue(customer, kind, value, cur, expires_at, campaign, key, actor, min_spend=0, valid_from=None, now=None):
    """Issue one coupon for ``customer`` (None: a bearer voucher) and return its code.

    ``key`` names the issuing event: issuing under a key already used returns that coupon's
    code and issues nothing. The customer must exist and be active. Without ``valid_from`` it is
    valid from the start of the current second: sale times are whole seconds.
    """
    now = now or utcnow()
    row = _row(customer, kind, value, cur, expires_at, campaign, key, actor, min_spend,
               valid_from or now.replace(microsecond=0), now)
    with db.atomic():
        existing = Coupon.select(Coupon.code).where(Coupon.key == key).scalar()
        if existing:
            return existing
        if customer is not None:
            state = Customer.select(Customer.state).where(Customer.id == customer).scalar()
            if state != "active":
                raise CampaignError("customer %s %s: coupons go to active customers only%s" % (
                    customer, "is unknown" if state is None else "is " + state,
                    " (issue to the customer it was merged into)" if state == "merged" else ""))
        return _insert(row)


def issue_batch(customers, kind, value, cur, expires_at, campaign, key, actor, min_spend=0, valid_from=None,
                now=None, progress=None):
    """Issue one coupon to each active customer under key ``f"{key}:{customer}"``; safe to run again.

    Commits per chunk, so an interrupted run picks up where it stopped when run again.
    ``progress(done, total)`` is called after each chunk. Returns counts ``issued``,
    ``existing`` (issued by an earlier run) and ``skipped`` (unknown or not active).
    """
    now = now or utcnow()
    valid_from = valid_from or now.replace(microsecond=0)
    _terms(kind, value, cur, min_spend, valid_from, expires_at, "%s:%s" % (key, "C" * 17), campaign)
    ids = list(dict.fromkeys(customers))
    counts = {"issued": 0, "existing": 0, "skipped": 0}
    done = 0
    for part in chunked(ids, CHUNK):
        with db.atomic():
            live = set(c for (c,) in Customer.select(Customer.id)
                       .where(Customer.id.in_(part), Customer.state == "active").tuples())
            keys = {c: "%s:%s" % (key, c) for c in part if c in live}
            have = set(k for (k,) in Coupon.select(Coupon.key).where(Coupon.key.in_(list(keys.values()))).tuples())
            rows = [_row(c, kind, value, cur, expires_at, campaign, k, actor, min_spend, valid_from, now)
                    for c, k in keys.items() if k not in have]
            _insert_many(rows)
        counts["issued"] += len(rows)
        counts["existing"] += len(have)
        counts["skipped"] += len(part) - len(keys)
        done += len(part)
        if progress:
            progress(done, len(ids))
    return counts


def validate(code, tok_or_customer, amount, cur, now=None):
    """Whether coupon ``code`` may be used now on a sale of ``amount`` ``cur`` by this card/customer.

    ``tok_or_customer`` is the sale's card token or customer id, None for an anonymous sale;
    ``amount``/``cur`` None checks the coupon alone (no spend or currency check). Returns
    ``{"ok", "code", "discount", "reason"}``; a mistyped code is UNKNOWN with a reason
    saying to re-read it.
    """
    now = now or utcnow()
    try:
        canonical = normalise(code)
    except CampaignError as exc:
        return _outcome("UNKNOWN", str(exc))
    coupon = Coupon.get_or_none(Coupon.code == canonical)
    if coupon is None:
        return _outcome("UNKNOWN", "no coupon has the code %s: re-read the code" % printed(canonical))
    return _judge(coupon, _customer_of(tok_or_customer), amount, cur, now)


def check_at_terminal(code, tok=None, now=None):
    """A terminal's coupon check before the sale: ``(outcome, terms or None)``; nothing is used.

    ``tok`` is the card swiped at the counter, if any. Outcomes are VALID, UNKNOWN, USED, EXPIRED,
    VOID, NOT_YET_VALID, NOT_YOURS (bound to another customer than the card's) and CARD_NEEDED
    (bound to a customer, and no card was swiped); ``terms`` (kind, value, cur, min_spend,
    expires_at) come with VALID.
    """
    now = now or utcnow()
    try:
        coupon = Coupon.get_or_none(Coupon.code == normalise(code))
    except CampaignError:
        coupon = None
    if coupon is None:
        return "UNKNOWN", None
    outcome = _judge(coupon, _customer_of(tok), None, None, now)["code"]
    if outcome == "WRONG_CUSTOMER" and tok is None:
        return "CARD_NEEDED", None
    if outcome != "VALID":
        return AT_TERMINAL.get(outcome, outcome), None
    return outcome, {"kind": coupon.kind, "value": coupon.value, "cur": coupon.cur, "min_spend": coupon.min_spend,
                     "expires_at": coupon.expires_at}


def use(code, dev, seq, ref, amount, cur, now=None, customer=None):
    """Use coupon ``code`` on the sale ``(dev, seq)``; returns the outcome as validate does.

    ``now`` is the sale's time (a sale made offline before expiry still counts), ``customer``
    its card token or customer id. The coupon is taken by one atomic UPDATE guarded by
    ``used_at IS NULL``: of two sales racing for it exactly one wins, and the same sale
    replayed gets its earlier outcome, never a second use.
    """
    now = now or utcnow()
    try:
        canonical = normalise(code)
    except CampaignError as exc:
        return _outcome("UNKNOWN", str(exc))
    with db.atomic():
        while True:
            coupon = Coupon.get_or_none(Coupon.code == canonical)
            if coupon is None:
                return _outcome("UNKNOWN", "no coupon has the code %s: re-read the code" % printed(canonical))
            if coupon.used_at is not None and (coupon.used_dev, coupon.used_seq) == (dev, seq):
                return _outcome("VALID", "valid until %s" % iso(coupon.expires_at), coupon.used_discount)
            out = _judge(coupon, _customer_of(customer), amount, cur, now)
            if not out["ok"]:
                return out
            taken = (Coupon.update(used_at=now, used_dev=dev, used_seq=seq, used_ref=ref,
                                   used_discount=out["discount"])
                     .where(Coupon.id == coupon.id, Coupon.used_at.is_null(), Coupon.voided_at.is_null())
                     .execute())
            if taken:
                return out
            # Another sale took it between our read and our UPDATE: read again and answer from that.


def void(code, actor, now=None):
    """Void an unused coupon so it is refused from now on; False if it was void already."""
    canonical = normalise(code)
    with db.atomic():
        coupon = Coupon.get_or_none(Coupon.code == canonical)
        if coupon is None:
            raise CampaignError("no coupon has the code %s: check the code" % printed(canonical))
        if coupon.voided_at is not None:
            return False
        if coupon.used_at is not None:
            raise CampaignError("coupon %s was used by sale %s seq %d (ref %s) at %s: a used coupon cannot be voided"
                                % (printed(canonical), coupon.used_dev, coupon.used_seq, coupon.used_ref,
                                   iso(coupon.used_at)))
        Coupon.update(voided_at=now or utcnow(), voided_by=actor).where(Coupon.id == coupon.id).execute()
        return True


def coupons_of(customer, now=None):
    """The coupons of ``customer`` as dicts, oldest first: all of them, or with ``now`` those usable then."""
    rows = Coupon.select().where(Coupon.customer == customer).order_by(Coupon.issued_at, Coupon.id)
    if now is not None:
        rows = rows.where(*_usable(now))
    return [_as_dict(c, now or utcnow()) for c in rows]


def valid_count(customers, now=None):
    """``{customer: number of coupons usable now}`` for many customers, one query per chunk."""
    now = now or utcnow()
    out = dict.fromkeys(customers, 0)
    for part in chunked(list(out), CHUNK):
        query = (Coupon.select(Coupon.customer, fn.COUNT(Coupon.id))
                 .where(Coupon.customer.in_(part), *_usable(now)).group_by(Coupon.customer).tuples())
        out.update(query)
    return out


def move_owner(src, dst, actor):
    """Give the open coupons of customer ``src`` to ``dst`` (a merge); returns how many moved."""
    return (Coupon.update(customer=dst)
            .where(Coupon.customer == src, Coupon.used_at.is_null(), Coupon.voided_at.is_null()).execute())


def info(code):
    """The coupon with ``code`` as a dict (with ``customer`` and ``state``), or CampaignError."""
    canonical = normalise(code)
    coupon = Coupon.get_or_none(Coupon.code == canonical)
    if coupon is None:
        raise CampaignError("no coupon has the code %s: check the code" % printed(canonical))
    return dict(_as_dict(coupon, utcnow()), customer=coupon.customer_id)


def _usable(now):
    return (Coupon.used_at.is_null(), Coupon.voided_at.is_null(), Coupon.valid_from <= now, Coupon.expires_at > now)


def _as_dict(c, now):
    return {"code": c.code, "kind": c.kind, "value": c.value, "cur": c.cur, "min_spend": c.min_spend,
            "campaign": c.campaign, "issued_at": iso(c.issued_at), "valid_from": iso(c.valid_from),
            "expires_at": iso(c.expires_at), "used": c.used_at is not None, "used_at": iso(c.used_at),
            "used_ref": c.used_ref, "voided": c.voided_at is not None,
            "state": _judge(c, c.customer_id, None, None, now)["code"]}


def _outcome(code, reason, discount=0):
    return {"ok": code == "VALID", "code": code, "discount": discount, "reason": reason}


def _customer_of(tok_or_customer):
    if tok_or_customer is None or len(tok_or_customer) != 64:
        return tok_or_customer
    return Card.select(Card.customer).where(Card.tok == tok_or_customer).scalar()


def _judge(c, customer, amount, cur, now):
    """The outcome of presenting coupon ``c`` at ``now`` on a sale by ``customer`` of ``amount`` ``cur``."""
    if c.voided_at is not None:
        return _outcome("VOIDED", "voided at %s" % iso(c.voided_at))
    if c.used_at is not None:
        return _outcome("USED", "used at %s" % iso(c.used_at))
    if now < c.valid_from:
        return _outcome("NOT_YET_VALID", "valid from %s" % iso(c.valid_from))
    if now >= c.expires_at:
        return _outcome("EXPIRED", "expired at %s" % iso(c.expires_at))
    if c.customer_id is not None and c.customer_id != customer:
        return _outcome("WRONG_CUSTOMER", "belongs to another customer")
    if amount is None:
        return _outcome("VALID", "valid until %s" % iso(c.expires_at))
    if cur != c.cur:
        return _outcome("WRONG_CURRENCY", "is in %s, the sale in %s" % (c.cur, cur))
    if amount < c.min_spend:
        return _outcome("MIN_SPEND", "needs a spend of at least %s %s" % (money(c.min_spend, c.cur), c.cur))
    if c.kind == "amount_off":
        discount = c.value
    elif c.kind == "percent_off":
        discount = amount * c.value // 1000
    else:
        discount = 0
    return _outcome("VALID", "valid until %s" % iso(c.expires_at), max(0, min(discount, amount)))


def _row(customer, kind, value, cur, expires_at, campaign, key, actor, min_spend, valid_from, now):
    """The insert row of a coupon (its code left None) after checking its terms."""
    _terms(kind, value, cur, min_spend, valid_from, expires_at, key, campaign)
    return (None, kind, value, cur, min_spend, customer, campaign or "", now, actor, valid_from, expires_at, key)


def _terms(kind, value, cur, min_spend, valid_from, expires_at, key, campaign):
    """CampaignError naming the first bad term of a coupon to issue, if any."""
    if kind not in KINDS:
        raise CampaignError("coupon kind %r unknown: use one of %s" % (kind, ", ".join(KINDS)))
    top = 1000 if kind == "percent_off" else None
    if not isinstance(value, int) or value <= 0 or (top and value > top):
        raise CampaignError("coupon value %r: give a whole number above 0%s" % (
            value, " and at most 1000 permille (100 %)" if top else " of minor units"))
    if not (isinstance(cur, str) and len(cur) == 3 and cur.isalpha() and cur.isupper()):
        raise CampaignError("currency %r: give an ISO 4217 code such as CNY" % (cur,))
    if not isinstance(min_spend, int) or min_spend < 0:
        raise CampaignError("minimum spend %r: give minor units, 0 or more" % (min_spend,))
    if expires_at <= valid_from:
        raise CampaignError("coupon expires (%s) before it becomes valid (%s): give a later expiry"
                            % (iso(expires_at), iso(valid_from)))
    if not key or len(key) > 96:
        raise CampaignError("issuing key %r: give 1 to 96 characters naming the issuing event" % (key,))
    if len(campaign or "") > 64:
        raise CampaignError("campaign name %r: give at most 64 characters" % (campaign,))


def _insert_many(rows):
    """Insert coupon rows in one statement; on any clash (a code or a racing key) one by one."""
    if not rows:
        return
    rows = [(new_code(),) + r[1:] for r in rows]
    try:
        with db.atomic():
            Coupon.insert_many(rows, fields=_FIELDS).execute()
    except IntegrityError:
        for r in rows:
            _insert(r)


def _insert(row, attempts=5):
    """Insert one coupon row under a fresh code and return the code; the code already under its key if any."""
    key = row[-1]
    for _ in range(attempts):
        existing = Coupon.select(Coupon.code).where(Coupon.key == key).scalar()
        if existing:
            return existing
        try:
            with db.atomic():
                code = new_code()
                Coupon.insert_many([(code,) + row[1:]], fields=_FIELDS).execute()
                return code
        except IntegrityError:
            continue  # a code clash (1 in 2^55) or the same key issued at this moment: look again
    raise CampaignError("could not issue a coupon under key %s: try again" % key)
