"""Clarification questions and amendments of published auctions (issue 28)."""
