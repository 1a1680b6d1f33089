"""The personal-data vault: validated fields sealed per customer, every access audited in the same transaction.

Customers are known here by their neutral id only; values are sealed under the ring's current
key (server.vault.crypto) and opened with whichever key version sealed them.
"""

import logging
import re

from peewee import SqliteDatabase

from server.db import utcnow
from server.vault import fields as checks
from server.vault.crypto import VaultError, open_field, seal
from server.vault.db import ring, vault_db
from server.vault.keyring import current
from server.vault.models import VaultAudit, VaultField

log = logging.getLogger(__name__)

FIELDS = checks.FIELDS
_CUSTOMER = re.compile("C[A-Z2-7]{16}")
ACTOR_LIMIT = 64
PURPOSE_LIMIT = 200


def put(customer, values, actor, purpose):
    """Validate and seal ``values`` ({field: value}, None deletes that field) under the current key; audited "write"."""
    _check_access(customer, actor, purpose)
    if not isinstance(values, dict) or not values:
        raise VaultError("vault put: give the fields to write as a non-empty {field: value} dict")
    keys = ring()
    version = current(keys)
    sealed = {}
    for field, value in values.items():
        checks.check_name(field)
        if value is not None:
            sealed[field] = seal(keys[version], version, customer, field, checks.encode(field, value))
    gone = [field for field, value in values.items() if value is None]
    now = utcnow()
    with vault_db.atomic():
        if gone:
            VaultField.delete().where((VaultField.customer == customer) & VaultField.field.in_(gone)).execute()
        for field, blob in sealed.items():
            VaultField.insert(customer=customer, field=field, blob=blob, version=version, updated_at=now).on_conflict(
                conflict_target=[VaultField.customer, VaultField.field],
                update={VaultField.blob: blob, VaultField.version: version, VaultField.updated_at: now}).execute()
        _audit(actor, customer, "write", values, purpose)


def get(customer, fields=None, actor=None, purpose=None, action="read"):
    """The customer's fields ({field: value}; all held when ``fields`` is None); audited as ``action``.

    ``action`` is "read", or "export" when the values leave as a customer-rights export.
    """
    _check_access(customer, actor, purpose)
    if action not in ("read", "export"):
        raise VaultError("vault get: action must be read or export, not %r" % (action,))
    query = VaultField.select().where(VaultField.customer == customer)
    if fields is not None:
        if isinstance(fields, str):
            raise VaultError("vault get: fields must be a list of field names (or None for all)")
        fields = list(fields)
        for field in fields:
            checks.check_name(field)
        query = query.where(VaultField.field.in_(fields))
    keys = ring()
    with vault_db.atomic():
        out = {row.field: checks.decode(row.field, open_field(keys, customer, row.field, row.blob)) for row in query}
        _audit(actor, customer, action, out, purpose)
    return out


def erase(customer, actor, purpose):
    """Destroy every field of ``customer`` and leave no copy in the files; audited "erase"; return how many.

    secure_delete zeroes the freed cells; the WAL checkpoint then empties the write-ahead log,
    so no earlier page holding the ciphertext survives. Call it outside any vault transaction.
    """
    _check_access(customer, actor, purpose)
    if vault_db.in_transaction():
        raise VaultError("vault erase must run outside a vault transaction (its WAL checkpoint cannot run in one)")
    with vault_db.atomic():
        names = [row.field for row in VaultField.select(VaultField.field).where(VaultField.customer == customer)]
        VaultField.delete().where(VaultField.customer == customer).execute()
        _audit(actor, customer, "erase", names, purpose)
    if isinstance(vault_db.obj, SqliteDatabase):
        busy = vault_db.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        if busy:
            log.warning("vault erase: the WAL checkpoint could not finish (a reader held it); "
                        "the erased pages leave the WAL at the next checkpoint")
    return len(names)


def customers_with(field):
    """Ids of the customers holding ``field`` (metadata only: nothing is opened, nothing audited)."""
    checks.check_name(field)
    query = VaultField.select(VaultField.customer).where(VaultField.field == field).order_by(VaultField.customer)
    return [row.customer for row in query]


def fields_of(customer):
    """Names of the fields held for ``customer`` (metadata only: nothing is opened, nothing audited)."""
    _check_customer(customer)
    query = VaultField.select(VaultField.field).where(VaultField.customer == customer).order_by(VaultField.field)
    return [row.field for row in query]


def audit(customer=None, limit=100):
    """The newest ``limit`` audit rows (of ``customer`` if given) as dicts, newest first."""
    query = VaultAudit.select().order_by(VaultAudit.id.desc()).limit(limit)
    if customer is not None:
        query = query.where(VaultAudit.customer == customer)
    return [{"at": row.at, "actor": row.actor, "customer": row.customer, "action": row.action,
             "fields": row.fields.split(",") if row.fields else [], "purpose": row.purpose} for row in query]


def _audit(actor, customer, action, names, purpose):
    VaultAudit.create(actor=actor, customer=customer, action=action, fields=",".join(sorted(names)), purpose=purpose)


def _check_customer(customer):
    # The id is stored in clear: refuse anything but the neutral id, so a phone or email never lands here.
    if not isinstance(customer, str) or not _CUSTOMER.fullmatch(customer):
        raise VaultError("a customer is named by its neutral id, C + 16 base32 characters "
                         "(never a phone, email or name)")


def _check_access(customer, actor, purpose):
    _check_customer(customer)
    if not isinstance(actor, str) or not actor.strip() or len(actor) > ACTOR_LIMIT:
        raise VaultError("say who acts (actor such as cli:root or web:alice, 1-%d characters)" % ACTOR_LIMIT)
    if not isinstance(purpose, str) or not purpose.strip() or len(purpose) > PURPOSE_LIMIT:
        raise VaultError("say why (purpose, 1-%d characters), it goes into the audit" % PURPOSE_LIMIT)
