"""The bid rules (DESIGN §4): who may bid, at what price, and what the answer says.

PostgreSQL is the referee: the guarded UPDATE in ``queries.take_reverse_bid`` (or
``take_sealed_bid``) decides, under the auction's row lock, and the bid, its event and its
audit row are written in the same transaction. When the guard matches nothing we re-read
the auction to say why.
"""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec

from marketplace import jobs, outbox
from marketplace.auctions import queries as auction_queries
from marketplace.auctions.service import alias, load_visible, max_allowed, revealed
from marketplace.audit.record import record
from marketplace.auth import Caller
from marketplace.bids import queries
from marketplace.bids.schemas import Bid, MyBid
from marketplace.errors import Conflict, DomainError, Forbidden, Unprocessable
from marketplace.events import AuctionExtended, BidPlaced
from marketplace.idempotency import queries as idempotency

_encoder = msgspec.json.Encoder()


class Answer(msgspec.Struct, frozen=True):
    """A bid answer ready to send: status code and JSON body (possibly a stored replay)."""

    status: int
    body: bytes


def request_hash(amount: int) -> bytes:
    return hashlib.sha256(_encoder.encode({"amount_cents": amount})).digest()


def _check_eligible(caller: Caller, row: Any) -> None:
    if caller.verification_status != "verified":
        raise Forbidden(
            "vendor_not_verified",
            f"only verified vendors bid; your verification is {caller.verification_status}",
        )
    if caller.department_id is not None and caller.department_id == row["department_id"]:
        raise Forbidden(
            "conflict_of_interest", "members of the buying department cannot bid on its auctions"
        )


async def _why_refused(conn: Any, caller: Caller, auction_id: int, amount: int) -> DomainError:
    """The guard matched nothing: re-read the auction and say why."""
    row = await auction_queries.get_auction(conn, auction_id)
    if row["status"] != "open":
        return Conflict(
            "auction_not_open",
            f"bidding is not open; the auction is {row['status']}",
            auction_status=row["status"],
        )
    if row["ends_at"] <= row["server_time"]:
        return Conflict("auction_closed", "bidding has ended", auction_status="closing")
    if row["type"] == "reverse" and row["low_bidder_id"] == caller.id:
        return Conflict("already_low_bidder", "you are the low bidder; wait until you are outbid")
    allowed = max_allowed(row)
    return Unprocessable(
        "amount_too_high",
        f"the highest bid allowed now is {allowed} cents",
        field="amount_cents",
        max_allowed_cents=allowed,
    )


async def place_bid(
    pool: Any,
    redis: Any,
    caller: Caller,
    auction_id: int,
    amount: int,
    idempotency_key: str | None,
    request_id: str,
) -> Answer:
    endpoint = f"POST /api/auctions/{auction_id}/bids"
    digest = request_hash(amount)
    async with pool.acquire() as conn:
        try:
            async with conn.transaction():
                if idempotency_key is not None and not await idempotency.claim(
                    conn, caller.id, endpoint, idempotency_key, digest
                ):
                    stored = await idempotency.find(conn, caller.id, endpoint, idempotency_key)
                    if stored["request_hash"] != digest:
                        raise _Reused()
                    return Answer(stored["status_code"], bytes(stored["response"]))
                answer, ends_at = await _bid_in_transaction(
                    conn, caller, auction_id, amount, request_id
                )
                if idempotency_key is not None:
                    await idempotency.store(
                        conn,
                        caller.id,
                        endpoint,
                        idempotency_key,
                        digest,
                        answer.status,
                        answer.body,
                    )
        except _Reused:
            raise Conflict(
                "idempotency_key_reused",
                "this Idempotency-Key was used with a different request body",
            ) from None
        except DomainError as refusal:
            await _record_refusal(conn, caller, auction_id, amount, refusal, request_id)
            if idempotency_key is not None and refusal.status in (409, 422):
                await idempotency.store(
                    conn,
                    caller.id,
                    endpoint,
                    idempotency_key,
                    digest,
                    refusal.status,
                    _encoder.encode(refusal.body()),
                )
            raise
    if ends_at is not None:
        await jobs.schedule_close(redis, auction_id, ends_at)
    return answer


