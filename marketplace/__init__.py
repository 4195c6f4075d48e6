"""Micro-purchase marketplace: timed reverse auctions for small software tasks."""
