"""How the API's HTTP server (uvicorn) is configured, for ``marketplace serve`` and tests.

Client addresses: sign-up and sign-in are limited per client address (DESIGN §10), so the
address must be the peer's own unless the peer is a proxy the operator named in
``MARKETPLACE_TRUSTED_PROXIES``. uvicorn, left to its defaults, believes X-Forwarded-For
from any loopback peer, which let one client on the same host pass as any number of
addresses. With no trusted proxies its proxy-header handling is off altogether; with some,
only those peers' X-Forwarded-For (and X-Forwarded-Proto) are believed.

Stopping: ``ApiServer`` ends the live feeds as soon as a stop is asked (a feed never ends by
itself, so uvicorn would wait on every open page until killed) and always runs the app's
own shutdown: uvicorn skips it when a second Ctrl-C lands while it waits on connections.
Requests still running ``SHUTDOWN_SECONDS`` after the stop was asked are cancelled (a
client that reads nothing keeps its connection open for ever otherwise); ``marketplace up``
kills what is left 15 s after the stop.

Limits: uvicorn's httptools protocol with a header budget, a header-read deadline and a
connection cap (marketplace/http_limits.py); the keep-alive timeout is uvicorn's own.
"""

from __future__ import annotations

import socket
from typing import Any

import uvicorn
from litestar import Litestar
from uvicorn.config import STARTUP_FAILURE

from marketplace.http_limits import limited_protocol
from marketplace.settings import Settings

SHUTDOWN_SECONDS = 10  # under the 15 s after which ``up`` kills the API


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
        "timeout_graceful_shutdown": SHUTDOWN_SECONDS,
    }


class ApiServer(uvicorn.Server):
    """uvicorn's server with the API's way of stopping (see the module's docstring)."""

    def __init__(self, config: uvicorn.Config, app: Litestar) -> None:
        super().__init__(config)
        self.app = app

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        hub = getattr(self.app.state, "hub", None)
        if hub is not None:
            hub.end_feeds()
        await super().shutdown(sockets)
        shut = getattr(self.lifespan, "shutdown_event", None)
        if self.force_exit and shut is not None and not shut.is_set():
            await self.lifespan.shutdown()  # skipped by uvicorn on a second Ctrl-C


def serve(app: Litestar, settings: Settings, port: int) -> None:
    """Serve the API until SIGINT or SIGTERM, as ``uvicorn.run`` would; exits with uvicorn's
    start-up failure status when it could not start."""
    config = uvicorn.Config(
        app, host=settings.host, port=port, log_level=settings.log_level,
        **server_options(settings),
    )  # fmt: skip
    server = ApiServer(config, app)
    server.run()
    if not server.started:
        raise SystemExit(STARTUP_FAILURE)
