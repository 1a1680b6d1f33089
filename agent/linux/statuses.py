"""The server's statuses matched to the cards of recent swipes (``sid``) and sales (``seq``):
cached by card for offline display, shown only while about the latest one, passed to the POS."""

import collections

from agent.core.display import StatusCache

RECENT = 256  # sid/seq -> tok kept for matching statuses to cards
# Status fields passed to the POS (the cashier's view): tags go there, never onto the customer display.
STATUS_EVENT = ("for", "id", "cust", "pts", "earned", "tier", "new", "lic", "sv", "svcur", "cpn", "low", "tags")


def pos_event(st):
    """The status as the event pushed to the POS clients."""
    event = {"event": "status"}
    for k in STATUS_EVENT:
        if k in st:
            event[k] = st[k]
    return event


class Statuses:
    """Card tokens of the recent swipes and sales, the latest of each, and the last status per card."""

    def __init__(self):
        self.cache = StatusCache(RECENT)
        self.tok_of = {"sid": collections.OrderedDict(), "seq": collections.OrderedDict()}
        self.latest = {"sid": None, "seq": None}  # the statuses worth showing to the customer now

    def sent(self, kind, ident, tok):
        """Swipe or sale ``ident`` (``kind`` "sid" or "seq") is the latest; it was for card ``tok`` (or None)."""
        if tok is not None:
            m = self.tok_of[kind]
            m[ident] = tok
            if len(m) > RECENT:
                m.popitem(last=False)
        self.latest[kind] = ident

    def received(self, st):
        """Cache a signed status by its card; True if it is about the latest swipe or sale (show it now)."""
        kind = st["for"] if st["for"] in ("sid", "seq") else None
        if kind is None:
            return False
        tok = self.tok_of[kind].get(st["id"])
        if tok is not None:
            self.cache.put(tok, st)
        # A card-less sale's status (an acquirer warning) has no token but is shown all the same.
        return st["id"] == self.latest[kind]
