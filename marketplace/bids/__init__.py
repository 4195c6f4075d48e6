"""Bids: the reverse and sealed rules, refereed by PostgreSQL."""
