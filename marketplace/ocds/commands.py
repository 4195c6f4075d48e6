"""The work behind `marketplace ocds export --from --to FILE`."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import asyncpg

from marketplace.audit.commands import Progress
from marketplace.audit.export import Query
from marketplace.errors import DomainError
from marketplace.ocds import mapping, queries, service
from marketplace.settings import Settings


async def export_to_file(
    database_url: str,
    settings: Settings,
    query: Query,
    out: BinaryIO,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Write a release package straight from the database, in one snapshot; returns the
    number of releases. ``progress(auctions done, auctions)`` as it goes."""
    conn = await asyncpg.connect(database_url, server_settings={"timezone": "UTC"})
    try:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            total = await queries.count_published(conn, query.auction_id)
            row = await queries.fingerprint(conn)
            published = mapping.iso(row["last_at"]) if row else "1970-01-01T00:00:00Z"
            done = releases = 0

            def advance(count: int) -> None:
                nonlocal done, releases
                done += 1
                releases += count
                if progress is not None:
                    progress(done, total)

            uri = f"{service.base_url(settings)}/api/ocds/releases"
            async for chunk in service.release_package(
                conn, settings, query, uri, published, on_releases=advance
            ):
                out.write(chunk)
            if progress is not None:
                progress(total, total)
    finally:
        await conn.close()
    return releases


def run_export(
    settings: Settings, database_url: str, since: str | None, until: str | None, output: Path
) -> int:
    """0 on success, 2 on a bad period."""
    try:
        query = Query.parse(None, since, until)
    except DomainError as exc:
        print(f"marketplace ocds export: {exc.detail}", file=sys.stderr)
        return 2
    with output.open("wb") as out:
        count = asyncio.run(
            export_to_file(database_url, settings, query, out, Progress(unit="auctions"))
        )
    print(f"wrote {count} releases to {output}", file=sys.stderr)
    return 0
