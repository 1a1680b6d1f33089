"""Vault tables (in the vault database only): sealed fields and the audit of every access.

No column holds personal data in clear: values are AES-GCM blobs (server.vault.crypto), the
audit names fields, never their values.
"""

from peewee import AutoField, BlobField, CharField, DateTimeField, IntegerField, TextField

from server.db import utcnow
from server.vault.db import VaultModel

ACTIONS = ("read", "write", "erase", "export", "rotate")


class VaultField(VaultModel):
    """One personal-data field of a customer, sealed under key ``version`` (indexed for rotation)."""

    id = AutoField()
    customer = CharField(max_length=17)
    field = CharField(max_length=32)
    blob = BlobField()
    version = IntegerField(index=True)
    updated_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "vault_field"
        indexes = ((("customer", "field"), True),)


class VaultAudit(VaultModel):
    """Who did what to whose vault fields, when and why (``customer`` is empty for a rotation chunk)."""

    id = AutoField()
    at = DateTimeField(default=utcnow, index=True)
    actor = CharField(max_length=64)
    customer = CharField(max_length=17, null=True, index=True)
    action = CharField(max_length=8)
    fields = TextField()
    purpose = TextField()

    class Meta:
        table_name = "vault_audit"


MODELS = (VaultField, VaultAudit)
