"""Tag tables: running per-customer stats, tag definitions and memberships, history, fitted models, runs.

Times the tag code reasons about are unix seconds and local day numbers (``day`` =
(ts + the deployment's UTC offset) // 86400, see server.tags.settings), kept as integers so the
hot path and the set-based batch do plain arithmetic. CustomerStats and CustomerTag are rebuilt
by each full recompute into ``tagnext_*`` tables and renamed over the live ones in one transaction (server.tags.recompute).
"""

from peewee import (AutoField, BigIntegerField, BooleanField, CharField, DateTimeField, FloatField, IntegerField,
                    TextField)

from server.db import BaseModel, utcnow

KINDS = ("builtin", "rule")
RUN_STATES = ("running", "done", "failed", "abandoned")


class CustomerStats(BaseModel):
    """One customer's running aggregates (kept by ingest in the sale's transaction) and scores.

    ``recent`` holds the sales of the last 365 days as ``day:amount`` items separated by commas
    (a day may repeat): the bounded window the 90/365-day features slide over without reading
    the sales history. ``days`` counts distinct purchase days (BG/NBD frequency x = days - 1).
    The scores (rfm_*, p_alive ...) are those of the last recompute, redone in real time for a
    customer touched by a sale. Customers without a row have never bought (lifecycle potential).
    """

    customer = CharField(max_length=17, primary_key=True)
    merchant = CharField(max_length=32, null=True)   # merchant of the latest sale: its lifecycle thresholds
    first_ts = BigIntegerField(null=True)
    last_ts = BigIntegerField(null=True)
    first_day = IntegerField(null=True)
    last_day = IntegerField(null=True)
    days = IntegerField(default=0)
    orders = IntegerField(default=0)
    spend = BigIntegerField(default=0)               # sales, minor units
    max_sale = BigIntegerField(default=0)
    amount_sq = FloatField(default=0.0)              # sum of squared sale amounts (spread of own history)
    refunds = IntegerField(default=0)                # refunds and voids
    refunded = BigIntegerField(default=0)
    recent = TextField(default="")
    asof_day = IntegerField(null=True)               # the day the windows below were counted for
    orders_90d = IntegerField(default=0)
    spend_90d = BigIntegerField(default=0)
    orders_prev_90d = IntegerField(default=0)
    spend_prev_90d = BigIntegerField(default=0)
    orders_365d = IntegerField(default=0)
    spend_365d = BigIntegerField(default=0)
    rfm_orders = IntegerField(default=0)             # sales and their sum in the RFM window (a setting)
    rfm_spend = BigIntegerField(default=0)
    burst_ts = BigIntegerField(null=True)            # start of the current run of quick sales
    burst_n = IntegerField(default=0)
    repeat_amount = BigIntegerField(null=True)       # the last amount and how often it came in a row
    repeat_n = IntegerField(default=0)
    rfm_r = IntegerField(null=True)
    rfm_f = IntegerField(null=True)
    rfm_m = IntegerField(null=True)
    rfm_segment = CharField(max_length=24, null=True)
    p_alive = FloatField(null=True)
    exp_90d = FloatField(null=True)
    exp_spend = FloatField(null=True)
    clv = FloatField(null=True)
    churn_risk = FloatField(null=True)
    lifecycle = CharField(max_length=24, null=True)
    value_layer = CharField(max_length=24, null=True)
    customer_class = CharField(max_length=24, null=True)
    flags = IntegerField(default=0)                  # builtin yes/no tags, server.tags.builtin.FLAGS bits
    run = IntegerField(null=True)                    # the recompute run that last scored the row
    updated_ts = BigIntegerField(null=True)


class TagDef(BaseModel):
    """A tag: built in (code fixed, names and priority editable) or an admin rule over FEATURES.

    Lower ``priority`` comes first where space is short (the terminal shows at most 8 codes).
    A rule tag holds only between ``valid_from`` and ``valid_until`` (either may be open).
    """

    code = CharField(max_length=24, primary_key=True)
    name_zh = CharField(max_length=64)
    name_en = CharField(max_length=64)
    kind = CharField(max_length=8, default="rule")
    expr = TextField(null=True)
    priority = IntegerField(default=100)
    valid_from = DateTimeField(null=True)
    valid_until = DateTimeField(null=True)
    created_by = CharField(max_length=64, default="system")
    created_at = DateTimeField(default=utcnow)
    shown = BooleanField(default=True)               # sent to terminals in the status reply


