"""The rules of auctions: drafting, publishing, cancelling, and what each caller may see."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
from arq.connections import ArqRedis

from marketplace import jobs, outbox, policy
from marketplace.auctions import queries
from marketplace.auctions.schemas import Auction, AuctionCreate, AuctionPatch, AwardNotice, Position
from marketplace.audit.record import record
from marketplace.auth import Caller
from marketplace.db import Conn, Pool, Row, held
from marketplace.errors import BadRequest, Conflict, Forbidden, NotFound, Unprocessable
from marketplace.events import AuctionCancelled, AuctionCreated, AuctionPublished, AuctionUpdated
from marketplace.settings import Settings

# A publish may name a start a few minutes in the past (clock skew, form filled slowly):
# the auction then opens at once.
PUBLISH_GRACE = dt.timedelta(minutes=5)
BIDDING = ("open",)
NOT_YET_CLOSED = ("draft", "scheduled", "open")


def alias(number: int | None) -> str:
    return f"Bidder {number}" if number is not None else "Bidder"


def alias_of(number: int | None) -> str | None:
    """A bid's alias; None for a sealed bid before close, which has none yet."""
    return None if number is None else alias(number)


def revealed(status: str) -> bool:
    """Sealed bids and bidder identities become public once bidding has closed."""
    return status not in (*NOT_YET_CLOSED, "cancelled")


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


def rule_problems(fields: dict[str, Any], settings: Settings) -> list[Unprocessable]:
    """Every rule a task's fields break (all of them, so a form can show them at once)."""
    found = []
    cap = fields["price_cap_cents"]
    if cap > settings.threshold_cents:
        found.append(
            Unprocessable(
                "cap_above_threshold",
                f"the price cap {cap} exceeds the micro-purchase threshold "
                f"{settings.threshold_cents}",
                field="price_cap_cents",
                threshold_cents=settings.threshold_cents,
            )
        )
    starts, ends = fields["starts_at"], fields["ends_at"]
    if ends <= starts:
        found.append(
            Unprocessable("ends_before_start", "ends_at must be after starts_at", field="ends_at")
        )
    elif (ends - starts).total_seconds() < settings.min_auction_seconds:
        found.append(
            Unprocessable(
                "window_too_short",
                f"the bidding window must be at least {settings.min_auction_seconds} seconds",
                field="ends_at",
                min_auction_seconds=settings.min_auction_seconds,
            )
        )
    due, days = fields["delivery_due_at"], fields["delivery_business_days"]
    if (due is None) == (days is None):
        found.append(
            Unprocessable(
                "delivery_due_required",
                "give exactly one of delivery_due_at or delivery_business_days",
                field="delivery_due_at",
            )
        )
    elif due is not None and due <= ends:
        found.append(
            Unprocessable(
                "delivery_before_close",
                "delivery_due_at must be after the bidding closes",
                field="delivery_due_at",
            )
        )
    return found


def _check_rules(fields: dict[str, Any], settings: Settings) -> None:
    problems = rule_problems(fields, settings)
    if problems:
        raise problems[0]


def draft_problems(fields: dict[str, Any], settings: Settings) -> list[Unprocessable]:
    """Every reason ``create`` or ``update`` would refuse these fields (for the task form)."""
    blank = [] if str(fields.get("title") or "").strip() else [_title_required()]
    return blank + rule_problems(fields, settings)


def _title_required() -> Unprocessable:
    return Unprocessable("title_required", "the title must not be blank", field="title")


