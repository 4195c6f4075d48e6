"""Events on Redis streams: the outbox relay's SQL, the consumer groups that handle each
event once (consumer.py: notifications, department webhooks, the vendor registry), and the
live feed of an auction (SSE)."""
