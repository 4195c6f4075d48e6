"""Browsing and exporting the audit log: selections, streamed exports and signed manifests.

An export runs in one REPEATABLE READ, read-only transaction and reads the rows through a
server-side cursor, so memory stays flat however many rows there are, and the manifest,
computed from exactly the rows written out, agrees with them.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, BinaryIO, Literal, NamedTuple

import asyncpg
import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from marketplace.audit import cursors, queries, signing
from marketplace.audit.schemas import (
    CSV_COLUMNS,
    MANIFEST_VERSION,
    SEALED_RULE,
    AuditEvent,
    ChainSummary,
    ExportRow,
    ExportRowV1,
    Gap,
    Manifest,
    Selection,
    SignedManifest,
)
from marketplace.db import Conn, Pool, Row
from marketplace.params import check_period, parse_time

if TYPE_CHECKING:
    from marketplace.settings import Settings

Format = Literal["jsonl", "csv"]
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_CHUNK = 64 * 1024


# The media type of each export format.
MEDIA = {"jsonl": "application/x-ndjson", "csv": "text/csv; charset=utf-8"}


class Query(msgspec.Struct, frozen=True, kw_only=True):
    """A checked selection: the rows of an auction and/or of a period [since, until)."""

    auction_id: int | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None

    @classmethod
    def parse(cls, auction_id: int | None, since: str | None, until: str | None) -> Query:
        query = cls(
            auction_id=auction_id,
            since=parse_time(since, "from"),
            until=parse_time(until, "to"),
        )
        check_period(query.since, query.until)
        return query

    def selection(self) -> Selection:
        return Selection(
            auction_id=self.auction_id,
            from_=self.since.isoformat() if self.since else None,
            to=self.until.isoformat() if self.until else None,
        )


def micros(at: dt.datetime) -> int:
    """Microseconds since the epoch: the form of the time the row hash covers."""
    return (at - EPOCH) // dt.timedelta(microseconds=1)


def export_row(row: Row) -> ExportRow:
    at: dt.datetime = row["occurred_at"]
    return ExportRow(
        chain=row["chain"],
        seq=row["seq"],
        auction_id=row["auction_id"],
        occurred_at=at.astimezone(dt.UTC).isoformat(),
        occurred_at_us=micros(at),
        data=row["data"],
        prev_hash=row["prev_hash"].hex(),
        hash=row["hash"].hex(),
    )


def event_from_row(row: Row) -> AuditEvent:
    try:
        data = msgspec.json.decode(row["data"])
    except msgspec.DecodeError:
        data = None
    fields: dict[str, Any] = data if isinstance(data, dict) else {}
    return AuditEvent(
        chain=row["chain"],
        seq=row["seq"],
        auction_id=row["auction_id"],
        occurred_at=row["occurred_at"],
        actor_id=fields.get("actor_id"),
        role=fields.get("role"),
        action=fields.get("action"),
        object_type=fields.get("object_type"),
        object_id=fields.get("object_id"),
        before=fields.get("before"),
        after=fields.get("after"),
        request_id=fields.get("request_id"),
        prev_hash=row["prev_hash"].hex(),
        hash=row["hash"].hex(),
        token_id=fields.get("token_id"),
        issued_by=fields.get("issued_by"),
    )


async def list_events(
    pool: Pool, secret: str, query: Query, action: str | None, cursor: str | None, limit: int
) -> tuple[list[AuditEvent], str | None]:
    """A page of visible rows (withheld ones only after their auction closed) in the log's
    order, and the cursor of the next page (sealed: audit/cursors.py says why)."""
    async with pool.acquire() as conn:
        rows = await queries.list_visible(
            conn,
            query.auction_id,
            query.since,
            query.until,
            action,
            cursors.unseal(secret, cursor),
            limit + 1,
        )
    more = len(rows) > limit
    rows = rows[:limit]
    return [event_from_row(r) for r in rows], cursors.seal(secret, rows[-1]["id"]) if more else None


def digest_line(row: ExportRow) -> bytes:
    """What ``rows_digest`` covers per row: the fields the row hash itself does not (and, in
    a version 1 export, the row's global id)."""
    auction = "-" if row.auction_id is None else str(row.auction_id)
    if isinstance(row, ExportRowV1):
        return f"{row.id} {row.chain} {row.seq} {auction} {row.hash}\n".encode()
    return f"{row.chain} {row.seq} {auction} {row.hash}\n".encode()


class _Chain:
    __slots__ = ("first_prev", "first_seq", "gaps", "head", "last_seq", "rows")

    def __init__(self, row: ExportRow) -> None:
        self.rows = 1
        self.first_seq = self.last_seq = row.seq
        self.first_prev = row.prev_hash
        self.head = row.hash
        self.gaps: list[Gap] = []


class ManifestBuilder:
    """Summarises the rows of an export as they stream past (memory grows with chains only)."""

    def __init__(self) -> None:
        self.rows = 0
        self._digest = hashlib.sha256()
        self._chains: dict[str, _Chain] = {}

    def add(self, row: ExportRow) -> None:
        self.rows += 1
        self._digest.update(digest_line(row))
        chain = self._chains.get(row.chain)
        if chain is None:
            self._chains[row.chain] = _Chain(row)
            return
        if row.seq != chain.last_seq + 1:
            # Rows outside the selection (a period's edge) sit between these two.
            chain.gaps.append(
                Gap(after_seq=chain.last_seq, after_hash=chain.head, next_seq=row.seq)
            )
        chain.rows += 1
        chain.last_seq = row.seq
        chain.head = row.hash

    def manifest(self, selection: Selection, exported_at: dt.datetime, key_id: str) -> Manifest:
        return Manifest(
            version=MANIFEST_VERSION,
            selection=selection,
            sealed_rule=SEALED_RULE,
            rows=self.rows,
            rows_digest=self._digest.hexdigest(),
            chains={
                name: ChainSummary(
                    rows=c.rows,
                    first_seq=c.first_seq,
                    first_prev_hash=c.first_prev,
                    last_seq=c.last_seq,
                    head=c.head,
                    gaps=c.gaps,
                )
                for name, c in sorted(self._chains.items())
            },
            exported_at=exported_at.astimezone(dt.UTC).isoformat(),
            key_id=key_id,
        )


def sign_manifest(key: Ed25519PrivateKey, manifest: Manifest) -> SignedManifest:
    return SignedManifest(manifest=manifest, signature=signing.sign(key, manifest))


async def export_in_snapshot(
    conn: Conn,
    query: Query,
    fmt: Format,
    key: Ed25519PrivateKey,
    on_rows: Callable[[int], None] | None = None,
) -> AsyncIterator[bytes]:
    """The export's bytes in chunks; ``conn`` must be inside a REPEATABLE READ transaction.

    JSONL ends with the signed manifest line; CSV holds a header and the rows only.
    """
    exported_at = await queries.snapshot_time(conn)
    await queries.wait_until_durable(conn)
    builder = ManifestBuilder()
    encoder = msgspec.json.Encoder()
    buf = bytearray()
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
    pending = 0
    async for record in queries.cursor_visible(conn, query.auction_id, query.since, query.until):
        row = export_row(record)
        builder.add(row)
        if fmt == "jsonl":
            encoder.encode_into(row, buf, -1)
            buf.extend(b"\n")
        else:
            writer.writerow(["" if v is None else v for v in msgspec.structs.astuple(row)])
        pending += 1
        if fmt == "csv" and out.tell() >= _CHUNK:
            buf.extend(out.getvalue().encode())
            out.seek(0)
            out.truncate()
        if len(buf) >= _CHUNK:
            yield bytes(buf)
            buf.clear()
            if on_rows:
                on_rows(pending)
            pending = 0
    if fmt == "csv":
        buf.extend(out.getvalue().encode())
    else:
        public = key.public_key()
        signed = sign_manifest(
            key, builder.manifest(query.selection(), exported_at, signing.key_id(public))
        )
        buf.extend(signing.canonical(signed))
        buf.extend(b"\n")
    yield bytes(buf)
    if on_rows and pending:
        on_rows(pending)


async def stream_export(
    pool: Pool, query: Query, fmt: Format, key: Ed25519PrivateKey
) -> AsyncIterator[bytes]:
    """An export read from one snapshot through a server-side cursor."""
    async with (
        pool.acquire() as conn,
        conn.transaction(isolation="repeatable_read", readonly=True),
    ):
        async for chunk in export_in_snapshot(conn, query, fmt, key):
            yield chunk


class Download(NamedTuple):
    """An export as a file: its bytes (read from the database as they are sent), type, name."""

    chunks: AsyncIterator[bytes]
    media_type: str
    filename: str


def download(
    pool: Pool,
    settings: Settings,
    fmt: Format,
    auction_id: int | None,
    since: str | None,
    until: str | None,
) -> Download:
    """The export of a selection as the API and the auditor's page both hand it out."""
    query = Query.parse(auction_id, since, until)
    chunks = stream_export(pool, query, fmt, signing.signing_key(settings))
    return Download(chunks, MEDIA[fmt], f"audit-{query.auction_id or 'all'}.{fmt}")


async def manifest_in_snapshot(conn: Conn, query: Query, key: Ed25519PrivateKey) -> SignedManifest:
    """The signed manifest of the rows an export of the selection would hold."""
    exported_at = await queries.snapshot_time(conn)
    await queries.wait_until_durable(conn)
    builder = ManifestBuilder()
    async for record in queries.cursor_visible(conn, query.auction_id, query.since, query.until):
        builder.add(export_row(record))
    manifest = builder.manifest(query.selection(), exported_at, signing.key_id(key.public_key()))
    return sign_manifest(key, manifest)


async def signed_manifest(pool: Pool, query: Query, key: Ed25519PrivateKey) -> SignedManifest:
    async with (
        pool.acquire() as conn,
        conn.transaction(isolation="repeatable_read", readonly=True),
    ):
        return await manifest_in_snapshot(conn, query, key)


async def export_to_file(
    database_url: str,
    query: Query,
    fmt: Format,
    key: Ed25519PrivateKey,
    out: BinaryIO,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Write an export straight from the database; ``progress(done, total)`` after each chunk.

    Returns the number of rows written. The count for the progress comes from the same
    snapshot as the rows.
    """
    conn = await asyncpg.connect(database_url, server_settings={"timezone": "UTC"})
    try:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            total = await queries.count_visible(conn, query.auction_id, query.since, query.until)
            done = 0

            def advance(rows: int) -> None:
                nonlocal done
                done += rows
                if progress is not None:
                    progress(done, total)

            if progress is not None:
                progress(0, total)
            async for chunk in export_in_snapshot(conn, query, fmt, key, on_rows=advance):
                out.write(chunk)
    finally:
        await conn.close()
    return done
