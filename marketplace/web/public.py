"""Pages anyone may see: the auction list and an auction's page with its live feed."""

from __future__ import annotations

import secrets
import typing
from pathlib import Path
from typing import Any

import msgspec
from arq.connections import ArqRedis
from litestar import Request, get
from litestar.response import Response, Template

from marketplace import policy
from marketplace.auctions import presentation
from marketplace.auctions import service as auctions
from marketplace.auctions.schemas import Auction, Sort, Status
from marketplace.auth import Caller
from marketplace.awards import next_round
from marketplace.bids import service as bids
from marketplace.clarifications import amendments
from marketplace.clarifications import service as clarifications
from marketplace.db import Pool
from marketplace.errors import BadRequest
from marketplace.params import SEARCH_MAX_LENGTH
from marketplace.ratelimit import limit_listing
from marketplace.settings import Settings
from marketplace.structs import decode_cursor, encode_cursor
from marketplace.web import confirm
from marketplace.web.bid_box import Box, bid_box
from marketplace.web.common import render, web_settings

STATUSES = typing.get_args(Status)
SORTS = {
    "ending_soon": "Ending soonest",
    "newest": "Newest",
    "cap_high": "Highest cap",
    "cap_low": "Lowest cap",
}
assert set(SORTS) == set(typing.get_args(Sort))
CLOSING_SOON_SECONDS = 24 * 3600
PAGE_SIZE = 20
FAVICON = (Path(__file__).parent / "static" / "favicon.ico").read_bytes()


def badge(auction: Auction) -> tuple[str, str]:
    """(css class, label) of the auction's status badge."""
    if auction.status == "open":
        left = auction.time_left_seconds or 0
        if left <= CLOSING_SOON_SECONDS:
            return "closing", "Closing soon"
        return "open", "Open"
    if auction.status == "scheduled":
        return "upcoming", "Upcoming"
    if auction.status == "draft":
        return "draft", "Draft"
    if auction.status == "cancelled":
        return "cancelled", "Cancelled"
    return "closed", "Closed"


def _clean(value: str | None, max_length: int = 200) -> str | None:
    if value is None or not value.strip():
        return None
    return value.strip()[:max_length]


@get("/", name="web:index")
async def index(
    request: Request[Any, Any, Any],
    pool: Pool,
    redis: ArqRedis,
    settings: Settings,
    viewer: Caller | None,
    status: str | None = None,
    skill: str | None = None,
    q: str | None = None,
    sort: str | None = None,
    cursor: str | None = None,
) -> Template:
    problems = []
    status = _clean(status, 40)
    if status is not None and status not in STATUSES:
        problems.append(f"There is no status called “{status}”; showing every status.")
        status = None
    sort = _clean(sort, 20) or "ending_soon"
    if sort not in SORTS:
        problems.append(f"Unknown sort order “{sort}”; sorting by the closing time.")
        sort = "ending_soon"
    skill = _clean(skill, 40)
    q = _clean(q)
    if q is not None and len(q) > SEARCH_MAX_LENGTH:
        problems.append(
            f"Search text is limited to {SEARCH_MAX_LENGTH} characters; "
            f"searching for the first {SEARCH_MAX_LENGTH}."
        )
        q = q[:SEARCH_MAX_LENGTH].strip()
    await limit_listing(request, redis, settings, viewer, q)
    after = decode_cursor(_clean(cursor, 500), list[Any])
    if after is not None and (len(after) != 3 or after[0] != sort):
        raise BadRequest("invalid_cursor", "That page link is out of date; start from page one.")
    items, next_key = await auctions.list_page(
        pool,
        viewer,
        status=status,
        department_id=None,
        skill=skill,
        q=q,
        sort=sort,
        after=after[1:] if after else None,
        limit=PAGE_SIZE,
    )
    filters = {
        k: v for k, v in {"status": status, "skill": skill, "q": q, "sort": sort}.items() if v
    }
    return render(
        request,
        viewer,
        "index.html",
        auctions=[(a, *badge(a)) for a in items],
        statuses=STATUSES,
        sorts=SORTS,
        filters=filters,
        problems=problems,
        next_cursor=encode_cursor(sort, *next_key) if next_key else None,
        first_page=after is None,
    )


