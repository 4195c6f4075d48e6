"""A scratch database for one bench run: created beside the server's own, migrated by the
same runner the service uses, and dropped when the run ends."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg


def with_database(url: str, name: str) -> str:
    """``url`` with its database replaced by ``name``."""
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


@contextlib.contextmanager
def scratch_database(admin_url: str, prefix: str, *, keep: bool = False) -> Iterator[str]:
    """Yield the URL of a new, migrated database named ``<prefix>_<pid>`` on the server of
    ``admin_url``; drop it (with any sessions still on it) on exit unless ``keep``."""
    from marketplace.migrate import migrate_url

    name = f"{prefix}_{os.getpid()}"
    url = with_database(admin_url, name)

    async def on_server(statement: str) -> None:
        admin = await asyncpg.connect(admin_url)
        try:
            await admin.execute(statement)
        finally:
            await admin.close()

    async def create() -> None:
        await on_server(f"CREATE DATABASE {name}")
        await migrate_url(url)

    asyncio.run(create())
    try:
        yield url
    finally:
        if not keep:
            asyncio.run(on_server(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
