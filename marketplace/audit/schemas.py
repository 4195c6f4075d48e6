"""Structs of the auditor's side of the audit log: events, export rows, manifests, the key."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec

from marketplace.structs import Response

# Version 2 rows carry no global row id: its gaps counted the withheld rows (DESIGN §8).
# Version 1 exports (with ids) still verify.
MANIFEST_VERSION = 2
# Why rows can be missing from an export although the database holds them (DESIGN §8).
SEALED_RULE = (
    "bids stay out until their auction closes: while an auction is draft, scheduled "
    "or open, the rows of its chain from its first withheld (bid) row on are withheld"
)


class AuditEvent(Response, frozen=True, kw_only=True):
    """One row of the audit log with its data decoded, as the event browser shows it.
    A row is named by its chain and seq; the log's global row id is never shown."""

    chain: str
    seq: int
    auction_id: int | None
    occurred_at: dt.datetime
    actor_id: int | None
    role: str | None
    action: str | None
    object_type: str | None
    object_id: int | str | None
    before: Any
    after: Any
    request_id: str | None
    prev_hash: str
    hash: str
    token_id: int | None = None  # the API token that authorised the change
    issued_by: int | None = None  # who issued that token, when not the actor


class ExportRow(msgspec.Struct, frozen=True, kw_only=True):
    """One line of a JSONL export (and the columns of a CSV export, in this order).

    ``data`` is the exact stored JSON text: the row hash covers those bytes.
    """

    chain: str
    seq: int
    auction_id: int | None
    occurred_at: str
    occurred_at_us: int
    data: str
    prev_hash: str
    hash: str


CSV_COLUMNS = tuple(ExportRow.__struct_fields__)


class ExportRowV1(ExportRow, frozen=True, kw_only=True):
    """A row of a version 1 export, which also carried the log's global row id."""

    id: int


CSV_COLUMNS_V1 = ("id", *CSV_COLUMNS)


class Selection(msgspec.Struct, frozen=True, kw_only=True):
    """Which rows an export holds: an auction's and/or a period [from, to)."""

    auction_id: int | None = None
    from_: str | None = msgspec.field(default=None, name="from")
    to: str | None = None


class Gap(msgspec.Struct, frozen=True, kw_only=True):
    """Seqs of a chain that fall outside the selection between two exported rows."""

    after_seq: int
    after_hash: str
    next_seq: int


class ChainSummary(msgspec.Struct, frozen=True, kw_only=True):
    """The exported rows of one chain: their seq range, count, head hash and any gaps."""

    rows: int
    first_seq: int
    first_prev_hash: str
    last_seq: int
    head: str
    gaps: list[Gap] = msgspec.field(default_factory=list)


class Manifest(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """What an export holds, signed so it can be checked offline."""

    version: int
    selection: Selection
    sealed_rule: str
    rows: int
    rows_digest: str
    chains: dict[str, ChainSummary]
    exported_at: str
    key_id: str
    # Version 1 only: the global ids of the first and last rows.
    first_id: int | None = None
    last_id: int | None = None


class SignedManifest(Response, frozen=True, kw_only=True):
    """The manifest and the base64 Ed25519 signature over its canonical JSON."""

    manifest: Manifest
    signature: str


class PublicKey(Response, frozen=True, kw_only=True):
    """The key that signs export manifests."""

    algorithm: str
    key_id: str
    public_key: str
    pem: str
