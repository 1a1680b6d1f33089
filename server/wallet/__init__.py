"""Stored value (储值卡): member-card wallets, their ledger, PINs, freezes, authorisation, reconciliation."""


class WalletError(Exception):
    """A stored-value operation that cannot be done; the message says what was wrong and what to do next."""
