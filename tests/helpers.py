"""Shared test helpers: acting as users of each role through the HTTP API."""

from __future__ import annotations

import asyncio
import contextlib
import html as html_lib
import itertools
import re
import socket
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import msgspec

from marketplace import shutdown
from marketplace.accounts.admin import create_user_with_token
from marketplace.db import create_pool
from marketplace.notifications import messages
from marketplace.outbox import stamped
from marketplace.redis import create_redis
from marketplace.settings import Settings
from marketplace.shutdown import close_pool
from marketplace.streams.consumer import StreamConsumer, read_event
from workers.relay import relay_forever

# What an auction is closed with when a test has no settings of its own at hand: the
# deployment's defaults (UTC, no holidays), as the test settings also have.
CLOSE_SETTINGS = Settings()

_emails = itertools.count(1)


@dataclass
class User:
    id: int
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


class Api:
    """A test client plus an admin, with shortcuts to make departments and users."""

    def __init__(self, client: Any, admin: User) -> None:
        self.client = client
        self.admin = admin

    @classmethod
    async def start(cls, client: Any, database_url: str) -> Api:
        user_id, token = await create_user_with_token(
            database_url, f"admin{next(_emails)}@example.gov", "Admin", ["admin"], None
        )
        return cls(client, User(user_id, token))

    async def department(self, name: str | None = None) -> int:
        r = await self.client.post(
            "/api/departments",
            json={"name": name or f"Department {next(_emails)}"},
            headers=self.admin.headers,
        )
        assert r.status_code == 201, r.text
        return int(r.json()["id"])

    async def user(self, *roles: str, department_id: int | None = None) -> User:
        body: dict[str, Any] = {
            "email": f"user{next(_emails)}@example.gov",
            "name": f"User {'/'.join(roles)}",
            "roles": list(roles),
        }
        if department_id is not None:
            body["department_id"] = department_id
        r = await self.client.post("/api/users", json=body, headers=self.admin.headers)
        assert r.status_code == 201, r.text
        user_id = r.json()["id"]
        r = await self.client.post(f"/api/users/{user_id}/tokens", headers=self.admin.headers)
        assert r.status_code == 201, r.text
        return User(user_id, r.json()["token"])

    async def verified_vendor(self) -> User:
        vendor = await self.user("vendor")
        r = await self.client.post(
            f"/api/vendors/{vendor.id}/verification",
            json={"status": "verified", "reason": "registry checked"},
            headers=self.admin.headers,
        )
        assert r.status_code == 201, r.text
        return vendor

    async def buyer(self, department_id: int | None = None) -> User:
        return await self.user("buyer", department_id=department_id or await self.department())


def iso_in(seconds: float) -> str:
    """An ISO 8601 UTC timestamp ``seconds`` from now."""
    import datetime as dt

    return (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)).isoformat()


def auction_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "Fix the date picker on the permits form",
        "summary": "The date picker rejects valid dates in Safari.",
        "description": "Steps to reproduce... Acceptance: tests pass, works in Safari 17.",
        "repo": "city-of-x/permits",
        "issue_number": 12,
        "type": "reverse",
        "price_cap_cents": 350_000,
        "min_decrement_cents": 100,
        "starts_at": iso_in(0),
        "ends_at": iso_in(3600),
        "delivery_business_days": 10,
        "skills": ["python", "javascript"],
    }
    body.update(overrides)
    return body


async def published_auction(api: Api, buyer: User, **overrides: Any) -> dict[str, Any]:
    r = await api.client.post(
        "/api/auctions", json=auction_body(**overrides), headers=buyer.headers
    )
    assert r.status_code == 201, r.text
    auction_id = r.json()["id"]
    r = await api.client.post(f"/api/auctions/{auction_id}/publish", headers=buyer.headers)
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    return result


async def bid(api: Api, vendor: User, auction_id: int, amount: Any, **headers: str) -> Any:
    return await api.client.post(
        f"/api/auctions/{auction_id}/bids",
        json={"amount_cents": amount},
        headers={**vendor.headers, **headers},
    )


async def end_auction_now(db: Any, auction_id: int, seconds_ago: float = 0.001) -> None:
    """Move an auction's end into the past (its start too, to keep start < end)."""
    await db.execute(
        """UPDATE auctions SET starts_at = LEAST(starts_at, now() - interval '1 hour'),
                  ends_at = now() - $2 * interval '1 second'
           WHERE id = $1""",
        auction_id,
        seconds_ago,
    )


async def stop_tasks(tasks: list[asyncio.Task[Any]], within: float = shutdown.STOP_SECONDS) -> None:
    """Stop a test's background loops within a bound, re-raising the first that failed."""
    for exc in await shutdown.stop_tasks(tasks, within):
        raise exc


CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    """The CSRF token of a page's form."""
    match = CSRF.search(html)
    assert match, "the page has no CSRF field"
    return match.group(1)


CONFIRM_FORM = re.compile(r'<form method="post" action="([^"]+)"[^>]*>(.*?)</form>', re.S)
HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


def question_of(html: str) -> str | None:
    """The question a confirmation page asks, or None when the page is not one."""
    match = re.search(r'id="confirm-question"[^>]*><strong>(.*?)</strong>', html, re.S)
    return html_lib.unescape(match.group(1)) if match else None


