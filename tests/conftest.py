"""Test harness: real PostgreSQL and Redis (embedded by default, MARKETPLACE_*_URL when set).

The schema is built once by the migration runner into a template database; each test
gets its own database cloned from it and an emptied Redis database.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from marketplace.app import create_app
from marketplace.embedded import services
from marketplace.migrate import migrate
from marketplace.redis import create_redis
from marketplace.settings import Settings, load_settings
from tests.fakes.github import FakeGitHub
from tests.helpers import Api, served

# The fake GitHub's registered OAuth callback: tests that sign in with GitHub serve the app
# as http://marketplace.test (or register their own URL on the fake).
OAUTH_CALLBACK = "http://marketplace.test/auth/github/callback"

# Fixtures of shared set-ups, for every test module (a module may override one).
pytest_plugins = ("tests.github_scene", "tests.webhook_receiver")

_counter = itertools.count()


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


def with_redis_db(url: str, db: int) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{db}"))


class Servers:
    def __init__(self, database_url: str, redis_url: str, data_dir: Path) -> None:
        self.database_url = database_url
        self.redis_url = redis_url
        self.data_dir = data_dir
        self.template = f"mp_tmpl_{os.getpid()}"


@pytest.fixture(scope="session")
def servers() -> Iterator[Servers]:
    data_dir = Path(tempfile.mkdtemp(prefix="mpt"))
    env = load_settings()
    settings = Settings(database_url=env.database_url, redis_url=env.redis_url, data_dir=data_dir)
    with services(settings) as svc:
        redis_url = (
            svc.redis_url
            if svc.started_here or not env.redis_url
            else with_redis_db(svc.redis_url, 15)
        )
        yield Servers(svc.database_url, redis_url, data_dir)


@pytest.fixture(scope="session")
async def template(servers: Servers) -> AsyncIterator[str]:
    admin = await asyncpg.connect(servers.database_url)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {servers.template} WITH (FORCE)")
        await admin.execute(f"CREATE DATABASE {servers.template}")
        conn = await asyncpg.connect(with_database(servers.database_url, servers.template))
        try:
            await migrate(conn)
        finally:
            await conn.close()
        yield servers.template
        await admin.execute(f"DROP DATABASE IF EXISTS {servers.template} WITH (FORCE)")
    finally:
        await admin.close()


@pytest.fixture
async def database_url(servers: Servers, template: str) -> AsyncIterator[str]:
    name = f"mp_t_{os.getpid()}_{next(_counter)}"
    admin = await asyncpg.connect(servers.database_url)
    try:
        await admin.execute(f"CREATE DATABASE {name} TEMPLATE {template}")
        yield with_database(servers.database_url, name)
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await admin.close()


@pytest.fixture
async def redis_url(servers: Servers) -> AsyncIterator[str]:
    client = create_redis(servers.redis_url)
    await client.flushdb()
    await client.aclose()
    yield servers.redis_url


@pytest.fixture
def settings(servers: Servers, database_url: str, redis_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        redis_url=redis_url,
        data_dir=servers.data_dir,
        min_auction_seconds=1,
        signup_limit_per_minute=1000,
        bid_limit_per_minute=100_000,
        list_limit_per_minute=100_000,
        search_limit_per_minute=100_000,
        sse_per_client=1000,  # tests open many feeds from 127.0.0.1 at once
        sweep_seconds=0.5,
        figures_max_age_seconds=0,  # figures counted on every request: exact after each step
        # Accepted work is paid at once unless a test chooses a hold (the default is a day).
        payment_hold_seconds=0,
        # Tests' webhook receivers listen on loopback; tests/workers/test_webhook_ssrf.py unsets it.
        webhook_allow_private=True,
    )


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(database_url)
    yield conn
    await conn.close()


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[Any]:
    """An asyncpg pool on the test's database, for calling services and jobs directly."""
    from marketplace.db import create_pool

    p = await create_pool(database_url, min_size=1, max_size=6)
    yield p
    await p.close()


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Any]:
    client = create_redis(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[AsyncTestClient[Any]]:
    assert settings.database_url and settings.redis_url
    app = create_app(settings, settings.database_url, settings.redis_url)
    async with AsyncTestClient(app=app) as test_client:
        yield test_client


@pytest.fixture
async def api(client: AsyncTestClient[Any], settings: Settings) -> Api:
    assert settings.database_url
    return await Api.start(client, settings.database_url)


@pytest.fixture
def fake_github() -> Iterator[FakeGitHub]:
    """A real HTTP server on 127.0.0.1 standing in for GitHub (tests/fakes/github.py)."""
    with FakeGitHub(callback_url=OAUTH_CALLBACK) as fake:
        yield fake


@pytest.fixture
async def live_server(settings: Settings) -> AsyncIterator[str]:
    """The app served by uvicorn on a free 127.0.0.1 port (for streaming responses such as
    SSE, which the in-process test client buffers); yields its base URL."""
    async with served(settings) as base:
        yield base


# --- a hung test says where it hangs -------------------------------------------------
# pytest-timeout (pyproject.toml) fails a test that runs too long, but its stack of an
# asyncio test is only the event loop's select(). Shortly before that, print the stack of
# every pending asyncio task, which names the await that never returns.

TASK_DUMP_BEFORE_TIMEOUT = 20.0


def _dump_tasks(name: str) -> None:
    import gc
    import sys

    print(f"\n==== {name} is about to time out; pending asyncio tasks: ====", file=sys.stderr)
    for task in [o for o in gc.get_objects() if isinstance(o, asyncio.Task) and not o.done()]:
        try:
            task.print_stack(file=sys.stderr)
        except Exception as exc:  # it moved on while we read it
            print(f"(a task not readable: {exc})", file=sys.stderr)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    import threading

    marker = item.get_closest_marker("timeout")
    limit = (
        float(marker.args[0])
        if marker and marker.args
        else float(item.config.getini("timeout") or 0)
    )
    timer = None
    if limit > TASK_DUMP_BEFORE_TIMEOUT:
        timer = threading.Timer(limit - TASK_DUMP_BEFORE_TIMEOUT, _dump_tasks, (item.nodeid,))
        timer.daemon = True
        timer.start()
    try:
        yield
    finally:
        if timer is not None:
            timer.cancel()


@pytest.fixture(autouse=True)
async def _no_tasks_left_behind() -> AsyncIterator[None]:
    """Stop whatever asyncio tasks a test left running.

    The event loop lives for the whole session, so a test that timed out (pytest-timeout
    interrupts the loop, not the test's coroutine) or forgot a loop leaves its tasks
    running: a left-behind consumer would go on taking the next tests' events from the
    shared Redis. This fixture is set up first and torn down last, after every other
    fixture of the test has cleaned up after itself.
    """
    import sys

    from marketplace.shutdown import stop_tasks

    before = asyncio.all_tasks()
    yield
    current = asyncio.current_task()
    left = [t for t in asyncio.all_tasks() - before if t is not current and not t.done()]
    if left:
        print(f"\nteardown: stopping {len(left)} task(s) left running", file=sys.stderr)
        await stop_tasks(left)
