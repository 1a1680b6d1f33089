"""Redemption: the online authorisation books the burn once, replays get the same answer."""

import pytest

from server.loyalty import programme, service
from server.loyalty.ledger import LedgerError, balance
from server.loyalty.models import Customer, PointsEntry, RedeemAuth
from server.loyalty.redeem import authorise_redeem, redeem_value

TOK = "%064x" % 1


@pytest.fixture
def member(app):
    """A customer holding 500 points behind card TOK."""
    return service.apply_tx({"dev": "T1", "seq": 1, "kind": "sale", "ref": "R1", "amount": 50000, "cur": "CNY",
                             "tok": TOK})["customer"]


def test_an_approved_redemption_books_the_burn_under_the_authorisation_key(member):
    assert authorise_redeem("T1", 7, TOK, 300) == {"ok": True, "code": "APPROVED", "pts": 200}
    burn = PointsEntry.get(PointsEntry.key == "auth:T1:7")
    assert (burn.delta, burn.reason, burn.dev) == (-300, "burn", "T1")
    assert Customer.get_by_id(member).points == balance(member) == 200


def test_a_replay_gets_the_same_answer_and_burns_nothing_more(member):
    first = authorise_redeem("T1", 7, TOK, 300)
    assert authorise_redeem("T1", 7, TOK, 300) == first
    assert authorise_redeem("T1", "7", TOK, 100) == first  # the same request id, whatever it now says
    assert PointsEntry.select().where(PointsEntry.reason == "burn").count() == 1
    assert balance(member) == 200


def test_insufficient_points_are_refused_and_a_replay_stays_refused(member):
    assert authorise_redeem("T1", 8, TOK, 600) == {"ok": False, "code": "INSUFFICIENT", "pts": 500}
    service.apply_tx({"dev": "T1", "seq": 2, "kind": "sale", "ref": "R2", "amount": 50000, "cur": "CNY", "tok": TOK})
    assert authorise_redeem("T1", 8, TOK, 600)["code"] == "INSUFFICIENT"
    assert authorise_redeem("T1", 9, TOK, 600)["code"] == "APPROVED"
    assert RedeemAuth.select().count() == 2


@pytest.mark.parametrize("points", [0, -100, 150, 1.0, True, "100"])
def test_bad_amounts_are_refused(member, points):
    assert authorise_redeem("T1", 10, TOK, points) == {"ok": False, "code": "BAD_AMOUNT", "pts": 500}
    assert balance(member) == 500


def test_an_unknown_card_is_refused(app):
    assert authorise_redeem("T1", 11, "%064x" % 99, 100) == {"ok": False, "code": "UNKNOWN_CARD", "pts": 0}


def test_the_same_request_id_on_another_terminal_is_another_request(member):
    authorise_redeem("T1", 7, TOK, 100)
    assert authorise_redeem("T2", 7, TOK, 100)["pts"] == 300


def test_the_sale_carrying_the_authorisation_does_not_burn_again(member):
    authorise_redeem("T1", 7, TOK, 300)
    service.apply_tx({"dev": "T1", "seq": 2, "kind": "sale", "ref": "R2", "amount": 100, "cur": "CNY", "tok": TOK,
                      "redeem": 300, "auth": 7})
    assert PointsEntry.select().where(PointsEntry.reason == "burn").count() == 1 and balance(member) == 201


def test_a_long_request_id_is_an_error(app):
    with pytest.raises(LedgerError, match="authorisation id"):
        authorise_redeem("T1", "9" * 41, TOK, 100)


def test_redeem_value(app):
    assert redeem_value(100, "CNY") == 100
    assert redeem_value(250, "CNY") == 200          # whole redeem units only
    programme.save({"redeem": {"points": 50, "value": 100}}, "x")
    assert redeem_value(250, "CNY") == 500
    with pytest.raises(LedgerError, match="CNY only"):
        redeem_value(100, "USD")
