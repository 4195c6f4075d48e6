"""Who may scrape ``/metrics``: the operator's Prometheus, not the public.

Its counters are per route and status, so the bid route's count tells when someone bid on
a sealed auction. With ``MARKETPLACE_METRICS_TOKEN`` set, a scrape must send it as a bearer
token, from anywhere; unset, only clients on this host are answered. The client is the
peer the server saw, or the address a trusted proxy gave for it (marketplace/server.py):
a client elsewhere cannot pass as local through a proxy.
"""

from __future__ import annotations

import hmac
import ipaddress
from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from marketplace.errors import Forbidden, Unauthorized
from marketplace.settings import Settings


def _is_loopback(host: str | None) -> bool:
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def metrics_scraper(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    """The guard of /metrics: the scrape token when one is set, else a loopback client."""
    settings: Settings = connection.app.state.settings
    expected = settings.metrics_token
    if expected:
        header = connection.headers.get("authorization")
        if header is None:
            raise Unauthorized(
                "metrics_token_required", "send 'Authorization: Bearer <metrics token>'"
            )
        scheme, _sep, token = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            token.strip().encode(), expected.encode()
        ):
            raise Unauthorized("invalid_metrics_token", "that is not the metrics token")
        return
    client = connection.client
    if not _is_loopback(client.host if client else None):
        raise Forbidden(
            "metrics_loopback_only",
            "metrics are answered to this host only (set MARKETPLACE_METRICS_TOKEN to scrape"
            " from elsewhere)",
        )
