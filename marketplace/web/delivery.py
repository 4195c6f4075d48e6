"""Delivery pages: the winner submits the pull request that delivers the work, and everyone
entitled to (the winner, the department's buyers, reviewers, auditors, admins) reads each
verification attempt with every rule's verdict and evidence. Linking the GitHub account
that delivering needs is in github_link.py."""

from __future__ import annotations

from typing import Any

from arq.connections import ArqRedis
from litestar import Request, get, post
from litestar.response import Redirect, Template

from marketplace.accounts import service as accounts
from marketplace.auctions import service as auctions
from marketplace.auth import Caller, request_id
from marketplace.db import Pool
from marketplace.deliveries import service as deliveries
from marketplace.errors import DomainError
from marketplace.settings import Settings
from marketplace.structs import decode_cursor
from marketplace.web.common import flash, form_text, plain, render, require, see_other

URL_MAX = 500
RECORDS_PER_PAGE = 20
# DESIGN §5's rules, as the verification records name them, in plain words.
RULES = {
    "repository": "The pull request is in the auction's repository",
    "pull_request_exists": "The pull request exists on GitHub",
    "author": "Its author is the winner's linked GitHub account",
    "merged": "It is merged",
    "target_branch": "It is merged into the auction's target branch",
    "merged_in_window": "It was merged after the award and before the delivery deadline",
    "merged_by_other": "Someone other than its author merged it",
    "checks_succeeded": "Every check and status on the merged commit succeeded",
    "references_issue": "It references the auction's issue (for example “Fixes #12”)",
}
TRIGGERS = {
    "submission": "when the pull request was submitted",
    "webhook": "after a GitHub notification",
    "recheck": "by the periodic re-check",
}
DELIVERY_STATUSES = {
    "submitted": "Submitted: verification is running",
    "verified": "Verified: waiting for a reviewer",
    "superseded": "Replaced by a later pull request",
}


def refusal(exc: DomainError, settings: Settings, repo: str) -> str:
    """A refused submission in plain words, to show beside the URL field."""
    example = f"{settings.github_url.rstrip('/')}/{repo}/pull/12"
    state = exc.extra.get("auction_status")
    return {
        "invalid_pull_request_url": "That is not the address of a pull request on "
        f"{settings.github_url}. Paste it as it appears in your browser, like {example}.",
        "not_the_winner": "Only the winner of this auction can deliver its work.",
        "github_not_linked": "Link your GitHub account first: the pull request's author must "
        "be your linked account.",
        "not_awaiting_delivery": "This auction is not waiting for a delivery any more"
        + (f" (it is {state.replace('_', ' ')})." if isinstance(state, str) else "."),
    }.get(exc.code) or plain(exc)


async def delivery_page(
    request: Request[Any, Any, Any],
    pool: Pool,
    settings: Settings,
    caller: Caller,
    auction_id: int,
    *,
    cursor: str | None = None,
    status: int = 200,
    error: str | None = None,
    value: str = "",
) -> Template:
    """The delivery and its verification records; the form re-renders it with a refusal."""
    auction = await auctions.get(pool, caller, auction_id)
    before = decode_cursor(cursor, int)
    report = await deliveries.report(pool, caller, auction_id, before, RECORDS_PER_PAGE)
    is_winner = report.winner_id == caller.id
    me = await accounts.get_me(pool, caller) if is_winner else None
    return render(
        request,
        caller,
        "delivery.html",
        status=status,
        auction=auction,
        report=report,
        is_winner=is_winner,
        may_submit=is_winner and auction.status in deliveries.DELIVERABLE,
        github=me.github if me else None,
        github_ready=bool(settings.github_client_id and settings.github_client_secret),
        example=f"{settings.github_url.rstrip('/')}/{auction.repo}/pull/12",
        rules=RULES,
        triggers=TRIGGERS,
        delivery_statuses=DELIVERY_STATUSES,
        error=error,
        value=value,
        first_page=before is None,
    )


@get("/auctions/{auction_id:int}/delivery", name="web:delivery")
async def delivery(
    request: Request[Any, Any, Any],
    pool: Pool,
    settings: Settings,
    viewer: Caller | None,
    auction_id: int,
    cursor: str | None = None,
) -> Template:
    return await delivery_page(request, pool, settings, require(viewer), auction_id, cursor=cursor)


@post("/auctions/{auction_id:int}/delivery", name="web:deliver")
async def deliver(
    request: Request[Any, Any, Any],
    pool: Pool,
    redis: ArqRedis,
    settings: Settings,
    viewer: Caller | None,
    auction_id: int,
) -> Template | Redirect:
    """The page's ``POST /api/auctions/{id}/delivery``."""
    caller = require(viewer)
    url = form_text(await request.form(), "pull_request_url", URL_MAX)
    if not url or len(url) > URL_MAX:
        return await delivery_page(
            request,
            pool,
            settings,
            caller,
            auction_id,
            status=400,
            value=url[:URL_MAX],
            error="Paste the address of your pull request (at most 500 characters).",
        )
    try:
        done = await deliveries.submit(
            pool, redis, settings, caller, auction_id, url, request_id(request)
        )
    except DomainError as exc:
        if exc.code == "auction_not_found":
            raise
        auction = await auctions.get(pool, caller, auction_id)
        message = refusal(exc, settings, auction.repo)
        if exc.status == 403:  # not the winner: the page itself may be closed to them
            flash(request, message, "error")
            return see_other(f"/auctions/{auction_id}")
        return await delivery_page(
            request, pool, settings, caller, auction_id, status=exc.status, value=url, error=message
        )
    flash(
        request,
        f"Pull request #{done.pr_number} on {done.repo} is delivered. Verification on GitHub "
        "has started: reload this page for its results.",
    )
    return see_other(f"/auctions/{auction_id}/delivery")


ROUTES = [delivery, deliver]
