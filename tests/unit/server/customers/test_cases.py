"""Service cases and follow-ups: rows hold metadata, texts live in the vault."""

import pytest
from custkit import ACTOR, shop

from server.customers import cases, identity
from server.customers.identity import CustomerError
from server.customers.models import CaseEvent, ServiceCase
from server.db import db
from server.vault import store


def test_case_text_goes_to_the_vault_not_the_main_database(app, tmp_path):
    cid = identity.create_customer(ACTOR)
    case = cases.open_case(cid, "warranty", "王五 13700137000 screen cracked", ACTOR, dev="T1", ref="R7")
    row = ServiceCase.get_by_id(case)
    assert (row.kind, row.status, row.dev, row.ref) == ("warranty", "open", "T1", "R7")
    assert store.get(cid, actor=ACTOR, purpose="test")["note.%d" % row.note] == "王五 13700137000 screen cracked"
    db.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    raw = (tmp_path / "possync.db").read_bytes()
    assert "王五".encode() not in raw and b"13700137000" not in raw


def test_follow_ups_change_status_and_keep_their_texts(app, add):
    shop(add)
    cid = identity.create_customer(ACTOR)
    case = cases.open_case(cid, "complaint", "rude staff", ACTOR, merchant="M1")
    cases.follow_up(case, "web:alice", "called back, apologised", "in_progress")
    cases.follow_up(case, "web:alice", status="closed")
    row = ServiceCase.get_by_id(case)
    assert row.status == "closed" and row.closed_at is not None and row.merchant_id == "M1"
    texts = {int(k[5:]): v for k, v in store.get(cid, actor=ACTOR, purpose="test").items()}
    view = cases.cases_of([cid], texts)[0]
    assert view["text"] == "rude staff"
    assert [(e["status"], e["text"]) for e in view["events"]] == [("in_progress", "called back, apologised"),
                                                                  ("closed", None)]
    notes = [row.note] + [e.note for e in CaseEvent.select() if e.note]
    assert len(set(notes)) == 2 and cases.note_numbers([cid]) == set(notes)


def test_refusals_name_the_problem(app):
    cid = identity.create_customer(ACTOR)
    with pytest.raises(CustomerError, match="unknown case kind 'praise'"):
        cases.open_case(cid, "praise", "nice", ACTOR)
    with pytest.raises(CustomerError, match="needs a text"):
        cases.open_case(cid, "note", "  ", ACTOR)
    with pytest.raises(CustomerError, match="no merchant M9"):
        cases.open_case(cid, "note", "x", ACTOR, merchant="M9")
    with pytest.raises(CustomerError, match="no service case 99"):
        cases.follow_up(99, ACTOR, "x")
    case = cases.open_case(cid, "note", "x", ACTOR)
    with pytest.raises(CustomerError, match="unknown case status 'done'"):
        cases.follow_up(case, ACTOR, status="done")
    with pytest.raises(CustomerError, match="needs a text, a status or a follow-up date"):
        cases.follow_up(case, ACTOR)
