"""The rules of amendments: a buyer may amend the description or acceptance criteria of a
scheduled or open auction, with a reason; the replaced text stays readable, and an open
auction's close moves so that bidders keep at least ``amendment_min_hours`` to respond. The
price cap, type and repository cannot change (cancel and re-run instead).
"""

from __future__ import annotations

from typing import Any

import msgspec
from arq.connections import ArqRedis

from marketplace import jobs
from marketplace.auctions.service import load_visible, require_department_buyer
from marketplace.audit.record import Actor
from marketplace.auth import Caller
from marketplace.changes import announce
from marketplace.clarifications import queries
from marketplace.clarifications.schemas import NOT_AMENDABLE, Amendment, AmendmentCreate
from marketplace.db import Conn, Pool, Row
from marketplace.errors import BadRequest, Conflict, Unprocessable
from marketplace.events import AuctionAmended
from marketplace.settings import Settings

AMENDABLE = ("scheduled", "open")


def present_amendment(row: Row) -> Amendment:
    return Amendment(
        id=row["id"],
        auction_id=row["auction_id"],
        reason=row["reason"],
        amended_at=row["amended_at"],
        changed=[f for f in ("description", "acceptance") if row[f] is not None],
        description=row["description"],
        previous_description=row["previous_description"],
        acceptance=row["acceptance"],
        previous_acceptance=row["previous_acceptance"],
        ends_at=row["ends_at"],
        previous_ends_at=row["previous_ends_at"],
    )


def _plain(text: str) -> str:
    return text.replace("\r\n", "\n").strip()


def _changes(data: AmendmentCreate, auction: Row) -> dict[str, tuple[str, str]]:
    """Each text the amendment changes: (new, previous). Refuses what may not be amended."""
    for name in NOT_AMENDABLE:
        if getattr(data, name) is not msgspec.UNSET:
            raise BadRequest(
                "not_amendable",
                f"{name} cannot be amended (only the description and acceptance criteria "
                "can); cancel the auction and re-run it instead",
                field=name,
            )
    given = {
        name: value
        for name in ("description", "acceptance")
        if (value := getattr(data, name)) is not msgspec.UNSET
    }
    if not given:
        raise BadRequest(
            "nothing_to_amend", "give a new description, new acceptance criteria or both"
        )
    if "description" in given and not given["description"].strip():
        raise Unprocessable(
            "description_required", "a published task needs a description", field="description"
        )
    if not data.reason.strip():
        raise BadRequest("blank_text", "reason must not be blank", field="reason")
    # Line endings and surrounding blanks are not a change (a browser's form sends CRLF).
    changes = {
        n: (v.strip(), auction[n]) for n, v in given.items() if _plain(v) != _plain(auction[n])
    }
    if not changes:
        raise Unprocessable("nothing_changed", "the new texts are the same as the current ones")
    return changes


async def amend(
    pool: Pool,
    redis: ArqRedis,
    settings: Settings,
    caller: Caller,
    auction_id: int,
    data: AmendmentCreate,
    request_id: str,
) -> Amendment:
    """Amend a scheduled or open auction's texts; an open one's close moves to leave at
    least ``amendment_min_hours`` of bidding."""
    async with pool.acquire() as conn, conn.transaction():
        auction = await _amendable(conn, caller, auction_id)
        changes = _changes(data, auction)
        texts = {
            n: changes.get(n, (auction[n], auction[n]))[0] for n in ("description", "acceptance")
        }
        keep = settings.amendment_min_hours * 3600 if auction["status"] == "open" else None
        moved = await queries.amend_auction(
            conn, auction_id, texts["description"], texts["acceptance"], keep
        )
        if moved is None:  # open, but its bidding time is over: the close is due
            raise Conflict(
                "not_amendable_now",
                "bidding on this auction has ended; it is being closed",
                status_now=auction["status"],
            )
        reason = data.reason.strip()
        row = await queries.insert_amendment(
            conn, auction_id, caller.id, reason, changes, moved["ends_at"], auction["ends_at"]
        )
        amendment = present_amendment(row)
        await _announce_amendment(
            conn, caller.actor("buyer", request_id), auction, changes, amendment, moved
        )
    if moved["ends_at"] != auction["ends_at"]:
        await jobs.schedule_close(redis, auction_id, moved["ends_at"])
    return amendment


async def _amendable(conn: Conn, caller: Caller, auction_id: int) -> Any:
    """The auction (locked) once ``caller`` may amend it: a buyer of its department, while
    it is scheduled or open."""
    auction = await load_visible(conn, caller, auction_id, lock=True)
    require_department_buyer(caller, auction)
    if auction["status"] not in AMENDABLE:
        how = "edit the draft instead" if auction["status"] == "draft" else "it is over"
        raise Conflict(
            "not_amendable_now",
            f"only scheduled or open auctions can be amended; this one is "
            f"{auction['status']} ({how})",
            status_now=auction["status"],
        )
    return auction


async def _announce_amendment(
    conn: Conn,
    actor: Actor,
    auction: Row,
    changes: dict[str, tuple[str, str]],
    amendment: Amendment,
    moved: Any,
) -> None:
    """The amendment's event (the texts and close before and after) and its audit row."""
    auction_id = auction["id"]
    await announce(
        conn,
        AuctionAmended(
            auction_id=auction_id,
            amendment_id=amendment.id,
            reason=amendment.reason,
            amended_at=amendment.amended_at,
            changed=amendment.changed,
            description=amendment.description,
            previous_description=amendment.previous_description,
            acceptance=amendment.acceptance,
            previous_acceptance=amendment.previous_acceptance,
            ends_at=amendment.ends_at,
            previous_ends_at=amendment.previous_ends_at,
            questions_close_at=moved["questions_close_at"],
        ),
        actor,
        "auction.amended",
        "amendment",
        amendment.id,
        before={
            **{n: prev for n, (_, prev) in changes.items()},
            "ends_at": auction["ends_at"].isoformat(),
        },
        after={
            **{n: new for n, (new, _) in changes.items()},
            "ends_at": moved["ends_at"].isoformat(),
            "reason": amendment.reason,
        },
        auction_id=auction_id,
    )


async def list_amendments(pool: Pool, caller: Caller | None, auction_id: int) -> list[Amendment]:
    async with pool.acquire() as conn:
        await load_visible(conn, caller, auction_id)
        rows = await queries.list_amendments(conn, auction_id)
    return [present_amendment(r) for r in rows]
