"""Vault features and segments: read for consenting customers only, stored as keyed codes, never in clear."""

import json

import pytest
from realparts import file_bytes

from server.customers import consent, identity
from server.db import bulk_insert, db, utcnow
from server.ingest.apply import RECORD_FIELDS
from server.ingest.models import Record
from server.tags import context, realtime, recompute, segments
from server.tags import settings as tag_settings
from server.tags.models import CustomerStats, CustomerTag, TagDef, TagEvent
from server.vault import store
from server.vault.db import vault_db

DAY = 86400
TODAY = 20250                                   # 2025-06-11, Asia/Shanghai
NOW = TODAY * DAY - 8 * 3600 + 12 * 3600
ACTOR = "cli:test"
MONTH = segments.local_month(NOW, 8 * 3600)
PII = {"birthday": "1990-%02d-15" % MONTH, "gender": "female", "age_band": "25-34", "income_band": "高收入甲",
       "region": "浙江省杭州市"}
OTHER = {"birthday": "1985-%02d-03" % (MONTH % 12 + 1), "gender": "male", "age_band": "45-54",
         "income_band": "中等收入乙", "region": "江苏省苏州市"}


def at(days_ago):
    return (TODAY - days_ago) * DAY - 8 * 3600 + 12 * 3600


@pytest.fixture
def people(tagdb):
    """yes: consent + data; also: consent + other data; no: data, never asked; gone: consent withdrawn; plain."""
    ids = {name: identity.create_customer(ACTOR) for name in ("yes", "also", "no", "gone", "plain")}
    rows, seq = [], 0
    for name, c in sorted(ids.items()):
        for days_ago in (40, 20, 3):
            seq += 1
            rows.append(("D1", seq, "sale", at(days_ago), utcnow(), "R%d" % seq, None, 1500, "CNY", None, c,
                         "h%d" % seq))
    with db.atomic():
        bulk_insert(Record, RECORD_FIELDS, rows)
    for name, data in (("yes", PII), ("also", OTHER), ("no", PII), ("gone", PII)):
        store.put(ids[name], data, ACTOR, "enrolment form")
    for name in ("yes", "also", "gone"):
        consent.grant(ids[name], "sms", "paper form", ACTOR)
    consent.withdraw(ids["gone"], "sms", "phone call", ACTOR)
    return ids


def held(c):
    return {t for (t,) in CustomerTag.select(CustomerTag.tag).where(CustomerTag.customer == c).tuples()}


def test_segments_are_keyed_codes_for_consenting_customers_only(people):
    out = recompute.run(now=NOW)
    key = segments.segment_key()
    want = {segments.code(key, f, PII[f]) for f in segments.SEGMENT_FIELDS}
    assert want <= held(people["yes"]) and "birthday" in held(people["yes"])
    assert all(len(c) == 12 and c.startswith("v_") for c in want)
    also = held(people["also"])
    assert not want & also and "birthday" not in also and len({t for t in also if t.startswith("v_")}) == 4
    for name in ("no", "gone", "plain"):
        assert not {t for t in held(people[name]) if segments.is_vault_tag(t)}
    assert out["tags"]["birthday"] == 1 and out["tags"][segments.code(key, "gender", "female")] == 1
    shown = realtime.tags_for([people["yes"]])[people["yes"]]
    assert "birthday" in shown and not [t for t in shown if t.startswith("v_")]
    reads = {(r["customer"], r["purpose"]): r["fields"] for r in store.audit(limit=1000) if r["actor"] == "job:tags"}
    assert reads[people["yes"], "segmentation"] == sorted(segments.READ)
    assert (people["gone"], "segmentation: consent check") in reads and (people["gone"], "segmentation") not in reads
    assert not [k for k in reads if k[0] in (people["no"], people["plain"])]   # not even their consent opened
    history = " ".join(e.gained + e.lost for e in TagEvent.select())
    assert "v_" in history and "birthday" not in history


def test_rules_on_vault_features_use_the_vault_in_batch_and_stay_in_real_time(people):
    TagDef.create(code="hz", name_zh="杭州", name_en="hz", expr='region == "浙江省杭州市" and orders >= 3')
    TagDef.create(code="not_hz", name_zh="x", name_en="x", expr='not region == "浙江省杭州市" and has_tag("lc_active")')
    TagDef.create(code="bday", name_zh="x", name_en="x", expr='has_tag("birthday") and orders >= 1')
    tag_settings.bump()
    recompute.run(now=NOW)
    holders = {}
    for c, t in CustomerTag.select(CustomerTag.customer, CustomerTag.tag).tuples():
        holders.setdefault(t, set()).add(c)
    assert holders["hz"] == {people["yes"]}                  # "no" has the data but no consent
    assert holders["not_hz"] == {people[n] for n in ("also", "no", "gone", "plain")}
    assert holders["bday"] == {people["yes"]}
    before = sorted(CustomerTag.select(CustomerTag.customer, CustomerTag.tag, CustomerTag.since).tuples())
    stats = realtime.read(realtime.STATS, sorted(people.values()))
    realtime.retag(stats, context.load(), realtime.utc(NOW))   # real time agrees with the batch
    assert sorted(CustomerTag.select(CustomerTag.customer, CustomerTag.tag, CustomerTag.since).tuples()) == before
    sale = [("D1", 900, "sale", at(0), utcnow(), "R900", None, 1500, "CNY", None, people["yes"], "h900")]
    with db.atomic():
        bulk_insert(Record, RECORD_FIELDS, sale)
        realtime.on_sales(sale, realtime.utc(NOW))
    assert {"hz", "bday", "birthday"} <= held(people["yes"]) and len([t for t in held(people["yes"])
                                                                       if t.startswith("v_")]) == 4


