"""The Redis client and every key prefix the service uses."""

from __future__ import annotations

from arq.connections import ArqRedis

KEY_PREFIX = "mp:"
WORKER_HEARTBEAT_KEY = KEY_PREFIX + "worker:heartbeat"
RATE_PREFIX = KEY_PREFIX + "rate:"
GLOBAL_STREAM = KEY_PREFIX + "events"
AUCTION_STREAM_PREFIX = KEY_PREFIX + "auction:"
RELAY_CURSOR_KEY = KEY_PREFIX + "relay:cursor"
WEB_SIGNIN_PREFIX = KEY_PREFIX + "web-signin:"  # GitHub sign-in handed to a browser session
ARQ_QUEUE = "arq:queue"


def auction_stream(auction_id: int) -> str:
    return f"{AUCTION_STREAM_PREFIX}{auction_id}:events"


def create_redis(url: str) -> ArqRedis:
    """A Redis client that can also enqueue arq jobs."""
    client: ArqRedis = ArqRedis.from_url(
        url, socket_timeout=10, socket_connect_timeout=5, health_check_interval=30
    )
    return client