def _fields(data: AuctionCreate) -> dict[str, Any]:
    fields = {name: getattr(data, name) for name in queries.EDITABLE}
    fields["skills"] = sorted({s.strip() for s in data.skills if s.strip()})
    fields["title"] = data.title.strip()
    if not fields["title"]:
        raise _title_required()
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
        await outbox.emit(
            conn,
            AuctionCreated(auction_id=auction_id, department_id=caller.department_id),
            auction_id=auction_id,
        )
        await record(
            conn,
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
        await outbox.emit(conn, AuctionUpdated(auction_id=auction_id), auction_id=auction_id)
        await record(
            conn,
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


def publish_problems(row: Row, settings: Settings) -> list[Unprocessable]:
    """Every reason a draft cannot be published now (its rules, then publication's own)."""
    fields = {name: row[name] for name in queries.EDITABLE}
    found = rule_problems(fields, settings)
    now = row["server_time"]
    if row["starts_at"] < now - PUBLISH_GRACE:
        found.append(
            Unprocessable(
                "starts_in_past", "starts_at is in the past; move it forward", field="starts_at"
            )
        )
    elif (
        row["ends_at"] - max(now, row["starts_at"])
    ).total_seconds() < settings.min_auction_seconds and not any(
        p.code in ("window_too_short", "ends_before_start") for p in found
    ):
        found.append(
            Unprocessable(
                "window_too_short",
                f"the bidding window must be at least {settings.min_auction_seconds} seconds",
                field="ends_at",
                min_auction_seconds=settings.min_auction_seconds,
            )
        )
    for name in ("summary", "description"):
        if not row[name].strip():
            found.append(
                Unprocessable(f"{name}_required", f"a published task needs a {name}", field=name)
            )
    return found


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
            await outbox.emit(
                conn,
                AuctionPublished(
                    auction_id=auction_id,
                    status=changed["status"],
                    starts_at=changed["starts_at"],
                    ends_at=changed["ends_at"],
                ),
                auction_id=auction_id,
            )
            await record(
                conn,
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
        await outbox.emit(
            conn,
            AuctionCancelled(auction_id=auction_id, reason=reason, voided_bids=len(bidders)),
            auction_id=auction_id,
        )
        await record(
            conn,
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
            award = await queries.latest_award(conn, auction_id)
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


def _position(row: Row, caller: Caller, standing: Row | None) -> Position:
    """What this vendor may bid now. Each reason is the code a bid would be refused with
    (sql/functions/bid_refusal.sql and place_bid.sql), so the detail and the bid agree."""
    bids = standing["bids"] if standing else 0
    best = standing["best"] if standing else None
    common: dict[str, Any] = {"has_bid": bids > 0, "your_best_cents": best}
    if not caller.has("vendor"):
        return Position(can_bid=False, reason="role_required", message="only vendors bid", **common)
    if caller.verification_status != "verified":
        return Position(
            can_bid=False,
            reason="vendor_not_verified",
            message=f"your vendor verification is {caller.verification_status}",
            **common,
        )
    if caller.department_id == row["department_id"]:
        return Position(
            can_bid=False,
            reason="conflict_of_interest",
            message="you belong to the buying department",
            **common,
        )
    if row["status"] != "open":
        return Position(
            can_bid=False,
            reason="auction_not_open",
            message=f"the auction is {row['status']}",
            **common,
        )
    if row["type"] == "sealed":
        if bids:
            return Position(
                can_bid=False, reason="already_bid", message="your sealed bid is in", **common
            )
        return Position(can_bid=True, max_allowed_cents=row["max_allowed_cents"], **common)
    if row["low_bidder_id"] == caller.id:
        return Position(
            can_bid=False,
            reason="already_low_bidder",
            is_low_bidder=True,
            message="you are the low bidder",
            **common,
        )
    return Position(can_bid=True, max_allowed_cents=row["max_allowed_cents"], **common)


def _notice(award: Row) -> AwardNotice:
    return AwardNotice(
        award_id=award["id"],
        round=award["round"],
        winner_id=award["winner_id"],
        winner_name=award["winner_name"],
        winner_alias=alias(award["alias_number"]),
        amount_cents=award["amount_cents"],
        awarded_at=award["awarded_at"],
        status=award["status"],
    )


def present(
    row: Row, caller: Caller | None, *, standing: Row | None = None, award: Row | None = None
) -> Auction:
    """The auction as this caller may see it: sealed auctions hide bids until close."""
    sealed_hidden = row["type"] == "sealed" and not revealed(row["status"])
    time_left = None
    if row["status"] == "open":
        time_left = max(0.0, (row["ends_at"] - row["server_time"]).total_seconds())
    position = None
    if caller is not None and caller.has("vendor") and row["status"] != "draft":
        position = _position(row, caller, standing)
    return Auction(
        id=row["id"],
        department_id=row["department_id"],
        department_name=row["department_name"],
        title=row["title"],
        summary=row["summary"],
        description=row["description"],
        repo=row["repo"],
        issue_number=row["issue_number"],
        target_branch=row["target_branch"],
        type=row["type"],
        status=row["status"],
        price_cap_cents=row["price_cap_cents"],
        min_decrement_cents=row["min_decrement_cents"],
        starts_at=row["starts_at"],
        ends_at=row["ends_at"],
        scheduled_ends_at=row["scheduled_ends_at"],
        delivery_due_at=row["delivery_due_at"],
        delivery_business_days=row["delivery_business_days"],
        soft_close_seconds=row["soft_close_seconds"],
        max_extensions=row["max_extensions"],
        extensions=row["extensions"],
        skills=list(row["skills"]),
        created_at=row["created_at"],
        published_at=row["published_at"],
        closed_at=row["closed_at"],
        cancelled_at=row["cancelled_at"],
        cancel_reason=row["cancel_reason"],
        time_left_seconds=time_left,
        low_bid_cents=None if sealed_hidden else row["lowest_cents"],
        bid_count=None if sealed_hidden else row["bid_count"],
        max_allowed_cents=row["max_allowed_cents"],
        server_time=row["server_time"],
        position=position,
        award=None if award is None else _notice(award),
        acceptance=row["acceptance"],
        questions_close_at=None if row["status"] == "draft" else row["questions_close_at"],
    )
