"""create_app(settings) -> Litestar: routes, lifespan, dependency injection, error handler."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

from litestar import Litestar, Request
from litestar.datastructures import MutableScopeHeaders
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from marketplace import health, ratelimit
from marketplace.accounts import routes as accounts
from marketplace.auctions import routes as auctions
from marketplace.audit import routes as audit
from marketplace.auth import current_caller
from marketplace.awards import routes as awards
from marketplace.bids import routes as bids
from marketplace.bodies import strict_body
from marketplace.clarifications import routes as clarifications
from marketplace.db import create_pool
from marketplace.deliveries import routes as deliveries
from marketplace.github import routes as github
from marketplace.integrity import routes as integrity
from marketplace.notifications import routes as notifications
from marketplace.ocds import routes as ocds
from marketplace.openapi import ProblemJsonRenderPlugin
from marketplace.openapi_ui import LocalSwaggerRenderPlugin
from marketplace.payments import routes as payments
from marketplace.problems import EXCEPTION_HANDLERS
from marketplace.redis import create_redis
from marketplace.reviews import routes as reviews
from marketplace.security_headers import security_headers_hook
from marketplace.settings import Settings, with_secret_key
from marketplace.shutdown import close_pool
from marketplace.streams import routes as streams
from marketplace.streams.hub import Hub
from marketplace.transparency import routes as transparency
from marketplace.transparency.prom import observe_request
from marketplace.transparency.spend import keep_spend_days
from marketplace.web import routes as web_routes
from marketplace.web import template_config
from marketplace.webhooks import routes as webhooks


def request_middleware(app: ASGIApp) -> ASGIApp:
    """Give each HTTP request an id (the client's X-Request-ID if sane) and echo it back;
    count and time the request for /metrics. One wrapper for both: every layer around
    ``send`` costs each request a call."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # type: ignore[comparison-overlap]
            await app(scope, receive, send)
            return
        started = time.perf_counter()
        sent = next((v for k, v in scope["headers"] if k == b"x-request-id"), b"")
        text = sent.decode("latin-1")
        rid = text if 0 < len(text) <= 64 and text.isprintable() else uuid.uuid4().hex
        scope["request_id"] = rid  # type: ignore[typeddict-unknown-key]
        status = 500  # if the app fails before answering, the server answers 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableScopeHeaders.from_message(message)["X-Request-ID"] = rid
            await send(message)

        try:
            await app(scope, receive, send_and_note)
        finally:
            observe_request(scope, status, time.perf_counter() - started)

    return middleware


API_ROUTES = [
    *health.ROUTES,
    *accounts.ROUTES,
    *github.ROUTES,
    *audit.ROUTES,
    *auctions.ROUTES,
    *bids.ROUTES,
    *clarifications.ROUTES,
    *deliveries.ROUTES,
    *reviews.ROUTES,
    *payments.ROUTES,
    *awards.ROUTES,
    *streams.ROUTES,
    *transparency.ROUTES,
    *ocds.ROUTES,
    *integrity.ROUTES,
    *notifications.ROUTES,
    *webhooks.ROUTES,
]


def create_app(settings: Settings, database_url: str, redis_url: str) -> Litestar:
    settings = with_secret_key(settings)

    def provide_settings() -> Settings:
        return settings

    return Litestar(
        route_handlers=[*API_ROUTES, *web_routes(settings)],
        lifespan=[_lifespan(settings, database_url, redis_url)],
        dependencies={
            "pool": Provide(provide_pool, sync_to_thread=False),
            "redis": Provide(provide_redis, sync_to_thread=False),
            "hub": Provide(provide_hub, sync_to_thread=False),
            "settings": Provide(provide_settings, sync_to_thread=False),
            "caller": Provide(current_caller, sync_to_thread=False),
        },
        middleware=[request_middleware],
        # App-wide, so routing's own 404 and 405 answers carry the headers too.
        before_send=[security_headers_hook(settings)],
        before_request=strict_body,
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        template_config=template_config(),
        openapi_config=OpenAPIConfig(
            title="Micro-purchase marketplace",
            version="0.1.0",
            description="Timed reverse auctions for small software tasks under a price cap.",
            path="/schema",
            render_plugins=[LocalSwaggerRenderPlugin(), ProblemJsonRenderPlugin()],
        ),
        request_max_body_size=1_000_000,
        debug=False,
    )


def _lifespan(
    settings: Settings, database_url: str, redis_url: str
) -> Callable[[Litestar], contextlib.AbstractAsyncContextManager[None]]:
    """What the API holds while it runs (its pools, Redis, the live feeds' hub), opened at
    start-up and closed at shutdown."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        app.state.pool = await create_pool(database_url, name="marketplace-api")
        # Bids have connections of their own, fewer than the general pool's: a bid's work
        # in PostgreSQL is CPU and the auction's row locks, so sessions beyond what the
        # CPUs can run only queue on those locks, where waiting costs each of them a sleep
        # and a wake-up (docs/performance.md, "a pool of its own for bids"); here they queue in
        # the pool. Bids (their token lookups included) never wait for a general connection
        # that an audit export or a slow page holds.
        app.state.bid_pool = await create_pool(
            database_url, min_size=1, max_size=settings.bid_pool_size, name="marketplace-bids"
        )
        await keep_spend_days(app.state.pool, settings)
        app.state.redis = create_redis(redis_url)
        app.state.settings = settings
        app.state.bid_counts = ratelimit.BatchedCounts(app.state.redis)
        app.state.hub = Hub(app.state.redis)  # one Redis reader for all live feeds
        await app.state.hub.start()
        try:
            yield
        finally:
            await app.state.hub.stop()
            await app.state.bid_counts.flush()
            await app.state.redis.aclose()
            await close_pool(app.state.bid_pool)
            await close_pool(app.state.pool)

    return lifespan


def provide_pool(request: Request[Any, Any, Any]) -> Any:
    return request.app.state.pool


def provide_redis(request: Request[Any, Any, Any]) -> Any:
    return request.app.state.redis


def provide_hub(request: Request[Any, Any, Any]) -> Any:
    return request.app.state.hub
