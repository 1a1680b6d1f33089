"""Stored value (储值卡): member-card wallets, their ledger, PINs, freezes, authorisation, reconciliation."""
