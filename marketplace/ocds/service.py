"""Open contracting data read from the database: release packages, record packages and
compiled releases, streamed auction by auction in constant memory.

Everything is read in one REPEATABLE READ, read-only transaction, in pages of auctions, so
an export of 100,000 auctions holds one page in memory, and its releases agree with each
other. The package's ``publishedDate`` is the time of the latest event it could contain,
so the same data gives the same bytes, and the ETag (``fingerprint``) names them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from typing import Any

import msgspec

from marketplace import outbox
from marketplace.audit.export import Query
from marketplace.db import Conn, Pool, Row
from marketplace.events import Event
from marketplace.ocds import assemble, mapping, queries
from marketplace.ocds.merge import compile_releases
from marketplace.settings import Settings

PAGE = 500
VERSION = "1.1"
EXTENSIONS = [
    "https://raw.githubusercontent.com/open-contracting-extensions/ocds_bid_extension/v1.1.5/extension.json",
    "https://raw.githubusercontent.com/open-contracting-extensions/ocds_techniques_extension/master/extension.json",
]
LICENSE = "https://creativecommons.org/publicdomain/zero/1.0/"
_encoder = msgspec.json.Encoder()


def base_url(settings: Settings) -> str:
    """Where the public reaches the service (settings built without the environment, as in
    tests, have no public URL: then the listening address)."""
    return settings.public_url or f"http://{settings.host}:{settings.port}"


def context_of(settings: Settings) -> mapping.Context:
    return mapping.Context(
        prefix=settings.ocds_prefix,
        currency=settings.currency,
        public_url=base_url(settings),
        github_url=settings.github_url,
    )


def _facts(row: Row, bidders: list[Any], dues: list[Any]) -> mapping.AuctionFacts:
    return mapping.AuctionFacts(
        auction_id=row["id"],
        department_id=row["department_id"],
        department_name=row["department_name"],
        title=row["title"],
        summary=row["summary"] or "",
        description=row["description"] or "",
        acceptance=row["acceptance"] or "",
        repo=row["repo"],
        issue_number=row["issue_number"],
        type=row["type"],
        price_cap_cents=row["price_cap_cents"],
        skills=tuple(row["skills"] or ()),
        previous_auction_id=row["copied_from"],
        delivery_due_at=row["delivery_due_at"],
        award_due_at={d["id"]: d["delivery_due_at"] for d in dues},
        bidders=tuple(
            mapping.Bidder(
                alias_number=b["alias_number"],
                user_id=b["bidder_id"],
                name=b["name"],
                kind=b["verification_kind"],
            )
            for b in bidders
        ),
    )


def _grouped(rows: list[Any]) -> dict[int, list[Any]]:
    out: dict[int, list[Any]] = defaultdict(list)
    for row in rows:
        out[row["auction_id"]].append(row)
    return out


async def auction_releases(
    conn: Conn, context: mapping.Context, query: Query
) -> AsyncIterator[list[dict[str, Any]]]:
    """Each published auction's releases dated within the selection (auctions with none
    left out), in auction id order. ``conn`` should be inside a snapshot transaction."""
    after = 0
    while True:
        rows = await queries.published_auctions(conn, after, PAGE, query.auction_id)
        if not rows:
            return
        ids = [r["id"] for r in rows]
        events = _grouped(await queries.events_of(conn, ids, query.until))
        bidders = _grouped(await queries.bidders_of(conn, ids))
        dues = _grouped(await queries.award_deadlines(conn, ids))
        for row in rows:
            stamped: list[Event] = [
                outbox.stamped(e["id"], e["created_at"], e["payload"]) for e in events[row["id"]]
            ]
            facts = _facts(row, bidders[row["id"]], dues[row["id"]])
            releases = assemble.releases(facts, stamped, context)
            if query.since is not None:
                since = query.since
                releases = [r for r in releases if dt.datetime.fromisoformat(r["date"]) >= since]
            if releases:
                yield releases
        after = ids[-1]


async def fingerprint(pool: Pool, settings: Settings, *parts: object) -> tuple[str, str]:
    """The ETag of an answer built from the current data with these parameters, and the
    packages' publishedDate."""
    async with pool.acquire() as conn:
        row = await queries.fingerprint(conn)
    last_event = row["last_event"] if row else 0
    last_at: dt.datetime = row["last_at"] if row else dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    text = "|".join(
        str(p)
        for p in (last_event, settings.ocds_prefix, settings.currency, base_url(settings), *parts)
    )
    return f'"{hashlib.sha256(text.encode()).hexdigest()[:32]}"', mapping.iso(last_at)


def package_head(settings: Settings, uri: str, published_date: str) -> dict[str, Any]:
    return {
        "uri": uri,
        "version": VERSION,
        "extensions": EXTENSIONS,
        "publisher": {"name": "Micro-purchase marketplace", "uri": base_url(settings)},
        "publishedDate": published_date,
        "license": LICENSE,
        "publicationPolicy": f"{base_url(settings)}/open-data",
    }


def _open(head: dict[str, Any], key: str) -> bytes:
    """The head of a package, up to the opening of its ``key`` array."""
    return _encoder.encode(head)[:-1] + f',"{key}":['.encode()


@contextlib.asynccontextmanager
async def snapshot(pool: Pool) -> AsyncIterator[Any]:
    async with (
        pool.acquire() as conn,
        conn.transaction(isolation="repeatable_read", readonly=True),
    ):
        yield conn


async def release_package(
    conn: Conn,
    settings: Settings,
    query: Query,
    uri: str,
    published_date: str,
    on_releases: Callable[[int], None] | None = None,
) -> AsyncIterator[bytes]:
    """A release package of the selection, in chunks."""
    buf = bytearray(_open(package_head(settings, uri, published_date), "releases"))
    first = True
    async for releases in auction_releases(conn, context_of(settings), query):
        for release in releases:
            if not first:
                buf.extend(b",")
            first = False
            _encoder.encode_into(release, buf, -1)
        if on_releases:
            on_releases(len(releases))
        if len(buf) >= 64 * 1024:
            yield bytes(buf)
            buf.clear()
    buf.extend(b"]}")
    yield bytes(buf)


async def stream_release_package(
    pool: Pool, settings: Settings, query: Query, uri: str, published_date: str
) -> AsyncIterator[bytes]:
    async with snapshot(pool) as conn:
        async for chunk in release_package(conn, settings, query, uri, published_date):
            yield chunk


async def stream_compiled(pool: Pool, settings: Settings, query: Query) -> AsyncIterator[bytes]:
    """Compiled releases, one JSON line per auction with releases in the selection."""
    async with snapshot(pool) as conn:
        buf = bytearray()
        async for releases in auction_releases(conn, context_of(settings), query):
            _encoder.encode_into(compile_releases(releases), buf, -1)
            buf.extend(b"\n")
            if len(buf) >= 64 * 1024:
                yield bytes(buf)
                buf.clear()
        yield bytes(buf)


async def record_package(
    pool: Pool, settings: Settings, auction_id: int, uri: str, published_date: str
) -> dict[str, Any] | None:
    """The record package of one auction, or None when it has published nothing."""
    found: list[dict[str, Any]] = []
    async with snapshot(pool) as conn:
        async for releases in auction_releases(
            conn, context_of(settings), Query(auction_id=auction_id)
        ):
            found = releases
    if not found:
        return None
    record = {
        "ocid": found[0]["ocid"],
        "releases": found,
        "compiledRelease": compile_releases(found),
    }
    return {**package_head(settings, uri, published_date), "records": [record]}
