"""A department's webhook receiver on loopback, and the worker's webhook consumer and sender
set up for tests (short delays). ``endpoint`` is a fixture for every test module
(registered by tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from marketplace.streams.consumer import StreamConsumer
from marketplace.webhooks import sends
from tests.helpers import http_on_loopback
from workers.consumers import webhooks_consumer


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class Endpoint:
    """A real HTTP endpoint on 127.0.0.1 that records POSTs and answers ``status``."""

    status: int = 200
    received: list[Received] = field(default_factory=list)
    url: str = ""

    def types(self) -> list[str]:
        return [r.headers["x-marketplace-event"] for r in self.received]


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    state = Endpoint()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            status = state.status
            state.received.append(Received({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            pass

    with http_on_loopback(Handler) as port:
        state.url = f"http://127.0.0.1:{port}/hooks/marketplace"
        yield state


def webhook_consumer(ctx: dict[str, Any]) -> StreamConsumer:
    """The worker's own webhooks consumer, reading more often."""
    return webhooks_consumer(ctx, block_ms=100)


def webhook_sender(ctx: dict[str, Any]) -> sends.WebhookSender:
    return sends.WebhookSender(
        ctx["pool"],
        base_delay=0.01,
        max_delay=0.05,
        poll_seconds=0.02,
        timeout=5,
        allow_private=ctx["settings"].webhook_allow_private,  # the receivers are on loopback
    )


async def has_all(endpoint: Endpoint, kinds: set[str]) -> bool:
    return kinds <= set(endpoint.types())
