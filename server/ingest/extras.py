"""What a terminal's status shows beside points: the card's stored value, the customer's coupons and tags."""

from peewee import chunked

from server.campaigns.coupons import valid_count
from server.tags.realtime import tags_for
from server.wallet.models import WalletAccount

CHUNK = 200
SHOWN = ("active", "frozen")


def enrich(statuses, now=None, tags=None):
    """Add ``sv``/``svcur``/``low``, ``cpn`` and ``tags`` to ``[(tok, status)]`` in place, a few queries for all.

    ``sv`` is given for a card with a live stored-value account, ``cpn`` when the customer
    holds coupons usable now, ``tags`` when the customer holds shown tags; each is left out
    otherwise, so plain statuses stay short. ``tags`` may bring ``{customer: [codes]}`` just
    computed (ingest re-tags the customers of a batch); the others are read.
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
    codes = dict(tags or {})
    codes.update(tags_for(c for c in customers if c not in codes))
    for tok, status in statuses:
        if tok in wallets:
            bal, cur, low = wallets[tok]
            status.update(sv=bal, svcur=cur, low=bal < low)
        if coupons.get(status.get("cust")):
            status["cpn"] = coupons[status["cust"]]
        if codes.get(status.get("cust")):
            status["tags"] = codes[status["cust"]]
    return statuses
