"""How the commands run as processes: Ctrl-C and SIGTERM, what children inherit, stopping
them in order, and the start-up tuning each process gets."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from typing import Any, NoReturn

from marketplace.embedded import Services


class Stopped(SystemExit):
    """Raised by SIGTERM: unwinds like Ctrl-C so `finally` blocks (stopping servers) run."""


def exit_on_sigterm() -> None:
    """Turn SIGTERM into an exception; Python's default action would skip every `finally`."""

    def handler(signum: int, _: Any) -> NoReturn:
        raise Stopped(128 + signum)

    signal.signal(signal.SIGTERM, handler)


def stop_on_sigint() -> None:
    """Ctrl-C stops a command even when it started with SIGINT ignored. A shell without job
    control starts its background jobs so (``script &``, some CI runners), Python then keeps
    ignoring it, and so did every process ``up`` started: Ctrl-C and SIGINT did nothing."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@contextlib.contextmanager
def stop_is_success() -> Iterator[None]:
    """For long-running commands, a stop asked by SIGINT or SIGTERM is a normal end."""
    try:
        yield
    except (KeyboardInterrupt, Stopped):
        logging.getLogger(__name__).info("stopping on request")
        ignore_further_signals()


def ignore_further_signals() -> None:
    """Once stopping, a second Ctrl-C or SIGTERM must not cut short stopping the servers."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def env_for_children(svc: Services) -> dict[str, str]:
    env = dict(os.environ)
    env["MARKETPLACE_DATABASE_URL"] = svc.database_url
    env["MARKETPLACE_REDIS_URL"] = svc.redis_url
    return env


def fast_event_loop() -> None:
    """uvloop for the worker processes, as uvicorn already uses for the API: the relay and
    the consumers are a round trip to Redis or PostgreSQL per step, and uvloop spends
    less of the CPU on each (docs/performance.md)."""
    try:
        import uvloop
    except ImportError:  # not built for this platform: asyncio's own loop works the same
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def freeze_startup_objects() -> None:
    """Leave what start-up built (modules, the app, its routes and schemas) out of the
    collector's full passes. Under load, objects of requests in flight survive the young
    collections, so a full collection comes every few seconds, and it walked every object
    the process holds: 70-80 ms with the event loop stopped, every bid in flight waiting
    (docs/performance.md). Frozen objects are still freed by reference counting; only
    cycles among them stay, and start-up objects live as long as the process anyway."""
    gc.collect()
    gc.freeze()


def stop_children(children: dict[str, subprocess.Popen[bytes]]) -> None:
    """SIGTERM the API and the worker, give them 15 s for a graceful stop, then kill them
    (and say so: what they had not finished is left to the next start)."""
    for child in children.values():
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 15
    for name, child in children.items():
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            logging.getLogger(__name__).warning("%s did not stop within 15 s; killed", name)
            child.kill()
            child.wait()
