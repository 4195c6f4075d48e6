"""Idempotency-Key: a retried request gets the original answer and creates nothing."""
