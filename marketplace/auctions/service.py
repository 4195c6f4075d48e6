"""The rules of auctions: drafting, publishing, cancelling, and what each caller may see."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
from arq.connections import ArqRedis

from marketplace import jobs, policy
from marketplace.auctions import queries
from marketplace.auctions.presentation import present, revealed
from marketplace.auctions.rules import publish_problems, rule_problems, title_required
from marketplace.auctions.schemas import Auction, AuctionCreate, AuctionPatch
from marketplace.auth import Caller
from marketplace.awards import queries as award_queries
from marketplace.changes import announce
from marketplace.db import Conn, Pool, Row, held
from marketplace.errors import BadRequest, Conflict, Forbidden, NotFound
from marketplace.events import AuctionCancelled, AuctionCreated, AuctionPublished, AuctionUpdated
from marketplace.settings import Settings

BIDDING = ("open",)


def can_see(caller: Caller | None, row: Row) -> bool:
    if row["status"] != "draft":
        return True
    if caller is None:
        return False
    return (
        caller.department_id == row["department_id"] or caller.has("admin") or caller.has("auditor")
    )


async def load_visible(
    conn: Conn, caller: Caller | None, auction_id: int, *, lock: bool = False
) -> Any:
    """The auction row if the caller may see it; 404 otherwise (drafts of other departments)."""
    row = await queries.get_auction(conn, auction_id, lock=lock)
    if row is None or not can_see(caller, row):
        raise NotFound("auction_not_found", "no such auction")
    return row


def require_department_buyer(caller: Caller, row: Row) -> None:
    if not policy.buys_for(caller, row["department_id"]):
        raise Forbidden(
            "not_your_department", "only buyers of the auction's department may do this"
        )


def _check_rules(fields: dict[str, Any], settings: Settings) -> None:
    problems = rule_problems(fields, settings)
    if problems:
        raise problems[0]


def _fields(data: AuctionCreate) -> dict[str, Any]:
    fields = {name: getattr(data, name) for name in queries.EDITABLE}
    fields["skills"] = sorted({s.strip() for s in data.skills if s.strip()})
    fields["title"] = data.title.strip()
    if not fields["title"]:
        raise title_required()
    return fields


async def create(
    pool: Pool, settings: Settings, caller: Caller, data: AuctionCreate, request_id: str
) -> Auction:
    if caller.department_id is None:
        raise Forbidden("no_department", "a buyer must belong to a department to post tasks")
    fields = _fields(data)
    _check_rules(fields, settings)
    async with pool.acquire() as conn, conn.transaction():
        auction_id = await queries.insert_auction(conn, caller.department_id, caller.id, fields)
        await announce(
            conn,
            AuctionCreated(auction_id=auction_id, department_id=caller.department_id),
            caller.actor("buyer", request_id),
            "auction.created",
            "auction",
            auction_id,
            after=_audit_fields(fields),
            auction_id=auction_id,
        )
        row = held(await queries.get_auction(conn, auction_id), "locked above, in this transaction")
    return present(row, caller)


def _audit_fields(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in fields.items()}


async def update(
    pool: Pool,
    settings: Settings,
    caller: Caller,
    auction_id: int,
    patch: AuctionPatch,
    request_id: str,
) -> Auction:
    async with pool.acquire() as conn, conn.transaction():
        row = await load_visible(conn, caller, auction_id, lock=True)
        require_department_buyer(caller, row)
        if row["status"] != "draft":
            raise Conflict(
                "not_a_draft", f"only drafts can be edited; this auction is {row['status']}"
            )
        before = {name: row[name] for name in queries.EDITABLE}
        changes = {k: v for k, v in msgspec.structs.asdict(patch).items() if v is not msgspec.UNSET}
        fields = {**before, **changes}
        fields["skills"] = sorted({s.strip() for s in fields["skills"] if s.strip()})
        # Setting one way of giving the delivery deadline clears the other.
        for given, other in (
            ("delivery_due_at", "delivery_business_days"),
            ("delivery_business_days", "delivery_due_at"),
        ):
            if changes.get(given) is not None and other not in changes:
                fields[other] = None
        _check_rules(fields, settings)
        await queries.update_draft(conn, auction_id, fields)
        await announce(
            conn,
            AuctionUpdated(auction_id=auction_id),
            caller.actor("buyer", request_id),
            "auction.updated",
            "auction",
            auction_id,
            before=_audit_fields({k: before[k] for k in changes}),
            after=_audit_fields(changes),
            auction_id=auction_id,
        )
        row = held(await queries.get_auction(conn, auction_id), "locked above, in this transaction")
    return present(row, caller)


def _check_publishable(caller: Caller, row: Row, settings: Settings) -> None:
    require_department_buyer(caller, row)
    if row["status"] != "draft":
        raise Conflict("not_a_draft", f"this auction is already {row['status']}")
    problems = publish_problems(row, settings)
    if problems:
        raise problems[0]


async def check_publishable(
    pool: Pool, settings: Settings, caller: Caller, auction_id: int
) -> Auction:
    """The draft, if ``publish`` would publish it now; refused with the same errors if not."""
    async with pool.acquire() as conn:
        row = await load_visible(conn, caller, auction_id)
        _check_publishable(caller, row, settings)
    return present(row, caller)


async def publish(
    pool: Pool,
    redis: ArqRedis,
    settings: Settings,
    caller: Caller,
    auction_id: int,
    request_id: str,
) -> Auction:
    async with pool.acquire() as conn:
        async with conn.transaction():
            row = await load_visible(conn, caller, auction_id, lock=True)
            _check_publishable(caller, row, settings)
            changed = held(await queries.publish(conn, auction_id), "locked above, a draft")
            await announce(
                conn,
                AuctionPublished(
                    auction_id=auction_id,
                    status=changed["status"],
                    starts_at=changed["starts_at"],
                    ends_at=changed["ends_at"],
                ),
                caller.actor("buyer", request_id),
                "auction.published",
                "auction",
                auction_id,
                before={"status": "draft"},
                after={"status": changed["status"]},
                auction_id=auction_id,
            )
            row = held(await queries.get_auction(conn, auction_id), "locked above")
    await jobs.schedule_open(redis, auction_id, row["starts_at"])
    await jobs.schedule_close(redis, auction_id, row["ends_at"])
    return present(row, caller)


async def cancel(
    pool: Pool, caller: Caller, auction_id: int, reason: str, request_id: str
) -> Auction:
    async with pool.acquire() as conn, conn.transaction():
        row = await load_visible(conn, caller, auction_id, lock=True)
        require_department_buyer(caller, row)
        changed = await queries.cancel(conn, auction_id, reason)
        if changed is None:
            raise Conflict(
                "not_cancellable",
                f"only draft, scheduled or open auctions can be cancelled; this one is {row['status']}",
                status_now=row["status"],
            )
        bidders = await queries.void_bids(conn, auction_id)
        await announce(
            conn,
            AuctionCancelled(auction_id=auction_id, reason=reason, voided_bids=len(bidders)),
            caller.actor("buyer", request_id),
            "auction.cancelled",
            "auction",
            auction_id,
            before={"status": row["status"]},
            after={"status": "cancelled", "reason": reason, "voided_bidder_ids": bidders},
            auction_id=auction_id,
        )
        row = held(await queries.get_auction(conn, auction_id), "locked above, in this transaction")
    return present(row, caller)


async def get(pool: Pool, caller: Caller | None, auction_id: int) -> Auction:
    async with pool.acquire() as conn:
        row = await load_visible(conn, caller, auction_id)
        standing = None
        if caller is not None and caller.has("vendor"):
            standing = await queries.caller_standing(conn, auction_id, caller.id)
        award = None
        if revealed(row["status"]):
            award = await award_queries.latest_award(conn, auction_id)
    return present(row, caller, standing=standing, award=award)


async def list_page(
    pool: Pool,
    caller: Caller | None,
    *,
    status: str | None,
    department_id: int | None,
    skill: str | None,
    q: str | None,
    sort: str,
    after: list[Any] | None,
    limit: int,
) -> tuple[list[Auction], list[Any] | None]:
    keyset = _keyset(sort, after)
    async with pool.acquire() as conn:
        rows = await queries.list_auctions(
            conn,
            viewer_department_id=caller.department_id if caller else None,
            sees_all_drafts=bool(caller and (caller.has("admin") or caller.has("auditor"))),
            status=status,
            department_id=department_id,
            skill=skill,
            q=q.strip() if q and q.strip() else None,
            sort=sort,
            after=keyset,
            limit=limit + 1,
        )
    items = [present(r, caller) for r in rows[:limit]]
    next_key = None
    if len(rows) > limit:
        last = rows[limit - 1]
        if sort == "ending_soon":
            next_key = [[last["phase"], last["ends_at"].isoformat()], last["id"]]
        elif sort.startswith("cap"):
            next_key = [last["price_cap_cents"], last["id"]]
        else:
            next_key = [None, last["id"]]
    return items, next_key


def _keyset(sort: str, after: list[Any] | None) -> list[Any] | None:
    """A next-page key from a cursor (``list_page``'s ``next_key``), checked; else a 400."""
    if after is None:
        return None
    try:
        key, after_id = after
        if not isinstance(after_id, int) or isinstance(after_id, bool):
            raise ValueError(after_id)
        if sort == "ending_soon":
            phase, at = key
            if not isinstance(phase, int) or isinstance(phase, bool) or not isinstance(at, str):
                raise ValueError(key)
            key = [phase, dt.datetime.fromisoformat(at)]
        elif sort.startswith("cap") and (not isinstance(key, int) or isinstance(key, bool)):
            raise ValueError(key)
    except (TypeError, ValueError):
        raise BadRequest("invalid_cursor", "the cursor is not one this service issued") from None
    return [key, after_id]
