"""How the API's HTTP server (uvicorn) is configured, for ``marketplace serve`` and tests.

Client addresses: sign-up and sign-in are limited per client address (DESIGN §10), so the
address must be the peer's own unless the peer is a proxy the operator named in
``MARKETPLACE_TRUSTED_PROXIES``. uvicorn, left to its defaults, believes X-Forwarded-For
from any loopback peer, which let one client on the same host pass as any number of
addresses. With no trusted proxies its proxy-header handling is off altogether; with some,
only those peers' X-Forwarded-For (and X-Forwarded-Proto) are believed.

Limits: uvicorn's httptools protocol with a header budget, a header-read deadline and a
connection cap (marketplace/http_limits.py); the keep-alive timeout is uvicorn's own.
"""

from __future__ import annotations

from typing import Any

from marketplace.http_limits import limited_protocol
from marketplace.settings import Settings


def server_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.run`` or ``uvicorn.Config`` that every way of
    serving the API shares."""
    return {
        "proxy_headers": bool(settings.trusted_proxies),
        # An explicit list, never None: None makes uvicorn read FORWARDED_ALLOW_IPS.
        "forwarded_allow_ips": list(settings.trusted_proxies),
        "access_log": False,
        "http": limited_protocol(settings),
        "timeout_keep_alive": settings.http_keepalive_seconds,
    }