async def answer_yes(client: Any, page: Any) -> Any:
    """Agree on a confirmation page as a browser without script does: send its form."""
    assert question_of(page.text), "not a confirmation page"
    form = next(m for m in CONFIRM_FORM.finditer(page.text) if 'name="confirmed"' in m.group(2))
    fields = [
        (html_lib.unescape(k), html_lib.unescape(v)) for k, v in HIDDEN.findall(form.group(2))
    ]
    return await client.post(
        html_lib.unescape(form.group(1)), data=dict(fields), follow_redirects=False
    )


async def sign_in(client: Any, user: User) -> None:
    """Sign ``client``'s browser session in to the web pages with ``user``'s token."""
    page = await client.get("/signin")
    assert page.status_code == 200
    r = await client.post(
        "/signin",
        data={"token": user.token, "csrf_token": csrf_of(page.text), "next": "/"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/"


async def form_post(client: Any, page: str, action: str, data: dict[str, str]) -> Any:
    """Open ``page``, then send a form to ``action`` with the page's CSRF token; agree when
    it asks for confirmation (tests/web/test_web_confirmations.py tests the asking)."""
    opened = await client.get(page)
    assert opened.status_code == 200, opened.text
    r = await client.post(
        action, data={**data, "csrf_token": csrf_of(opened.text)}, follow_redirects=False
    )
    return await answer_yes(client, r) if question_of(r.text) else r


def loopback_socket() -> socket.socket:
    """A TCP socket bound to a free 127.0.0.1 port, for a server to serve on."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    return sock


@asynccontextmanager
async def served(settings: Any, sock: socket.socket | None = None) -> AsyncIterator[str]:
    """The app for ``settings`` served by uvicorn, configured as ``marketplace serve`` is
    (marketplace/server.py), on ``sock`` or a free loopback port; yields its base URL."""
    import uvicorn

    from marketplace.app import create_app
    from marketplace.server import ApiServer, server_options

    assert settings.database_url and settings.redis_url
    app = create_app(settings, settings.database_url, settings.redis_url)
    sock = sock or loopback_socket()
    config = uvicorn.Config(
        app,
        log_level="warning",
        lifespan="on",
        **{**server_options(settings), "timeout_graceful_shutdown": 2},
    )
    server = ApiServer(config, app)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task
        sock.close()


async def confirm_address(client: Any, db: Any, email: str) -> None:
    """Open the confirmation link mailed to a self sign-up at ``email`` and press its button,
    as its owner would."""
    body = await db.fetchval(
        "SELECT body FROM mail_outbox WHERE to_address = $1 AND subject = $2"
        " ORDER BY id DESC LIMIT 1",
        email,
        "Confirm your e-mail address",
    )
    match = re.search(r"/confirm-email\?token=([A-Za-z0-9_-]+)", body or "")
    assert match, f"no confirmation link was mailed to {email}"
    page = await client.get("/confirm-email", params={"token": match.group(1)})
    assert page.status_code == 200, page.text
    r = await client.post(
        "/confirm-email", data={"token": match.group(1), "csrf_token": csrf_of(page.text)}
    )
    assert r.status_code == 200 and "Your e-mail address is confirmed" in r.text, r.text


async def deliver_events(pool: Any, settings: Any) -> None:
    """Hand every outbox event not yet handled to the notifications consumer (mail and
    in-app notifications), in order, as the relay and the stream would; the stream path
    itself is tested in test_notifications.py."""
    consumer = StreamConsumer(pool, None, messages.GROUP, messages.Mailer(settings))
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            """SELECT id, type, payload, created_at FROM outbox o
               WHERE NOT EXISTS (SELECT 1 FROM consumer_processed p
                                 WHERE p.consumer = $1 AND p.event_id = o.id)
               ORDER BY id""",
            messages.GROUP,
        )
    for row in rows:
        raw = msgspec.json.encode(stamped(row["id"], row["created_at"], bytes(row["payload"])))
        assert await consumer.apply(read_event(row["type"], raw))


async def eventually(check: Any, what: str, within: float = 90.0) -> Any:
    """Poll ``check`` until it returns something truthy, and return it. The deadline is
    generous: this waits for work to happen, it does not time it."""
    loop = asyncio.get_running_loop()
    end = loop.time() + within
    while True:
        found = await check()
        if found:
            return found
        if loop.time() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (for servers a test starts)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def worker_ctx(settings: Settings, redis_url: str | None = None) -> AsyncIterator[Any]:
    """A context like the worker's (workers/main.py)."""
    assert settings.database_url and settings.redis_url
    ctx: dict[str, Any] = {
        "settings": settings,
        "pool": await create_pool(settings.database_url, min_size=1, max_size=4),
        "redis_client": create_redis(redis_url or settings.redis_url),
    }
    try:
        yield ctx
    finally:
        await ctx["redis_client"].aclose()
        await close_pool(ctx["pool"])


@contextlib.asynccontextmanager
async def running_relays(ctx: dict[str, Any], count: int = 1) -> AsyncIterator[None]:
    tasks = [asyncio.create_task(relay_forever(ctx)) for _ in range(count)]
    try:
        yield
    finally:
        await stop_tasks(tasks)


@contextlib.asynccontextmanager
async def running(*loops: Callable[[], Coroutine[Any, Any, None]]) -> AsyncIterator[None]:
    tasks = [asyncio.create_task(loop()) for loop in loops]
    try:
        yield
    finally:
        await stop_tasks(tasks)


async def running_relays_forever(ctx: dict[str, Any]) -> None:
    async with running_relays(ctx):
        await asyncio.Event().wait()


@contextlib.contextmanager
def http_on_loopback(handler: type[BaseHTTPRequestHandler]) -> Iterator[int]:
    """A threaded HTTP server on 127.0.0.1 answering with ``handler``; yields its port."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