class CustomerTag(BaseModel):
    """A yes/no tag a customer holds now (builtin flags and rule tags) and since when (unix seconds).

    The one-of-several builtin tags (lifecycle, value layer, class, RFM segment) are columns of
    CustomerStats instead: every customer has exactly one of each.
    """

    customer = CharField(max_length=17)
    tag = CharField(max_length=24)
    since = BigIntegerField()

    class Meta:
        primary_key = False
        indexes = ((("customer", "tag"), True), (("tag",), False))


class TagEvent(BaseModel):
    """What changed in one customer's tags at one moment: codes gained and lost (comma-separated).

    One row per customer and change (a recompute run or a sale), not per code, so the first
    recompute of a million customers writes a million rows, not five million.
    """

    id = AutoField()
    customer = CharField(max_length=17, index=True)
    at = BigIntegerField()
    run = IntegerField(null=True)                    # None: a real-time change
    gained = TextField(default="")
    lost = TextField(default="")


class TagCount(BaseModel):
    """How many customers held each tag after a recompute run: segment sizes over time."""

    run = IntegerField()
    tag = CharField(max_length=24)
    customers = IntegerField()
    at = BigIntegerField()

    class Meta:
        indexes = ((("run", "tag"), True),)


class TagModel(BaseModel):
    """One fit attempt of BG/NBD or Gamma-Gamma; the newest ``ok`` row of a kind is the model in force."""

    id = AutoField()
    kind = CharField(max_length=12)                  # bgnbd | gammagamma
    ok = BooleanField()
    params = TextField(default="{}")                 # JSON: the parameters, or {} when the fit failed
    loglik = FloatField(null=True)
    n = FloatField(null=True)
    error = TextField(null=True)
    fitted_at = DateTimeField(default=utcnow)
    seconds = FloatField(null=True)


class TagRun(BaseModel):
    """A full recompute: where it stands (resumable) and what the swap put in force.

    ``step`` is aggregate | score | swap; ``cursor`` the last customer id aggregated. ``high_id``
    is the last sale record the run reads: later ones are replayed in the swap. ``params``
    (JSON) are the cut points real-time tagging uses until the next run.
    """

    id = AutoField()
    state = CharField(max_length=10, default="running")
    step = CharField(max_length=10, default="aggregate")
    cursor = CharField(max_length=17, default="")
    done = IntegerField(default=0)
    total = IntegerField(default=0)
    now_ts = BigIntegerField()
    high_id = BigIntegerField(default=0)
    params = TextField(default="{}")
    message = TextField(null=True)
    started_at = DateTimeField(default=utcnow)
    finished_at = DateTimeField(null=True)


class TagSetting(BaseModel):
    """A tag setting (JSON value); ``merchant`` "" is the default for all merchants."""

    merchant = CharField(max_length=32, default="")
    key = CharField(max_length=32)
    value = TextField()

    class Meta:
        indexes = ((("merchant", "key"), True),)


class RiskFlag(BaseModel):
    """A sale unusually large or patterned against the customer's own history, listed for review."""

    id = AutoField()
    customer = CharField(max_length=17, index=True)
    dev = CharField(max_length=32)
    seq = BigIntegerField()
    ts = BigIntegerField()
    amount = BigIntegerField()
    cur = CharField(max_length=3)
    reason = CharField(max_length=16)                # large | burst | repeat
    detail = CharField(max_length=200)
    flagged_at = DateTimeField(default=utcnow)
    reviewed_at = DateTimeField(null=True, index=True)
    reviewed_by = CharField(max_length=64, null=True)
    verdict = CharField(max_length=16, null=True)    # ok | fraud


class TagState(BaseModel):
    """One row: a number bumped whenever what real-time tagging caches changes (run, rules, model, settings)."""

    id = IntegerField(primary_key=True)
    version = IntegerField(default=0)


MODELS = [CustomerStats, TagDef, CustomerTag, TagEvent, TagCount, TagModel, TagRun, TagSetting, RiskFlag, TagState]