async def auction_page(
    request: Request[Any, Any, Any],
    pool: Pool,
    viewer: Caller | None,
    auction_id: int,
    *,
    status: int = 200,
    bid_error: str | None = None,
    bid_value: str = "",
    action_error: str | None = None,
    deadline_values: dict[str, str] | None = None,
    form_errors: dict[str, str] | None = None,
    form_values: dict[str, str] | None = None,
) -> Template:
    """The auction page; the bid route re-renders it with a refusal beside the form."""
    auction = await auctions.get(pool, viewer, auction_id)
    shown = await bids.list_bids(pool, viewer, auction_id, 0, 500)
    shown.reverse()  # newest first; ids are random, the list comes in acceptance order
    css, label = badge(auction)
    is_department_buyer = bool(policy.buys_for(viewer, auction.department_id))
    step, questions = await _buyer_actions(request, pool, viewer, auction, is_department_buyer)
    winner_id = auction.award.winner_id if auction.award else None
    return render(
        request,
        viewer,
        "auction.html",
        status=status,
        auction=auction,
        bids=shown,
        badge_class=css,
        badge_label=label,
        sealed_hidden=auction.type == "sealed" and not presentation.revealed(auction.status),
        live=auction.status in ("scheduled", "open"),
        box=_box(auction, viewer),
        bid_error=bid_error,
        bid_value=bid_value,
        idempotency_key=secrets.token_urlsafe(16),
        is_department_buyer=is_department_buyer,
        is_admin=bool(viewer and viewer.has("admin")),
        is_winner=bool(viewer and winner_id == viewer.id),
        may_see_delivery=bool(
            viewer
            and auction.award
            and policy.reads_delivery(viewer, auction.department_id, winner_id)
        ),
        action_error=action_error,
        offer_reaward=step == "reaward",
        offer_rerun=step == "rerun",
        deadline_values=deadline_values or {},
        questions=questions,
        **await _clarifications(request, pool, viewer, auction),
        form_errors=form_errors or {},
        form_values=form_values or {},
    )


def _box(auction: Auction, viewer: Caller | None) -> Box:
    """The bid box for this viewer (web/bid_box.py)."""
    return bid_box(
        status=auction.status,
        sealed=auction.type == "sealed",
        position=auction.position,
        winner_id=auction.award.winner_id if auction.award else None,
        award_cents=auction.award.amount_cents if auction.award else None,
        viewer_id=viewer.id if viewer else 0,
        verification=viewer.verification_status if viewer else None,
    )


async def _clarifications(
    request: Request[Any, Any, Any], pool: Pool, viewer: Caller | None, auction: Auction
) -> dict[str, Any]:
    """The page's questions and answers, amendments, and whether this viewer may ask."""
    refusal = clarifications.ask_refusal(viewer, msgspec.structs.asdict(auction))
    return {
        "qna": await clarifications.list_questions(pool, viewer, auction.id, 0, 500),
        "amendments": await amendments.list_amendments(pool, viewer, auction.id),
        "may_ask": refusal is None,
        "ask_refusal": refusal.detail if refusal is not None else None,
        "amendable": auction.status in amendments.AMENDABLE,
        "amendment_min_hours": web_settings(request).amendment_min_hours,
    }


async def _buyer_actions(
    request: Request[Any, Any, Any],
    pool: Pool,
    viewer: Caller | None,
    auction: Auction,
    is_department_buyer: bool,
) -> tuple[str | None, dict[str, confirm.Question | None]]:
    """For the auction's buyer: the step after the award offered (re-award or re-run, exactly
    where the awards service would accept it), and the questions the irreversible buttons
    ask before acting (see confirm.py)."""
    if viewer is None or not is_department_buyer:
        return None, {}
    step = await next_round.next_step(pool, viewer, auction.id)
    questions = {
        "publish": confirm.publish(auction, web_settings(request).zone),
        "cancel": confirm.cancel(auction),
        "reaward": (
            await confirm.reaward_question(pool, viewer, auction) if step == "reaward" else None
        ),
    }
    return step, questions


@get("/favicon.ico", name="web:favicon")
async def favicon() -> Response[bytes]:
    """The site's icon where browsers look for it (a price going down, in the brand colours)."""
    return Response(
        FAVICON, media_type="image/x-icon", headers={"Cache-Control": "public, max-age=86400"}
    )


@get("/auctions/{auction_id:int}", name="web:auction")
async def auction(
    request: Request[Any, Any, Any], pool: Pool, viewer: Caller | None, auction_id: int
) -> Template:
    return await auction_page(request, pool, viewer, auction_id)


ROUTES = [index, auction, favicon]
