"""Key rotation: re-encrypt every field sealed under an older key version with the current key."""

from peewee import fn

from server.vault.crypto import VaultError, open_field, seal
from server.vault.db import ring, vault_db
from server.vault.keyring import current
from server.vault.models import VaultAudit, VaultField


def rotate(progress=None, chunk=200, actor="job:rotate"):
    """Re-encrypt the fields below the current key version, ``chunk`` fields per committed transaction.

    Interruptible: a rerun takes up the fields still below the current version (selected by
    the version column). ``progress(done, total)`` is called after each commit; each chunk
    leaves one "rotate" audit row. Returns {"current": version, "rotated": fields re-encrypted}.
    """
    if chunk < 1:
        raise VaultError("vault rotate: chunk must be at least 1, not %d" % chunk)
    keys = ring()
    version = current(keys)
    older = VaultField.version < version
    total = VaultField.select().where(older).count()
    done = 0
    while True:
        with vault_db.atomic():
            rows = list(VaultField.select().where(older).order_by(VaultField.id).limit(chunk))
            for row in rows:
                blob = seal(keys[version], version, row.customer, row.field,
                            open_field(keys, row.customer, row.field, row.blob))
                VaultField.update(blob=blob, version=version).where(VaultField.id == row.id).execute()
            if rows:
                VaultAudit.create(actor=actor, customer=None, action="rotate",
                                  fields=",".join(sorted({row.field for row in rows})),
                                  purpose="re-encrypt %d field(s) under key version %d" % (len(rows), version))
        if not rows:
            return {"current": version, "rotated": done}
        done += len(rows)
        if progress:
            progress(done, total)


def status():
    """The key ring's versions, the current one, and {version: fields sealed under it}."""
    keys = ring()
    query = VaultField.select(VaultField.version, fn.COUNT(VaultField.id)).group_by(VaultField.version)
    return {"current": current(keys), "versions": sorted(keys), "fields": dict(query.tuples())}