class _Reused(Exception):
    pass


async def _bid_in_transaction(
    conn: Any, caller: Caller, auction_id: int, amount: int, request_id: str
) -> tuple[Answer, Any]:
    row = await load_visible(conn, caller, auction_id)
    _check_eligible(caller, row)
    sealed = row["type"] == "sealed"
    if sealed:
        took = await queries.take_sealed_bid(conn, auction_id, caller.id, amount)
        # The guarded UPDATE holds the row lock, so this check cannot race the same vendor.
        if took is not None and await queries.has_bid(conn, auction_id, caller.id):
            raise Conflict("already_bid", "you already placed your sealed bid in this auction")
    else:
        took = await queries.take_reverse_bid(conn, auction_id, caller.id, amount)
    if took is None:
        raise await _why_refused(conn, caller, auction_id, amount)
    number = await queries.bidder_alias(conn, auction_id, caller.id)
    bid = await queries.insert_bid(conn, auction_id, caller.id, amount, sealed)
    name = alias(number)
    if not sealed:
        await outbox.emit(
            conn,
            BidPlaced(
                auction_id=auction_id,
                bid_id=bid["id"],
                amount_cents=amount,
                bidder_alias=name,
                ends_at=took["ends_at"],
            ),
            auction_id,
        )
        if took["extended"]:
            await outbox.emit(
                conn,
                AuctionExtended(
                    auction_id=auction_id, ends_at=took["ends_at"], extensions=took["extensions"]
                ),
                auction_id,
            )
    await record(
        conn,
        caller.actor("vendor", request_id),
        "bid.placed",
        "bid",
        bid["id"],
        after={
            "amount_cents": amount,
            "bidder_alias": name,
            "ends_at": took["ends_at"].isoformat(),
            "extended": took["extended"],
        },
        auction_id=auction_id,
        sealed=sealed,
    )
    answer = Bid(
        id=bid["id"],
        auction_id=auction_id,
        amount_cents=amount,
        bidder_alias=name,
        bidder_id=caller.id,
        placed_at=bid["placed_at"],
        status=bid["status"],
        mine=True,
    )
    return Answer(201, _encoder.encode(answer)), took["ends_at"] if took["extended"] else None


async def _record_refusal(
    conn: Any, caller: Caller, auction_id: int, amount: int, refusal: DomainError, request_id: str
) -> None:
    """Refused bids are audited too, with the reason (sealed amounts stay sealed)."""
    row = await auction_queries.get_auction(conn, auction_id)
    if row is None or refusal.code == "auction_not_found":
        return
    async with conn.transaction():
        await record(
            conn,
            caller.actor("vendor", request_id),
            "bid.refused",
            "auction",
            auction_id,
            after={"amount_cents": amount, "code": refusal.code, "detail": refusal.detail},
            auction_id=auction_id,
            sealed=row["type"] == "sealed",
        )


async def list_bids(
    pool: Any, caller: Caller | None, auction_id: int, after_id: int, limit: int
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
            bidder_alias=alias(r["alias_number"]),
            bidder_id=r["bidder_id"] if show_all or r["bidder_id"] == me else None,
            placed_at=r["placed_at"],
            status=r["status"],
            mine=r["bidder_id"] == me,
        )
        for r in rows
    ]


async def my_bids(pool: Any, caller: Caller, before_id: int | None, limit: int) -> list[MyBid]:
    async with pool.acquire() as conn:
        rows = await queries.list_my_bids(conn, caller.id, before_id, limit)
    return [
        MyBid(
            id=r["id"],
            auction_id=r["auction_id"],
            auction_title=r["title"],
            auction_status=r["auction_status"],
            amount_cents=r["amount_cents"],
            bidder_alias=alias(r["alias_number"]),
            placed_at=r["placed_at"],
            status=r["status"],
            is_low_bid=None
            if r["type"] == "sealed" and not revealed(r["auction_status"])
            else bool(r["is_low"]),
        )
        for r in rows
    ]
