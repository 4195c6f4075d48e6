"""Failure and timing: PostgreSQL, Redis and GitHub going away, processes stopped mid-work,
and races forced into each interleaving (the outcome must not depend on timing)."""
