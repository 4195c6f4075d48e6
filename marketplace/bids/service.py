"""The bid rules (DESIGN §4): who may bid, at what price, and what the answer says.

A bid is checked in this order; the first rule it breaks is the answer:

1. the token is still valid (401 ``invalid_token``) and the caller is a vendor (403
   ``role_required``), judged on the rows as they are now, not as the guard cached them;
2. the auction exists and the caller may see it (404 ``auction_not_found``);
3. the vendor is verified (403 ``vendor_not_verified``) and not a member of the buying
   department (403 ``conflict_of_interest``);
4. the auction's row takes the bid unless, in this order, it is not open (409
   ``auction_not_open``), it has ended (409 ``auction_closed``), the caller is a reverse
   auction's low bidder (409 ``already_low_bidder``), the amount is above the maximum
   (422 ``amount_too_high`` with ``max_allowed_cents``: ``lowest - min_decrement``, or
   the price cap for a sealed auction or one without bids), or the caller's sealed bid
   is in (409 ``already_bid``).

PostgreSQL is the referee and does all of this in one statement, ``place_bid()`` in
sql/functions/place_bid.sql (one round trip per bid). Step 4 is ``bid_refusal()``
(sql/functions/bid_refusal.sql), asked as the guard of the UPDATE that takes the bid and,
when that takes nothing, of the one version of the row read to say why, so the reason
given is always true of one version of the auction. The bid, its alias, its events
(outbox) and its audit row, or the refusal's audit row (steps 3 and 4, with the reason),
are written in the same transaction.
"""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec
from arq.connections import ArqRedis

from marketplace import jobs
from marketplace.auctions.presentation import alias_of, revealed
from marketplace.auctions.service import load_visible
from marketplace.auth import Caller
from marketplace.bids import queries
from marketplace.bids.schemas import Bid, MyBid
from marketplace.db import Conn, Pool, Row, held
from marketplace.errors import (
    Conflict,
    DomainError,
    Forbidden,
    NotFound,
    Unauthorized,
    Unprocessable,
)
from marketplace.idempotency import queries as idempotency
from marketplace.ratelimit import BatchedCounts

_encoder = msgspec.json.Encoder()


class Answer(msgspec.Struct, frozen=True):
    """A bid answer ready to send: status code and JSON body (possibly a stored replay)."""

    status: int
    body: bytes


def request_hash(amount: int) -> bytes:
    return hashlib.sha256(_encoder.encode({"amount_cents": amount})).digest()


def _refusal(row: Row) -> DomainError:
    """The error for a refusal code of place_bid() (its detail is the audited one)."""
    code, detail = row["outcome"], row["detail"]
    if code == "invalid_token":
        return Unauthorized(code, detail)
    if code == "auction_not_found":
        return NotFound(code, detail)
    if code in ("role_required", "vendor_not_verified", "conflict_of_interest"):
        return Forbidden(code, detail)
    if code == "amount_too_high":
        return Unprocessable(
            code, detail, field="amount_cents", max_allowed_cents=row["max_allowed_cents"]
        )
    if row["auction_status"] is not None:
        return Conflict(code, detail, auction_status=row["auction_status"])
    return Conflict(code, detail)  # already_low_bidder, already_bid


def _accepted(caller: Caller, auction_id: int, amount: int, row: Row) -> Answer:
    bid = Bid(
        id=row["bid_id"],
        auction_id=auction_id,
        amount_cents=amount,
        bidder_alias=alias_of(row["alias_number"]),
        bidder_id=caller.id,
        placed_at=row["placed_at"],
        status=row["bid_status"],
        mine=True,
    )
    return Answer(201, _encoder.encode(bid))


async def count_bid(counts: BatchedCounts, per_minute: int, caller: Caller) -> None:
    """Count one bid against the caller's per-minute bid limit, for the API and the web form
    alike (DESIGN §10): 429 past it; with Redis away the bid goes through (PostgreSQL alone
    decides bids)."""
    await counts.limit(f"bid:{caller.id}", per_minute)


