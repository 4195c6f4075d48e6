"""Events on Redis streams: the outbox relay's SQL and the live feed of an auction (SSE)."""
