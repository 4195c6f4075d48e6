"""Shared set-up of the demo tests: the GitHub sandbox and a real worker against it, as
``marketplace up --demo`` runs them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest

from marketplace.sandbox.server import Sandbox
from marketplace.settings import Settings
from workers.main import build_worker


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as running:
        yield running


@pytest.fixture
async def worker(settings: Settings) -> AsyncIterator[None]:
    """A real arq worker (jobs, sweeps, relay, consumers) on the test's settings."""
    assert settings.database_url and settings.redis_url
    running = build_worker(
        settings, settings.database_url, settings.redis_url, handle_signals=False
    )
    task = asyncio.create_task(running.async_run())
    yield
    await running.close()
    task.cancel()
