"""Auctions: drafting, publishing, listing, cancelling, opening and closing on time."""
