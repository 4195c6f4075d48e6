"""Integrity: red-flag indicators computed from the open contracting data."""
