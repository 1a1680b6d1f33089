"""The database: one peewee proxy bound at run time to SQLite (default) or PostgreSQL."""

from datetime import datetime, timezone

from peewee import DatabaseProxy, Model
from playhouse.db_url import connect as url_connect

db = DatabaseProxy()

# journal_mode=wal + synchronous=NORMAL: a commit survives a crash of the process
# (kill -9) because it is in the WAL file the OS already holds; only a power cut can
# lose the last commits. That is the promise an ack makes (DESIGN.md §6: kill -9);
# set synchronous to FULL (POSSYNC_SQLITE_SYNCHRONOUS) where power cuts matter more
# than throughput.
SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "synchronous": "normal",
    "busy_timeout": 10000,
    "foreign_keys": 1,
    # Deleted or overwritten rows are zeroed in the file: an erased customer's card token must not linger.
    "secure_delete": 1,
}


class BaseModel(Model):
    """All models live in the one database ``db`` is bound to."""

    class Meta:
        database = db


def utcnow():
    """Now as a naive datetime in UTC: every stored time is UTC."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def connect(url, synchronous="normal"):
    """Return a peewee Database for ``url`` (``sqlite:///path``, ``postgresql://...``)."""
    if url.startswith("sqlite:"):
        pragmas = dict(SQLITE_PRAGMAS, synchronous=synchronous)
        # IMMEDIATE: a batch takes the write lock when it begins, so two writers wait on
        # busy_timeout instead of failing when a read transaction tries to upgrade.
        return url_connect(url, pragmas=pragmas, lock_type="IMMEDIATE", timeout=10)
    return url_connect(url)


def init(url, synchronous="normal"):
    """Bind ``db`` to the database at ``url`` and create missing tables; return it."""
    database = connect(url, synchronous)
    db.initialize(database)
    create_tables()
    return database


def models():
    """Every model of the main database, in creation order (each room lists its own in ``MODELS``)."""
    from server.campaigns import models as campaigns
    from server.customers import models as customers
    from server.fleet import models as fleet
    from server.ingest import models as ingest
    from server.jobs import models as jobs
    from server.licences import models as licences
    from server.notify import models as notify
    from server.tags import models as tags
    from server.loyalty import models as loyalty
    from server.wallet import models as wallet

    return (fleet.MODELS + loyalty.MODELS + ingest.MODELS + licences.MODELS + customers.MODELS + wallet.MODELS
            + campaigns.MODELS + jobs.MODELS
            + notify.MODELS + tags.MODELS)


def create_tables():
    """Create the tables, columns and indexes that are missing (safe to repeat).

    A database made by an older release gets the columns added since (each new column is
    nullable or has a default, so existing rows stay valid); nothing is ever dropped.
    """
    was_closed = db.is_closed()
    existing = set(db.get_tables())
    # New tables first (a new column may refer to one), then new columns of older tables,
    # then every index (IF NOT EXISTS): SQLite would index a missing column as a string.
    db.create_tables([m for m in models() if m._meta.table_name not in existing], safe=True)
    _add_missing_columns([m for m in models() if m._meta.table_name in existing])
    _drop_changed_indexes([m for m in models() if m._meta.table_name in existing])
    db.create_tables(models(), safe=True)
    if was_closed:
        db.close()


def _add_missing_columns(older):
    from peewee import DatabaseError
    from playhouse.migrate import SchemaMigrator, migrate

    def missing():
        out = []
        for model in older:
            have = {c.name for c in db.get_columns(model._meta.table_name)}
            out += [(model, f) for f in model._meta.sorted_fields if f.column_name not in have]
        return out
    todo = missing()
    if not todo:
        return
    migrator = SchemaMigrator.from_database(db.obj)
    try:
        with db.atomic():
            migrate(*[migrator.add_column(model._meta.table_name, field.column_name, field) for model, field in todo])
    except DatabaseError:
        if missing():  # not another process starting at the same moment: a real failure
            raise


def _drop_changed_indexes(older):
    """Drop indexes whose uniqueness a newer release changed; create_tables makes them anew."""
    for model in older:
        have = {i.name: i.unique for i in db.get_indexes(model._meta.table_name)}
        for index in model._meta.fields_to_index():
            name = index._name
            if name in have and have[name] != index._unique:
                db.execute_sql('DROP INDEX IF EXISTS "%s"' % name)


def bulk_insert(model, fields, rows):
    """INSERT ``rows`` (tuples in ``fields`` order) with one prepared statement.

    The ingest hot path: peewee's insert_many renders every value into SQL, which
    costs more than the insert itself at hundreds of rows per batch. Values must
    be ready for the driver (str, int, bool, None, datetime); SQLite and PostgreSQL
    both take double-quoted names.
    """
    if not rows:
        return
    columns = ", ".join('"%s"' % model._meta.fields[name].column_name for name in fields)
    sql = 'INSERT INTO "%s" (%s) VALUES (%s)' % (model._meta.table_name, columns, ", ".join([db.param] * len(fields)))
    db.cursor().executemany(sql, rows)
