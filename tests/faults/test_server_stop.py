"""How the API's server stops (marketplace/server.py), driven in-process over a loopback
socket so that the order of a stop's steps is the test's, not the scheduler's.

The command-line side (Ctrl-C once and twice to ``up`` with a live feed open) is in
tests/deploy/test_embedded_lifecycle.py; here each ordering that a second Ctrl-C can produce is
forced.
"""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn

from marketplace.app import create_app
from marketplace.redis import auction_stream
from marketplace.server import ApiServer, server_options
from marketplace.streams import service
from tests.helpers import eventually, loopback_socket


async def _started(settings: Any) -> tuple[ApiServer, Any, asyncio.Task[None], Any]:
    app = create_app(settings, settings.database_url, settings.redis_url)
    config = uvicorn.Config(app, log_level="warning", lifespan="on", **server_options(settings))
    server = ApiServer(config, app)
    sock = loopback_socket()
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    return server, app, task, sock


async def test_a_forced_exit_still_runs_the_apps_shutdown(settings: Any) -> None:
    """A second Ctrl-C that lands before uvicorn reached the app's shutdown sets its
    force-exit flag, and plain uvicorn then skips the shutdown: the pools and Redis were
    left to be cancelled as the loop closed (a CancelledError traceback in the log)."""
    server, app, task, sock = await _started(settings)
    pool, bid_pool = app.state.pool, app.state.bid_pool
    server.should_exit = True
    server.force_exit = True  # both presses seen before the stop began
    await asyncio.wait_for(task, 30)
    sock.close()
    assert pool.is_closing() and bid_pool.is_closing()


async def test_stop_runs_the_apps_shutdown_once(settings: Any) -> None:
    server, app, task, sock = await _started(settings)
    calls = 0
    shutdown = server.lifespan.shutdown

    async def counted() -> None:
        nonlocal calls
        calls += 1
        await shutdown()

    server.lifespan.shutdown = counted
    server.should_exit = True
    await asyncio.wait_for(task, 30)
    sock.close()
    assert calls == 1
    assert app.state.pool.is_closing()


async def _feed_request(base_port: int, path: str) -> tuple[asyncio.StreamReader, Any]:
    reader, writer = await asyncio.open_connection("127.0.0.1", base_port)
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n".encode()
    )
    await writer.drain()
    return reader, writer


async def test_a_feed_asked_for_as_the_stop_begins_ends_too(
    settings: Any, monkeypatch: Any
) -> None:
    """A feed request already in flight when the stop begins (still reading the database)
    subscribes after the open feeds were ended: it must end at once too, or the server waits
    on it without end."""
    entered, gate = asyncio.Event(), asyncio.Event()

    async def slow_open(pool: Any, caller: Any, auction_id: int) -> bool:
        entered.set()
        await gate.wait()
        return False

    monkeypatch.setattr(service, "open_feed", slow_open)
    server, app, task, sock = await _started(settings)
    reader, writer = await _feed_request(sock.getsockname()[1], "/api/auctions/1/events")
    await asyncio.wait_for(entered.wait(), 10)
    server.should_exit = True

    async def ending() -> bool:  # the stop has ended the feeds that were open
        return bool(app.state.hub.ending)

    await eventually(ending, "the stop to end the open feeds")
    gate.set()
    await asyncio.wait_for(task, 30)
    answer = await asyncio.wait_for(reader.read(), 10)
    assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"0\r\n\r\n"), answer[-200:]
    writer.close()
    sock.close()


async def test_a_feed_whose_client_reads_nothing_is_cancelled_by_the_shutdown_deadline(
    settings: Any, monkeypatch: Any
) -> None:
    """A feed's write that waits on a client that reads nothing never comes back to see its
    feed ended, and its connection never closes: the shutdown deadline (SHUTDOWN_SECONDS)
    cancels it, so the server stops."""

    async def open_feed(pool: Any, caller: Any, auction_id: int) -> bool:
        return False

    monkeypatch.setattr(service, "open_feed", open_feed)
    server, app, task, sock = await _started(settings)
    _, writer = await _feed_request(sock.getsockname()[1], "/api/auctions/1/events")

    async def armed() -> bool:  # the hub reads the auction's stream for the feed
        streams = app.state.hub._streams.values()
        return bool(len(app.state.hub)) and all(s.cursor is not None for s in streams)

    await eventually(armed, "the feed to be armed")
    # Far more than the sockets buffer, in fewer entries than make a slow consumer dropped.
    big = b"x" * 60_000
    redis = app.state.redis
    for n in range(1, 401):
        await redis.xadd(auction_stream(1), {"type": "bid.placed", "data": big}, id=f"{n}-0")
    await asyncio.sleep(1.0)  # the hub hands them on; the feed's one write blocks
    server.should_exit = True
    await asyncio.wait_for(task, 30)
    writer.close()
    sock.close()
