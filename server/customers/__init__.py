"""Customers: identity (cards linked, unlinked, merged), consent, service history, export and erase."""
