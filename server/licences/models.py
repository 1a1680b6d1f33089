"""Registry tables: institutions, their licence, per-business-type grants, field-32 codes, versions.

An import replaces the rows of the first four tables and appends a RegistryVersion, in one
transaction (server.licences.registry), so the tables always hold exactly one registry.
"""

from peewee import BigIntegerField, BooleanField, CharField, DateField, DateTimeField, ForeignKeyField, IntegerField, TextField

from server.db import BaseModel, utcnow


class Institution(BaseModel):
    """A payment institution (支付机构), known by its registered name."""

    name = CharField(max_length=200, unique=True)


class Licence(BaseModel):
    """The institution's payment business licence (支付业务许可证), number ``Z`` + 13 digits."""

    number = CharField(max_length=14, unique=True)
    institution = ForeignKeyField(Institution, backref="licences", unique=True, on_delete="CASCADE")


class Grant(BaseModel):
    """One business type of a licence with its own scope, dates and status.

    ``provinces`` holds full province names joined by ``;`` (empty for a national scope);
    ``status_date`` is the day a lapse, exit, cancellation or revocation took effect.
    """

    licence = ForeignKeyField(Licence, backref="grants", on_delete="CASCADE")
    business_type = CharField(max_length=20)
    scope = CharField(max_length=12)
    provinces = TextField(default="")
    issued = DateField()
    expires = DateField(null=True)
    status = CharField(max_length=16)
    status_date = DateField(null=True)


class InstitutionCode(BaseModel):
    """An acquiring institution code (ISO 8583 field 32, up to 11 digits) of an institution."""

    code = CharField(max_length=11, unique=True)
    institution = ForeignKeyField(Institution, backref="codes", on_delete="CASCADE")


class RegistryVersion(BaseModel):
    """One successful import: verdicts name the version they were judged against."""

    number = IntegerField(unique=True)
    imported_at = DateTimeField(default=utcnow)
    source = CharField(max_length=200)
    sha256 = CharField(max_length=64)
    rows = IntegerField()
    note = TextField(default="")


class SaleVerdict(BaseModel):
    """The acquirer verdict of one applied sale, keyed like its record by (dev, seq).

    Written by ingest in the transaction that stores the sale; the acquirer metadata as the
    terminal sent it lets a re-verification judge the sale again against a newer registry.
    ``registry`` is the RegistryVersion number used (None: no registry imported yet);
    ``sold_at`` is None when the terminal's clock gave a time outside any calendar.
    """

    dev = CharField(max_length=32)
    seq = BigIntegerField()
    merchant = CharField(max_length=32, null=True)
    province = CharField(max_length=20, null=True)
    sold_at = DateTimeField(null=True)
    inst = CharField(max_length=40, null=True)
    lic = CharField(max_length=40, null=True)
    mid = CharField(max_length=40, null=True)
    tid = CharField(max_length=40, null=True)
    settle = CharField(max_length=40, null=True)
    # False when a field was sent that the columns above cannot hold (not a string, too
    # long): the sale is MALFORMED for good and is not judged again from the columns.
    acq_whole = BooleanField(default=True)
    verdict = CharField(max_length=20)
    reason = TextField()
    registry = IntegerField(null=True)
    judged_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = (
            (("dev", "seq"), True),
            (("verdict", "dev"), False),
        )


class VerdictChange(BaseModel):
    """A verdict that a re-verification against a newer registry changed: old and new, kept for review."""

    sale = ForeignKeyField(SaleVerdict, backref="changes", on_delete="CASCADE")
    old = CharField(max_length=20)
    old_reason = TextField()
    old_registry = IntegerField(null=True)
    new = CharField(max_length=20)
    new_reason = TextField()
    registry = IntegerField(index=True)
    changed_at = DateTimeField(default=utcnow)


MODELS = [Institution, Licence, Grant, InstitutionCode, RegistryVersion, SaleVerdict, VerdictChange]
