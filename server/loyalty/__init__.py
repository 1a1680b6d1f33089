"""Loyalty: customers behind card tokens, the points ledger, tiers."""
