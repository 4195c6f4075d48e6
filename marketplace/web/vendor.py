"""Vendor pages: bidding from the auction page, my bids, my profile and verification."""

from __future__ import annotations

from typing import Any

import msgspec
from arq.connections import ArqRedis
from litestar import Request, get, post
from litestar.response import Redirect, Template

from marketplace.accounts import service as accounts
from marketplace.accounts import vendor_verification
from marketplace.accounts.schemas import VerificationRequest
from marketplace.auth import Caller, request_id
from marketplace.bids import service as bids
from marketplace.db import Pool
from marketplace.errors import DomainError
from marketplace.payments import service as payments
from marketplace.payments.schemas import PaymentDetails, PaymentDetailsIn
from marketplace.structs import decode_cursor, encode_cursor
from marketplace.web.common import (
    dollars_to_cents,
    field_of,
    flash,
    form_text,
    money,
    plain,
    render,
    require,
    see_other,
    web_settings,
)
from marketplace.web.public import auction_page

VERIFICATION_KINDS = {
    "business": "A business (company registry number)",
    "individual": "An individual (tax or identity number)",
    "student": "A student (student id)",
}
PAYMENT_METHODS = {
    "transfer": "Bank transfer (account number or IBAN)",
    "card": "Purchase card (the card's reference)",
}
REFERENCE_HINT = "Enter the account or card reference (2 to 200 characters)."


def refusal_message(exc: DomainError) -> str:
    """A bid refusal in plain words."""
    extra = exc.extra
    if exc.code == "amount_too_high" and extra.get("max_allowed_cents") is not None:
        return f"Your bid must be at most {money(extra['max_allowed_cents'])}."
    return {
        "already_low_bidder": "You are the low bidder. You can bid again once someone outbids you.",
        "already_bid": "You already placed your sealed bid in this auction.",
        "auction_not_open": "Bidding is not open on this auction.",
        "auction_closed": "Bidding has ended.",
        "vendor_not_verified": "Only verified vendors can bid. Ask for verification on your profile page.",
        "conflict_of_interest": "Members of the buying department cannot bid on its auctions.",
        "role_required": "Only vendors can bid.",
    }.get(exc.code, exc.detail)


@post("/auctions/{auction_id:int}/bid", name="web:bid")
async def place_bid(
    request: Request[Any, Any, Any],
    pool: Pool,
    redis: ArqRedis,
    viewer: Caller | None,
    auction_id: int,
) -> Template | Redirect:
    caller = require(viewer)
    form = await request.form()
    raw = str(form.get("amount") or "")
    key = str(form.get("idempotency_key") or "")[:200].strip() or None
    if not caller.has("vendor"):
        return await auction_page(
            request, pool, viewer, auction_id, status=403, bid_error="Only vendors can bid."
        )
    cents = dollars_to_cents(raw)
    if cents is None or cents <= 0:
        return await auction_page(
            request,
            pool,
            viewer,
            auction_id,
            status=400,
            bid_value=raw,
            bid_error="Enter your bid in dollars, for example 3,499.00.",
        )
    # The same per-user bid limit as the API's (DESIGN §10); a 429 page says when to retry.
    state = request.app.state
    await bids.count_bid(state.bid_counts, state.settings.bid_limit_per_minute, caller)
    try:
        answer = await bids.place_bid(
            state.bid_pool, redis, caller, auction_id, cents, key, request_id(request)
        )
    except DomainError as exc:
        if exc.code == "auction_not_found":
            raise
        return await auction_page(
            request,
            pool,
            viewer,
            auction_id,
            status=exc.status,
            bid_value=raw,
            bid_error=refusal_message(exc),
        )
    if answer.status != 201:  # a replayed refusal (the same form sent twice)
        body = msgspec.json.decode(answer.body)
        extra = {k: v for k, v in body.items() if k not in ("status", "code", "detail")}
        replayed = DomainError(body.get("code", ""), body.get("detail", ""), **extra)
        return await auction_page(
            request,
            pool,
            viewer,
            auction_id,
            status=answer.status,
            bid_value=raw,
            bid_error=refusal_message(replayed),
        )
    flash(request, f"Your bid of {money(cents)} is in.")
    return see_other(f"/auctions/{auction_id}")


