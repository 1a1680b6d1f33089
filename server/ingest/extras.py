"""What a terminal's status shows beside points: the card's stored value and the customer's coupons."""

from peewee import chunked

from server.campaigns.coupons import valid_count
from server.wallet.models import WalletAccount

CHUNK = 200
SHOWN = ("active", "frozen")


def enrich(statuses, now=None):
    """Add ``sv``/``svcur``/``low`` and ``cpn`` to ``[(tok, status)]`` in place, a few queries for all.

    ``sv`` is given for a card with a live stored-value account, ``cpn`` when the customer
    holds coupons usable now; both are left out otherwise, so plain statuses stay short.
    """
    toks = sorted({tok for tok, status in statuses if tok})
    wallets = {}
    for part in chunked(toks, CHUNK):
        query = (WalletAccount.select(WalletAccount.tok, WalletAccount.balance, WalletAccount.cur,
                                      WalletAccount.low_balance)
                 .where(WalletAccount.tok.in_(part) & WalletAccount.state.in_(SHOWN)).tuples())
        wallets.update((tok, (bal, cur, low)) for tok, bal, cur, low in query)
    customers = sorted({status["cust"] for tok, status in statuses if status.get("cust")})
    coupons = valid_count(customers, now) if customers else {}
    for tok, status in statuses:
        if tok in wallets:
            bal, cur, low = wallets[tok]
            status.update(sv=bal, svcur=cur, low=bal < low)
        if coupons.get(status.get("cust")):
            status["cpn"] = coupons[status["cust"]]
    return statuses
