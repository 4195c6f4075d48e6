"""Payments: one order per award, released exactly once, confirmed by the payee, disputable."""
