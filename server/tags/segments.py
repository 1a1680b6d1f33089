"""Vault features for tagging: read from the vault only for consenting customers, stored as opaque codes only.

Birthday, gender, age band, income band and region live in the vault (server.vault). A full
recompute opens them, with an audited read (actor ``job:tags``), for the active customers
whose vault consent grants at least one marketing channel, in chunks, and keeps the values in
memory only. The main database then holds, per customer:

- a keyed code per demographic/geographic segment, ``v_`` + 10 hex digits of
  HMAC-SHA256(segment key, "field:value"), never the value; the segment key is derived from
  the server master key (stable across vault key rotations, so tag history stays meaningful),
  and a name comes back only through ``names`` (an audited vault read) by someone holding it;
- the plain built-in ``birthday`` tag while the local month is the customer's birth month (a
  campaign trigger the till may show). It is left out of the tag history (TagEvent), so the
  history does not pile up everyone's birth month.
Segment codes are never sent to terminals. Real-time tagging keeps these tags as the last
recompute left them: a sale does not change them.
"""

from datetime import datetime, timezone

from flask import current_app, has_app_context
from peewee import chunked

from protocol.mac import hexmac, hmac_sha256
from server import keys
from server.customers.models import ConsentEvent
from server.loyalty.models import Customer
from server.vault import store
from server.vault.crypto import VaultError
from server.vault.db import vault_db

PREFIX = "v_"
BIRTHDAY = "birthday"
SEGMENT_FIELDS = ("gender", "age_band", "income_band", "region")
READ = ("birthday",) + SEGMENT_FIELDS
ACTOR = "job:tags"
PURPOSE = "segmentation"
CHUNK = 500
LABEL = b"possync tags segment code v1"


def is_vault_tag(code):
    """True for a tag derived from vault data (a segment code or the birthday tag)."""
    return code == BIRTHDAY or code.startswith(PREFIX)


def segment_key():
    """The key segment codes are made with, derived from the server master key (needs the app's config)."""
    if not has_app_context():
        raise VaultError("segment codes need the server's master key: run this inside the server app's context")
    return hmac_sha256(keys.master_key(current_app.config["SECRET_KEY_FILE"]), LABEL)


def code(key, field, value):
    """The opaque tag code of segment ``field`` = ``value``."""
    return PREFIX + hexmac(key, ("%s:%s" % (field, value)).encode("utf-8"))[:10].decode("ascii")


def features_of(fields):
    """The vault features (server.tags.features.VAULT) of one customer's vault ``fields``."""
    out = {name: fields.get(name) for name in SEGMENT_FIELDS}
    birthday = fields.get("birthday")
    out["birthday_month"] = int(birthday[5:7]) if birthday else None
    return out


def codes_of(key, vault, month):
    """The vault tags of one customer's vault features ``vault`` in local month ``month``."""
    out = {code(key, name, vault[name]) for name in SEGMENT_FIELDS if vault.get(name) is not None}
    if vault.get("birthday_month") == month:
        out.add(BIRTHDAY)
    return out


def local_month(now_ts, offset):
    """The month (1-12) of unix time ``now_ts`` in the local time ``offset`` seconds east of UTC."""
    return datetime.fromtimestamp(int(now_ts) + int(offset), timezone.utc).month


def anyone_consented():
    """Whether any marketing consent was ever granted: one small query, so a shop without any skips the vault."""
    return ConsentEvent.select().where(ConsentEvent.granted == True).exists()  # noqa: E712


def consenting(chunk=None):
    """Yield ``{customer: vault features}`` chunks of the active customers whose consent allows segmentation.

    Candidates are found from the vault's metadata (who holds a consent and a needed field:
    nothing opened); each one's consent is then read (audited), and only for those granting
    a channel the needed fields (audited "segmentation").
    """
    if not anyone_consented():
        return
    if vault_db.obj is None:
        raise VaultError("the vault is not set up, so the segments of consenting customers cannot be computed: "
                         "run this through the server app (create_app binds the vault)")
    holders = set()
    for name in READ:
        holders.update(store.customers_with(name))
    candidates = sorted(holders & set(store.customers_with("consent")))
    for part in chunked(candidates, chunk or CHUNK):
        active = {c for (c,) in Customer.select(Customer.id).where(Customer.id.in_(part)
                                                                   & (Customer.state == "active")).tuples()}
        out = {}
        with vault_db.atomic():                 # one vault commit per chunk, audit rows included
            for customer in part:
                if customer not in active:
                    continue
                consent = store.get(customer, ["consent"], ACTOR, PURPOSE + ": consent check").get("consent") or {}
                if any(entry.get("granted") for entry in consent.values()):
                    out[customer] = features_of(store.get(customer, READ, ACTOR, PURPOSE))
        if out:
            yield out


def names(codes, holders, actor, purpose, key=None):
    """``{code: "field: value"}`` for the segment ``codes`` that can be resolved, through audited vault reads.

    ``holders(code)`` lists a few customers holding a code; a holder's segment fields are read
    (audited with ``actor`` and ``purpose``) and every code they give is named at once. A code
    whose holders no longer have that value in the vault stays unnamed.
    """
    key = key or segment_key()
    out, tried = {}, set()
    for wanted in sorted(c for c in set(codes) if c.startswith(PREFIX)):
        for customer in holders(wanted):
            if wanted in out:
                break
            if customer in tried:
                continue
            tried.add(customer)
            fields = store.get(customer, SEGMENT_FIELDS, actor, purpose)
            out.update((code(key, name, value), "%s: %s" % (name, value)) for name, value in fields.items())
    return {c: out[c] for c in codes if c in out}