async def place_bid(
    pool: Pool,
    redis: ArqRedis,
    caller: Caller,
    auction_id: int,
    amount: int,
    idempotency_key: str | None,
    request_id: str,
) -> Answer:
    """Place a bid; raise the refusal as a domain error. Callers acting without a token
    (the demo seeder) have ``token_id`` 0."""
    token_id = caller.token_id or None
    async with pool.acquire() as conn:
        if idempotency_key is None:
            row = await queries.place_bid(conn, auction_id, caller.id, amount, token_id, request_id)
        else:
            row = await _place_once(conn, caller, auction_id, amount, idempotency_key, request_id)
            if isinstance(row, Answer):
                return row
    if row["outcome"] != "accepted":
        raise _refusal(row)
    if row["extended"]:
        await jobs.schedule_close(redis, auction_id, row["ends_at"])
    return _accepted(caller, auction_id, amount, row)


async def _place_once(
    conn: Conn, caller: Caller, auction_id: int, amount: int, key: str, request_id: str
) -> Any:
    """With an Idempotency-Key: claim the key, bid, and store the answer, in one transaction.

    A retry with the same key and body gets the stored answer (an Answer); the same key with
    another body is a 409. Accepted bids and 409/422 refusals are stored; other refusals
    (401, 403, 404) release the key, so a retry after fixing them is judged afresh.
    """
    endpoint = f"POST /api/auctions/{auction_id}/bids"
    digest = request_hash(amount)
    async with conn.transaction():
        if not await idempotency.claim(conn, caller.id, endpoint, key, digest):
            stored = held(
                await idempotency.find(conn, caller.id, endpoint, key), "its claim was refused"
            )
            if stored["request_hash"] != digest:
                raise Conflict(
                    "idempotency_key_reused",
                    "this Idempotency-Key was used with a different request body",
                )
            return Answer(stored["status_code"], bytes(stored["response"]))
        row = await queries.place_bid(
            conn, auction_id, caller.id, amount, caller.token_id or None, request_id
        )
        if row["outcome"] == "accepted":
            answer = _accepted(caller, auction_id, amount, row)
            await idempotency.store(
                conn, caller.id, endpoint, key, digest, answer.status, answer.body
            )
        else:
            refusal = _refusal(row)
            if refusal.status in (409, 422):
                body = _encoder.encode(refusal.body())
                await idempotency.store(
                    conn, caller.id, endpoint, key, digest, refusal.status, body
                )
            else:
                await idempotency.release(conn, caller.id, endpoint, key)
    return row


async def list_bids(
    pool: Pool, caller: Caller | None, auction_id: int, after_id: int, limit: int
) -> list[Bid]:
    """Bids as section 4 says: veiled identities until close; sealed bids only to their bidder."""
    async with pool.acquire() as conn:
        row = await load_visible(conn, caller, auction_id)
        is_open_sealed = row["type"] == "sealed" and not revealed(row["status"])
        if is_open_sealed and caller is None:
            return []
        only = caller.id if is_open_sealed and caller is not None else None
        rows = await queries.list_bids(conn, auction_id, only, after_id, limit)
    show_all = revealed(row["status"])
    me = caller.id if caller else None
    return [
        Bid(
            id=r["id"],
            auction_id=auction_id,
            amount_cents=r["amount_cents"],
            bidder_alias=alias_of(r["alias_number"]),
            bidder_id=r["bidder_id"] if show_all or r["bidder_id"] == me else None,
            placed_at=r["placed_at"],
            status=r["status"],
            mine=r["bidder_id"] == me,
        )
        for r in rows
    ]


async def my_bids(pool: Pool, caller: Caller, before_id: int | None, limit: int) -> list[MyBid]:
    async with pool.acquire() as conn:
        rows = await queries.list_my_bids(conn, caller.id, before_id, limit)
    return [
        MyBid(
            id=r["id"],
            auction_id=r["auction_id"],
            auction_title=r["title"],
            auction_status=r["auction_status"],
            amount_cents=r["amount_cents"],
            bidder_alias=alias_of(r["alias_number"]),
            placed_at=r["placed_at"],
            status=r["status"],
            is_low_bid=None
            if r["type"] == "sealed" and not revealed(r["auction_status"])
            else bool(r["is_low"]),
        )
        for r in rows
    ]