@get("/me/bids", name="web:my_bids")
async def my_bids(
    request: Request[Any, Any, Any], pool: Pool, viewer: Caller | None, cursor: str | None = None
) -> Template:
    caller = require(viewer, "vendor")
    before = decode_cursor(cursor, list[int])
    items = await bids.my_bids(pool, caller, before[0] if before else None, 51)
    more = len(items) > 50
    items = items[:50]
    return render(
        request,
        viewer,
        "my_bids.html",
        bids=items,
        next_cursor=encode_cursor(items[-1].id) if more else None,
    )


async def saved_details(pool: Pool, caller: Caller) -> PaymentDetails | None:
    """The vendor's payment details, or None when they have not given any."""
    try:
        return await payments.get_details(pool, caller)
    except DomainError as exc:
        if exc.code == "no_payment_details":
            return None
        raise


async def _profile(
    request: Request[Any, Any, Any],
    pool: Pool,
    caller: Caller,
    *,
    status: int = 200,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
) -> Template:
    me = await accounts.get_me(pool, caller)
    settings = web_settings(request)
    details = await saved_details(pool, caller) if caller.has("vendor") else None
    return render(
        request,
        caller,
        "profile.html",
        status=status,
        me=me,
        kinds=VERIFICATION_KINDS,
        details=details,
        methods=PAYMENT_METHODS,
        errors=errors or {},
        values=values or {},
        github_ready=bool(settings.github_client_id and settings.github_client_secret),
    )


@get("/me", name="web:profile")
async def profile(request: Request[Any, Any, Any], pool: Pool, viewer: Caller | None) -> Template:
    return await _profile(request, pool, require(viewer))


@post("/me/verification", name="web:verification")
async def ask_verification(
    request: Request[Any, Any, Any], pool: Pool, viewer: Caller | None
) -> Template | Redirect:
    caller = require(viewer, "vendor")
    form = await request.form()
    values = {
        "kind": str(form.get("kind") or ""),
        "registry_id": str(form.get("registry_id") or "").strip(),
    }
    errors: dict[str, str] = {}
    if values["kind"] not in VERIFICATION_KINDS:
        errors["kind"] = "Choose what kind of vendor you are."
    if not values["registry_id"]:
        errors["registry_id"] = "Enter your registry id."
    if errors:
        return await _profile(request, pool, caller, status=400, errors=errors, values=values)
    try:
        data = msgspec.convert(values, VerificationRequest)
        await vendor_verification.request_verification(pool, caller, data, request_id(request))
    except msgspec.ValidationError as exc:
        field = field_of(exc) or "registry_id"
        message = "Use letters, digits and . _ / - only (at most 64)."
        return await _profile(
            request, pool, caller, status=400, errors={field: message}, values=values
        )
    except DomainError as exc:
        return await _profile(
            request, pool, caller, status=exc.status, errors={"form": exc.detail}, values=values
        )
    flash(request, "Your verification request is in. An administrator will review it.")
    return see_other("/me")


@post("/me/payment-details", name="web:payment_details")
async def save_payment_details(
    request: Request[Any, Any, Any], pool: Pool, viewer: Caller | None
) -> Template | Redirect:
    """Where payments go (the page's ``PUT /api/me/payment-details``)."""
    caller = require(viewer, "vendor")
    form = await request.form()
    values = {
        "method": form_text(form, "method", 20),
        "reference": form_text(form, "reference", 200),
    }
    errors: dict[str, str] = {}
    if values["method"] not in PAYMENT_METHODS:
        errors["method"] = "Choose how you want to be paid."
    if not 2 <= len(values["reference"]) <= 200:
        errors["reference"] = REFERENCE_HINT
    if not errors:
        try:
            data = msgspec.convert(values, PaymentDetailsIn)
            await payments.set_details(
                pool, caller, data.method, data.reference, request_id(request)
            )
        except msgspec.ValidationError:
            errors["reference"] = REFERENCE_HINT
        except DomainError as exc:
            errors["payment_form"] = plain(exc)
    if errors:
        return await _profile(request, pool, caller, status=400, errors=errors, values=values)
    flash(request, "Your payment details are saved. Payments are sent there.")
    return see_other("/me")


ROUTES = [place_bid, my_bids, profile, ask_verification, save_payment_details]
