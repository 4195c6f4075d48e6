"""How the API's server stops (marketplace/server.py), driven in-process over a loopback
socket so that the order of a stop's steps is the test's, not the scheduler's.

The command-line side (Ctrl-C once and twice to ``up`` with a live feed open) is in
tests/test_embedded_lifecycle.py; here each ordering that a second Ctrl-C can produce is
forced.
"""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn

from marketplace.app import create_app
from marketplace.server import ApiServer, server_options
from tests.helpers import loopback_socket


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
