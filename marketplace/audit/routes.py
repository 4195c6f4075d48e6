"""Thin handlers of the auditor's side of the audit log."""

from __future__ import annotations

import base64
from typing import Annotated, Literal

from litestar import get
from litestar.params import Parameter
from litestar.response import Stream

from marketplace.audit import export, signing
from marketplace.audit.schemas import AuditEvent, PublicKey, SignedManifest
from marketplace.auth import anyone, roles
from marketplace.db import Pool
from marketplace.params import AuctionFilter, Cursor, From, Limit, To
from marketplace.settings import Settings
from marketplace.structs import Page


@get("/api/audit/public-key", guards=[anyone], tags=["audit"])
async def public_key(settings: Settings) -> PublicKey:
    """The Ed25519 key that signs export manifests, to verify exports offline."""
    key = signing.signing_key(settings).public_key()
    return PublicKey(
        algorithm="Ed25519",
        key_id=signing.key_id(key),
        public_key=base64.b64encode(signing.public_raw(key)).decode(),
        pem=signing.public_pem(key),
    )


@get("/api/audit/events", guards=[roles("auditor", "admin")], tags=["audit"])
async def list_events(
    pool: Pool,
    settings: Settings,
    auction_id: AuctionFilter = None,
    since: From = None,
    until: To = None,
    action: Annotated[str | None, Parameter(max_length=100)] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[AuditEvent]:
    """Audit rows in the log's order; bid rows appear only once their auction has closed."""
    query = export.Query.parse(auction_id, since, until)
    items, following = await export.list_events(
        pool, settings.secret_key, query, action, cursor, limit
    )
    return Page(items=items, next=following)


@get("/api/audit/export", guards=[roles("auditor")], tags=["audit"])
async def export_rows(
    pool: Pool,
    settings: Settings,
    format: Literal["jsonl", "csv"] = "jsonl",
    auction_id: AuctionFilter = None,
    since: From = None,
    until: To = None,
) -> Stream:
    """The selected rows, streamed; JSONL ends with the signed manifest line."""
    file = export.download(pool, settings, format, auction_id, since, until)
    return Stream(
        file.chunks,
        media_type=file.media_type,
        headers={"Content-Disposition": f'attachment; filename="{file.filename}"'},
    )


@get("/api/audit/manifest", guards=[roles("auditor")], tags=["audit"])
async def manifest(
    pool: Pool,
    settings: Settings,
    auction_id: AuctionFilter = None,
    since: From = None,
    until: To = None,
) -> SignedManifest:
    """The signed manifest of a selection: verifies a CSV export of the same selection."""
    query = export.Query.parse(auction_id, since, until)
    return await export.signed_manifest(pool, query, signing.signing_key(settings))


ROUTES = [public_key, list_events, export_rows, manifest]
