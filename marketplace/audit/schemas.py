"""Structs of the auditor's side of the audit log: events, export rows, manifests, the key."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec

from marketplace.structs import Response

MANIFEST_VERSION = 1
# Why rows can be missing from an export although the database holds them (DESIGN §8).
SEALED_RULE = (
    "sealed bids stay out until their auction closes: while an auction is draft, scheduled "
    "or open, the rows of its chain from its first sealed row on are withheld"
)


class AuditEvent(Response, frozen=True, kw_only=True):
    """One row of the audit log with its data decoded, as the event browser shows it."""

    id: int
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

    id: int
    chain: str
    seq: int
    auction_id: int | None
    occurred_at: str
    occurred_at_us: int
    data: str
    prev_hash: str
    hash: str


CSV_COLUMNS = tuple(ExportRow.__struct_fields__)


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


class Manifest(msgspec.Struct, frozen=True, kw_only=True):
    """What an export holds, signed so it can be checked offline."""

    version: int
    selection: Selection
    sealed_rule: str
    rows: int
    first_id: int | None
    last_id: int | None
    rows_digest: str
    chains: dict[str, ChainSummary]
    exported_at: str
    key_id: str


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
