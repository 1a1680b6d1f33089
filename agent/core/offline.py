"""Offline stored-value spends: how much a card, and the terminal, may spend without the server.

Exposure is the sum of the offline svspend records (those without an ``auth``) still in the
outbox: the ones the server has not acknowledged are exactly the unreconciled ones, so the
limits hold across restarts without any state of their own. Every spend is checked and
stored in one step of the agent's single loop, so concurrent spends cannot both slip under.
"""

import json

_SVSPEND = b'"kind":"svspend"'  # as protocol.frame writes it: skip other records without parsing


def exposure(records, tok):
    """``(card, terminal)``: minor units spent offline and not yet acked, by card ``tok`` and in all.

    ``records`` are the outbox's pending ``(seq, body)`` pairs.
    """
    card = terminal = 0
    for _, body in records:
        if _SVSPEND not in body:
            continue
        obj = json.loads(body)
        if obj.get("kind") != "svspend" or "auth" in obj:
            continue
        terminal += obj["amount"]
        if obj.get("tok") == tok:
            card += obj["amount"]
    return card, terminal


def allowed(records, tok, amount, limits, frozen=()):
    """May card ``tok`` spend ``amount`` offline now? ``(True, None)``, or ``(False, reason)`` with reason
    "frozen_card" (on the hot list ``frozen``), "card_limit" or "terminal_limit".

    ``limits`` is ``{"card": minor, "terminal": minor}``; a spend may bring exposure up to a
    limit, not beyond it.
    """
    if tok in frozen:
        return False, "frozen_card"
    card, terminal = exposure(records, tok)
    if card + amount > limits["card"]:
        return False, "card_limit"
    if terminal + amount > limits["terminal"]:
        return False, "terminal_limit"
    return True, None