def _files(app):
    main = app.config["DATABASE_URL"][len("sqlite:///"):]
    return [main, main + "-wal", main + "-shm"]


def test_no_vault_value_reaches_the_main_database_files(app, people):
    TagDef.create(code="hz", name_zh="杭州", name_en="hz", expr='region == "浙江省杭州市" or age_band == "45-54"')
    tag_settings.bump()
    recompute.run(now=NOW)
    key = segments.segment_key()
    secrets = [v for data in (PII, OTHER) for k, v in data.items() if k != "gender"] + ["female"]
    data = file_bytes(_files(app))
    assert segments.code(key, "region", PII["region"]).encode() in data      # the scan sees what is there
    db.close()
    vault_db.close()
    # the admin's own rule text names a region: the only place a value may be, and no customer's value
    data = file_bytes(_files(app)).replace(TagDef.get_by_id("hz").expr.encode("utf-8"), b"")
    found = [s for s in secrets if s.encode("utf-8") in data or s.encode("gb18030") in data]
    assert found == [] and people["yes"].encode() in data
    assert "hz" not in realtime.tags_for([people["yes"]])[people["yes"]]     # a vault rule is not sent to tills


def test_without_any_consent_the_vault_is_not_touched(tagdb, monkeypatch):
    c = identity.create_customer(ACTOR)
    store.put(c, PII, ACTOR, "form")
    with db.atomic():
        bulk_insert(Record, RECORD_FIELDS, [("D1", 1, "sale", at(2), utcnow(), "R1", None, 900, "CNY", None, c, "h1")])

    def refuse(*args, **kwargs):
        raise AssertionError("vault opened")
    monkeypatch.setattr(store, "customers_with", refuse)
    monkeypatch.setattr(store, "get", refuse)
    out = recompute.run(now=NOW)
    assert out["customers"] == 1 and not [t for t in held(c) if segments.is_vault_tag(t)]


def test_consent_withdrawn_drops_the_segments_at_the_next_run(people):
    recompute.run(now=NOW)
    assert [t for t in held(people["yes"]) if t.startswith("v_")]
    consent.withdraw(people["yes"], "sms", "app", ACTOR)
    recompute.run(now=NOW + 60)
    assert not [t for t in held(people["yes"]) if segments.is_vault_tag(t)]
    assert CustomerStats.get_by_id(people["yes"]).orders == 3


def test_cli_names_segments_only_with_a_purpose(run, people):
    recompute.run(now=NOW)
    code, out = run("show", people["yes"])
    assert code == 0 and "region" not in out and "浙江" not in out and "vault segment" in out
    code, out = run("show", people["yes"], "--purpose", "complaint 12")
    assert "region: 浙江省杭州市" in out and "gender: female" in out
    code, out = run("list", "--json")
    vault = [t for t in json.loads(out) if t["kind"] == "vault"]
    assert len(vault) == 8 and all(not t["shown"] and t["name_en"] == "vault segment" for t in vault)
    code, out = run("list", "--purpose", "segment report")
    assert "age_band: 45-54" in out and "income_band: 高收入甲" in out
    assert any(r["purpose"] == "segment report" and r["actor"].startswith("cli:") for r in store.audit(limit=100))
    with pytest.raises(Exception, match="v_"):
        run("define", "v_mine", "--rule", "orders > 1")


def test_chunked_reads_give_the_same_tags_and_a_buyer_to_be_gets_its_segments(people, monkeypatch):
    recompute.run(now=NOW)
    whole = sorted(CustomerTag.select(CustomerTag.customer, CustomerTag.tag).tuples())
    monkeypatch.setattr(segments, "CHUNK", 1)
    prospect = identity.create_customer(ACTOR)
    store.put(prospect, {"region": "上海市"}, ACTOR, "form")
    consent.grant(prospect, "email", "web form", ACTOR)
    recompute.run(now=NOW + 60)
    key = segments.segment_key()
    assert held(prospect) == {segments.code(key, "region", "上海市")}
    assert CustomerStats.get_or_none(CustomerStats.customer == prospect) is None
    assert sorted(t for t in CustomerTag.select(CustomerTag.customer, CustomerTag.tag).tuples()
                  if t[0] != prospect) == whole
