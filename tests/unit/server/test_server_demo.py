"""The demo seeds a customer and a funded stored-value account for every card its simulated terminals swipe."""

import time

from agent.linux.simulate import card_pool, track_bytes
from protocol import track
from server import demo
from server.loyalty.models import Card
from server.wallet import auth
from server.wallet.models import WalletAccount

TOKEN_KEY = bytes(range(32))


def test_the_demo_knows_the_simulators_cards():
    for seed in (1, 2, 3, 7):
        assert demo.sim_pans(demo.SIM_CARDS, seed) == [pan for pan, name, exp in card_pool(demo.SIM_CARDS, seed)]


def test_every_swiped_card_has_an_account_and_its_spend_is_approved(app):
    assert demo.seed_wallets(TOKEN_KEY, [1, 2]) == 2 * demo.SIM_CARDS
    yymm = int(time.strftime("%y%m", time.gmtime()))
    for seed in (1, 2):
        for n, (pan, name, exp) in enumerate(card_pool(demo.SIM_CARDS, seed)):
            tok = track.parse_swipe(track_bytes(pan, name, exp), TOKEN_KEY, yymm)["tok"]
            account = WalletAccount.get(WalletAccount.tok == tok)
            assert account.balance == demo.SIM_FUNDS[n % len(demo.SIM_FUNDS)]
            assert account.customer_id == Card.get(Card.tok == tok).customer_id
            assert auth.authorise("DEMO-01", "%d-%d" % (seed, n), tok, 1000, "CNY", None)["code"] == "APPROVED"
    assert demo.seed_wallets(TOKEN_KEY, [1, 2, 3]) == demo.SIM_CARDS  # a second run opens only the new ones
    assert WalletAccount.select().count() == 3 * demo.SIM_CARDS
