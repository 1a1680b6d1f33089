"""Licences: the payment-institution registry and the acquirer verdict of every sale (DESIGN.md §4)."""
