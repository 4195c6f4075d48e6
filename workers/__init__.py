"""arq workers: scheduling, the outbox relay, sweeps. Imports marketplace, never the reverse."""
