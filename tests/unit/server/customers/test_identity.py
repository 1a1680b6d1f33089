"""Identity: cards linked, unlinked and merged with their history; points and data follow the person."""

import pytest
from custkit import ACTOR, ledgers_balance, points_total, sell, shop

from server.customers import cases, identity
from server.customers.identity import CustomerError
from server.customers.models import CardEvent, CustomerMerge, ServiceCase
from server.loyalty.models import Card, Customer
from server.vault import store


def test_create_customer_gives_a_neutral_active_id(app):
    cid = identity.create_customer(ACTOR)
    row = Customer.get_by_id(cid)
    assert len(cid) == 17 and cid[0] == "C" and row.state == "active" and row.points == 0
    assert identity.resolve(cid) == cid and identity.group(cid) == [cid]


def test_link_keeps_history_and_refuses_a_card_held_by_another(app, mk):
    a, b = identity.create_customer(ACTOR), identity.create_customer(ACTOR)
    assert identity.link_card(a, mk.tok(1), "622848", "1234", ACTOR) is True
    assert identity.link_card(a, mk.tok(1), "622848", "1234", ACTOR) is False
    with pytest.raises(CustomerError) as exc:
        identity.link_card(b, mk.tok(1), "622848", "1234", ACTOR)
    message = str(exc.value)
    assert "622848…1234" in message and a in message and "unlink" in message and "merge" in message
    assert mk.tok(1) not in message
    assert Card.get(Card.tok == mk.tok(1)).customer_id == a
    assert [(e.customer_id, e.action) for e in CardEvent.select()] == [(a, "link")]


def test_link_refuses_what_is_not_a_token(app, mk):
    cid = identity.create_customer(ACTOR)
    with pytest.raises(CustomerError, match="64 lowercase hex"):
        identity.link_card(cid, "6228480000001234", "622848", "1234", ACTOR)
    with pytest.raises(CustomerError, match="BIN must be 6 digits"):
        identity.link_card(cid, mk.tok(1), "62", "1234", ACTOR)
    with pytest.raises(CustomerError, match="no customer CNOSUCHCUSTOMER"):
        identity.link_card("CNOSUCHCUSTOMER", mk.tok(1), "", "", ACTOR)
    assert Card.select().count() == 0


def test_unlink_forgets_the_holder_and_the_next_sale_starts_a_new_customer(app, add, mk):
    shop(add)
    first = sell(mk, 1, tok=mk.tok(2))
    earned = Customer.get_by_id(first).points
    assert identity.unlink_card(mk.tok(2), ACTOR, "lost, customer called") == first
    assert not Card.select().where(Card.tok == mk.tok(2)).exists()
    event = CardEvent.get(CardEvent.action == "unlink")
    assert (event.customer_id, event.tok, event.last4) == (first, mk.tok(2), "1234")
    assert store.get(first, actor=ACTOR, purpose="test")["note.%d" % event.note] == "lost, customer called"
    second = sell(mk, 2, tok=mk.tok(2))
    assert second not in (None, first)
    assert earned > 0 and Customer.get_by_id(first).points == earned == Customer.get_by_id(second).points
    with pytest.raises(CustomerError, match="nothing to unlink"):
        identity.unlink_card(mk.tok(9), ACTOR)


def test_merge_moves_cards_points_cases_and_vault_fields(app, add, mk):
    shop(add)
    src, dst = sell(mk, 1, tok=mk.tok(1), amount=50000), sell(mk, 2, tok=mk.tok(2), amount=12000)
    sell(mk, 3, tok=mk.tok(3), amount=7000)  # a bystander
    store.put(src, {"name": "李四", "phone": "13900139000"}, ACTOR, "test")
    store.put(dst, {"name": "李 四"}, ACTOR, "test")
    case = cases.open_case(src, "complaint", "till was slow", ACTOR)
    total, theirs, ours = points_total(), Customer.get_by_id(src).points, Customer.get_by_id(dst).points

    out = identity.merge(src, dst, ACTOR, "same person, two cards")

    assert (out["points"], out["cards"], out["cases"], out["already"]) == (theirs, 1, 1, False)
    assert points_total() == total and ledgers_balance()
    assert Customer.get_by_id(src).points == 0 and Customer.get_by_id(dst).points == theirs + ours
    assert {c.tok for c in Card.select().where(Card.customer == dst)} == {mk.tok(1), mk.tok(2)}
    assert ServiceCase.get_by_id(case).customer_id == dst
    row = Customer.get_by_id(src)
    assert (row.state, row.merged_into) == ("merged", dst)
    moves = {(e.customer_id, e.action, e.other) for e in CardEvent.select().where(CardEvent.tok == mk.tok(1))}
    assert moves == {(src, "merge_out", dst), (dst, "merge_in", src)}
    case_note = "note.%d" % ServiceCase.get_by_id(case).note
    assert out["vault_fields"] == [case_note, "phone"]
    data = store.get(dst, actor=ACTOR, purpose="test")
    assert data["name"] == "李 四" and data["phone"] == "13900139000" and data[case_note] == "till was slow"
    merge = CustomerMerge.get()
    assert data["note.%d" % merge.note] == "same person, two cards" and merge.points == theirs
    assert store.get(src, actor=ACTOR, purpose="test") == {}
    # a later sale with src's old card books to dst
    assert sell(mk, 4, tok=mk.tok(1)) == dst


def test_merge_again_is_a_no_op_that_finishes_the_vault_step(app, add, mk):
    shop(add)
    src, dst = sell(mk, 1, tok=mk.tok(1)), sell(mk, 2, tok=mk.tok(2))
    total = points_total()
    identity.merge(src, dst, ACTOR, "same person")
    store.put(src, {"email": "left@example.com"}, ACTOR, "test")  # as if the vault step had been cut short
    again = identity.merge(src, dst, ACTOR, "same person")
    assert again["already"] is True and again["points"] == 0 and again["vault_fields"] == ["email"]
    assert Customer.get_by_id(dst).points == total and ledgers_balance()
    assert CustomerMerge.select().count() == 1
    assert store.get(src, actor=ACTOR, purpose="test") == {}


def test_merge_chain_resolves_to_the_last_customer(app):
    a, b, c = (identity.create_customer(ACTOR) for _ in range(3))
    identity.merge(a, b, ACTOR, "dup")
    identity.merge(b, c, ACTOR, "dup")
    assert identity.resolve(a) == identity.resolve(b) == c
    assert identity.group(a) == [c, b, a]


def test_refused_merges_say_what_to_do(app):
    a, b, c = (identity.create_customer(ACTOR) for _ in range(3))
    with pytest.raises(CustomerError, match="into itself"):
        identity.merge(a, a, ACTOR, "dup")
    with pytest.raises(CustomerError, match="reason"):
        identity.merge(a, b, ACTOR, " ")
    identity.merge(a, b, ACTOR, "dup")
    with pytest.raises(CustomerError, match="merged into %s: merge into %s instead" % (b, b)):
        identity.merge(c, a, ACTOR, "dup")
    with pytest.raises(CustomerError, match="already merged into %s" % b):
        identity.merge(a, c, ACTOR, "dup")
    Customer.update(state="erased").where(Customer.id == c).execute()
    with pytest.raises(CustomerError, match="erased"):
        identity.merge(b, c, ACTOR, "dup")
    with pytest.raises(CustomerError, match="erased"):
        identity.merge(c, b, ACTOR, "dup")
    with pytest.raises(CustomerError, match="merged into %s: use %s" % (b, b)):
        identity.link_card(a, "ab" * 32, "", "", ACTOR)
    assert CustomerMerge.select().count() == 1
