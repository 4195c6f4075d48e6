"""Buyer pages: the department's dashboard, and drafting, publishing and cancelling tasks.

Forms are read into the API's own Structs (``msgspec.convert``), so the pages accept
exactly what the API accepts; every refusal is shown beside the field it concerns.
"""

from __future__ import annotations

import datetime as dt
import typing
import zoneinfo
from typing import Any

import msgspec
from arq.connections import ArqRedis
from litestar import Request, get, post
from litestar.datastructures import FormMultiDict
from litestar.response import Redirect, Template

from marketplace import policy
from marketplace.auctions import service as auctions
from marketplace.auctions.schemas import Auction, AuctionCreate, AuctionPatch
from marketplace.auth import Caller, request_id
from marketplace.awards import service as awards
from marketplace.clarifications import service as clarifications
from marketplace.db import Pool
from marketplace.errors import DomainError, Forbidden
from marketplace.payments import service as payments
from marketplace.settings import Settings
from marketplace.web import confirm, zoned
from marketplace.web.common import (
    cents_to_dollars_input,
    dollars_to_cents,
    duration,
    field_of,
    flash,
    money,
    render,
    require,
    see_other,
    sentence,
)

# Struct field -> form field, where they differ (the form takes dollars, not cents).
FORM_FIELD = {"price_cap_cents": "price_cap", "min_decrement_cents": "min_decrement"}
# Every error names its field by the label the form shows.
LABELS = {
    "title": "Title",
    "summary": "Summary",
    "description": "Description",
    "acceptance": "Acceptance criteria",
    "repo": "GitHub repository",
    "issue_number": "Issue number",
    "target_branch": "Target branch",
    "type": "Auction type",
    "price_cap": "Price cap",
    "min_decrement": "Minimum step between bids",
    "starts_at": "Opens",
    "ends_at": "Closes",
    "delivery_due_at": "Due",
    "delivery_business_days": "Business days",
    "soft_close_seconds": "Soft close",
    "max_extensions": "At most this many extensions",
    "skills": "Skills",
}
HINTS = {
    "title": "enter a title of at most 200 characters.",
    "summary": "enter at most 1,000 characters.",
    "description": "enter at most 20,000 characters.",
    "acceptance": "enter at most 20,000 characters.",
    "repo": "give it as owner/name, for example city-of-x/permits.",
    "issue_number": "enter the issue number, for example 12.",
    "target_branch": "enter a branch name without spaces, or leave it blank for the default.",
    "type": "choose reverse or sealed.",
    "price_cap": "enter a price cap in dollars, for example 3,500.00.",
    "min_decrement": "enter the minimum step in dollars, for example 1.00.",
    "starts_at": "choose when bidding opens.",
    "ends_at": "choose when bidding closes.",
    "delivery_due_at": "choose a delivery date after bidding closes.",
    "delivery_business_days": "enter a number of business days between 1 and 365.",
    "soft_close_seconds": "enter a number of seconds between 0 and 86,400.",
    "max_extensions": "enter a number between 0 and 1,000.",
    "skills": "list at most 20 skills, separated by commas (letters, digits, + # . _ -).",
}
FIELD_TYPES = typing.get_type_hints(AuctionCreate, include_extras=True)
ATTENTION = (
    ("draft", "Drafts to finish and publish"),
    ("open", "Open for bidding"),
    ("scheduled", "Scheduled to open"),
    ("overdue", "Delivery overdue: the deadline passed without a verified pull request"),
    ("pending_review", "Delivered and awaiting review"),
    ("rejected", "Rejected work: re-award to the runner-up"),
    ("missed_delivery", "Missed delivery: re-award to the runner-up"),
    ("accepted", "Accepted, awaiting payment"),
    ("paid", "Paid, awaiting the vendor's confirmation"),
    ("awarded", "Awarded, waiting for delivery"),
    ("delivered", "Delivered, being verified"),
)
OVERDUE_FROM = ("awarded", "delivered")
TIME_FIELDS = ("starts_at", "ends_at", "delivery_due_at")


def zone_of(form: FormMultiDict, settings: Settings) -> zoneinfo.ZoneInfo | None:
    """The zone the form's values are in (its ``tz``; see web/zoned.py); None if unknown."""
    return zoned.zone_named(str(form.get("tz") or ""), settings.zone)


def read_task_form(
    form: FormMultiDict, zone: zoneinfo.ZoneInfo
) -> tuple[dict[str, Any], dict[str, str]]:
    """The form as the API's fields, and the fields that could not be read at all."""
    errors: dict[str, str] = {}
    data: dict[str, Any] = {}

    def text(name: str) -> str:
        return str(form.get(name) or "").strip()

    for name in ("title", "summary", "description", "acceptance", "repo"):
        data[name] = text(name)
    data["target_branch"] = text("target_branch") or None
    data["type"] = text("type") or "reverse"
    data["skills"] = [s.strip() for s in text("skills").split(",") if s.strip()]
    for name, field in (("price_cap", "price_cap_cents"), ("min_decrement", "min_decrement_cents")):
        cents = dollars_to_cents(text(name))
        if cents is None or cents <= 0:
            errors[name] = hint(name)
        data[field] = cents
    for name in ("issue_number", "soft_close_seconds", "max_extensions"):
        raw = text(name)
        if not raw and name == "issue_number":
            data[name] = None
        elif raw.isdigit() and len(raw) <= 10:
            data[name] = int(raw)
        else:
            errors[name] = hint(name)
    times = ["starts_at", "ends_at"]
    delivery = text("delivery") or "days"
    if delivery == "date":
        times.append("delivery_due_at")
        data["delivery_business_days"] = None
    else:
        data["delivery_due_at"] = None
        raw = text("delivery_business_days")
        if raw.isdigit() and len(raw) <= 4:
            data["delivery_business_days"] = int(raw)
        else:
            errors["delivery_business_days"] = hint("delivery_business_days")
    for name in times:
        data[name] = zoned.from_input(text(name), zone)
        if data[name] is None:
            errors[name] = hint(name)
    return data, errors


def labelled(name: str, text: str) -> str:
    """An error as the form says it: the field's label, then what to do."""
    label = LABELS.get(name)
    return f"{label}: {text}" if label else text[:1].upper() + text[1:]


def hint(name: str) -> str:
    return labelled(name, HINTS[name])


def field_errors(data: dict[str, Any]) -> dict[str, str]:
    """Each field checked against the API's own type for it, so every bad one is named."""
    errors = {}
    for name, value in data.items():
        kind = FIELD_TYPES.get(name)
        if kind is None:
            continue
        try:
            msgspec.convert(value, kind)
        except msgspec.ValidationError:
            field = FORM_FIELD.get(name, name)
            errors[field] = hint(field) if field in HINTS else labelled(field, "not valid.")
    return errors


def task_errors(data: dict[str, Any], settings: Settings) -> dict[str, str]:
    """All that is wrong with the form at once: unreadable fields, then the task's rules."""
    errors = field_errors(data)
    if not errors:
        for problem in auctions.draft_problems(data, settings):
            errors.update(domain_errors(problem))
    return errors


def form_values(
    form: FormMultiDict | None, auction: Auction | None, zone: zoneinfo.ZoneInfo
) -> dict[str, str]:
    """What the form's inputs show, times in ``zone``: what was sent, else the draft, else
    sensible defaults (bidding opens in ten minutes, for a week)."""
    if form is not None:
        return {k: str(v) for k, v in form.items()}
    if auction is None:
        start = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0) + dt.timedelta(minutes=10)
        return {
            "type": "reverse",
            "min_decrement": "1.00",
            "starts_at": zoned.to_input(start, zone),
            "ends_at": zoned.to_input(start + dt.timedelta(days=7), zone),
            "delivery": "days",
            "delivery_business_days": "10",
            "soft_close_seconds": "120",
            "max_extensions": "10",
        }
    return {
        "title": auction.title,
        "summary": auction.summary,
        "description": auction.description,
        "acceptance": auction.acceptance,
        "repo": auction.repo,
        "issue_number": str(auction.issue_number or ""),
        "target_branch": auction.target_branch or "",
        "type": auction.type,
        "price_cap": cents_to_dollars_input(auction.price_cap_cents),
        "min_decrement": cents_to_dollars_input(auction.min_decrement_cents),
        "starts_at": zoned.to_input(auction.starts_at, zone),
        "ends_at": zoned.to_input(auction.ends_at, zone),
        "delivery": "date" if auction.delivery_due_at else "days",
        "delivery_due_at": zoned.to_input(auction.delivery_due_at, zone),
        "delivery_business_days": str(auction.delivery_business_days or ""),
        "soft_close_seconds": str(auction.soft_close_seconds),
        "max_extensions": str(auction.max_extensions),
        "skills": ", ".join(auction.skills),
    }


def domain_message(exc: DomainError) -> str:
    """A refusal of the task's rules, in the form's words, its field's label first."""
    extra = exc.extra
    words = {
        "cap_above_threshold": "Price cap: at most "
        f"{money(extra.get('threshold_cents', 0))}, the micro-purchase threshold.",
        "ends_before_start": "Closes: choose a time after bidding opens.",
        "window_too_short": "Closes: bidding must stay open at least "
        f"{duration(int(extra.get('min_auction_seconds', 0)))} after it opens.",
        "delivery_due_required": "Delivery deadline: give a number of business days or a date.",
        "delivery_before_close": "Due: choose a delivery date after bidding closes.",
        "starts_in_past": "Opens: that time has passed; choose a later one.",
        "title_required": "Title: enter a title.",
        "summary_required": "Summary: a published task needs one.",
        "description_required": "Description and acceptance criteria: a published task needs them.",
    }
    if exc.code in words and (exc.code != "window_too_short" or extra.get("min_auction_seconds")):
        return words[exc.code]
    field = extra.get("field")
    name = FORM_FIELD.get(field, field) if isinstance(field, str) else ""
    return labelled(name or "", sentence(exc.detail))


def domain_errors(exc: DomainError) -> dict[str, str]:
    field = exc.extra.get("field")
    key = FORM_FIELD.get(field, field) if isinstance(field, str) else "form"
    if exc.code == "delivery_due_required":
        key = "delivery_business_days"
    return {key or "form": domain_message(exc)}


async def _form_page(
    request: Request[Any, Any, Any],
    caller: Caller,
    settings: Settings,
    *,
    auction: Auction | None = None,
    form: FormMultiDict | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Template:
    zone = zone_of(form, settings) if form is not None else settings.zone
    values = form_values(form, auction, zone or settings.zone)
    if zone is None:
        # Nothing was saved: the times are asked for again in the deployment's zone, which
        # the form then keeps (data-zone-fixed), instead of being misread.
        sent = str(form.get("tz") or "") if form is not None else ""
        errors = {**(errors or {}), "form": zoned.unknown_zone_message(sent, settings.zone)}
        values = {**values, **dict.fromkeys(TIME_FIELDS, "")}
    return render(
        request,
        caller,
        "task_form.html",
        status=status,
        auction=auction,
        values=values,
        instants=zoned.instants(values, TIME_FIELDS, zone or settings.zone),
        errors=errors or {},
        form_zone=(zone or settings.zone).key,
        zone_fixed=zone is None,
        threshold=settings.threshold_cents,
    )


async def _draft(pool: Pool, caller: Caller, auction_id: int) -> Auction:
    auction = await auctions.get(pool, caller, auction_id)
    if not policy.buys_for(caller, auction.department_id):
        raise Forbidden("not_your_department", "Only buyers of this task's department may do this.")
    return auction


@get("/buyer", name="web:buyer")
async def dashboard(request: Request[Any, Any, Any], pool: Pool, viewer: Caller | None) -> Template:
    caller = require(viewer, "buyer")
    found: dict[str, tuple[list[Auction], bool]] = {}
    for status, _ in ATTENTION:
        if status == "overdue":
            continue
        page, next_key = await auctions.list_page(
            pool,
            caller,
            status=status,
            department_id=caller.department_id,
            skill=None,
            q=None,
            sort="ending_soon",
            after=None,
            limit=50,
        )
        found[status] = (page, next_key is not None)
    # Awarded or delivered past the award's deadline: listed apart, at the top.
    waiting = [a for s in OVERDUE_FROM for a in found[s][0]]
    overdue = await awards.overdue_among(pool, [a.id for a in waiting])
    found["overdue"] = ([a for a in waiting if a.id in overdue], False)
    for status in OVERDUE_FROM:
        listed, more = found[status]
        found[status] = ([a for a in listed if a.id not in overdue], more)
    sections = [(status, title, *found[status]) for status, title in ATTENTION]
    # Unanswered questions come first: bidders wait on them, and questions close early.
    unanswered = await clarifications.unanswered(pool, caller)
    # Each accepted auction's payment order, where the buyer follows it or disputes it.
    orders = {p.auction_id: p for p in await payments.list_for(pool, caller, None, None, 100)}
    return render(
        request,
        caller,
        "buyer_dashboard.html",
        sections=sections,
        due_dates=overdue,
        unanswered=unanswered,
        orders=orders,
    )


@get("/buyer/tasks/new", name="web:new_task")
async def new_task(
    request: Request[Any, Any, Any], viewer: Caller | None, settings: Settings
) -> Template:
    return await _form_page(request, require(viewer, "buyer"), settings)


@post("/buyer/tasks/new", name="web:create_task")
async def create_task(
    request: Request[Any, Any, Any], pool: Pool, viewer: Caller | None, settings: Settings
) -> Template | Redirect:
    caller = require(viewer, "buyer")
    form = await request.form()
    zone = zone_of(form, settings)
    data, errors = read_task_form(form, zone or settings.zone)
    errors = errors or task_errors(data, settings)
    if not errors and zone is not None:
        try:
            body = msgspec.convert(data, AuctionCreate)
            created = await auctions.create(pool, settings, caller, body, request_id(request))
        except msgspec.ValidationError as exc:
            errors = _conversion_error(exc)
        except DomainError as exc:
            errors = domain_errors(exc)
        else:
            flash(request, "Draft saved. Check it, then publish it.")
            return see_other(f"/auctions/{created.id}")
    return await _form_page(request, caller, settings, form=form, errors=errors, status=422)


def _form_field(exc: msgspec.ValidationError) -> str:
    field = field_of(exc) or "form"
    return FORM_FIELD.get(field, field)


def _conversion_error(exc: msgspec.ValidationError) -> dict[str, str]:
    field = _form_field(exc)
    return {field: hint(field) if field in HINTS else labelled(field, sentence(str(exc)))}


@get("/buyer/tasks/{auction_id:int}/edit", name="web:edit_task")
async def edit_task(
    request: Request[Any, Any, Any],
    pool: Pool,
    viewer: Caller | None,
    settings: Settings,
    auction_id: int,
) -> Template:
    caller = require(viewer, "buyer")
    auction = await _draft(pool, caller, auction_id)
    return await _form_page(request, caller, settings, auction=auction)


@post("/buyer/tasks/{auction_id:int}/edit", name="web:update_task")
async def update_task(
    request: Request[Any, Any, Any],
    pool: Pool,
    viewer: Caller | None,
    settings: Settings,
    auction_id: int,
) -> Template | Redirect:
    caller = require(viewer, "buyer")
    auction = await _draft(pool, caller, auction_id)
    form = await request.form()
    zone = zone_of(form, settings)
    data, errors = read_task_form(form, zone or settings.zone)
    errors = errors or task_errors(data, settings)
    if not errors and zone is not None:
        try:
            patch = msgspec.convert(data, AuctionPatch)
            await auctions.update(pool, settings, caller, auction_id, patch, request_id(request))
        except msgspec.ValidationError as exc:
            errors = _conversion_error(exc)
        except DomainError as exc:
            errors = domain_errors(exc)
        else:
            flash(request, "Draft updated.")
            return see_other(f"/auctions/{auction_id}")
    return await _form_page(
        request, caller, settings, auction=auction, form=form, errors=errors, status=422
    )


@post("/buyer/tasks/{auction_id:int}/publish", name="web:publish_task")
async def publish_task(
    request: Request[Any, Any, Any],
    pool: Pool,
    redis: ArqRedis,
    viewer: Caller | None,
    settings: Settings,
    auction_id: int,
) -> Template | Redirect:
    caller = require(viewer, "buyer")
    form = await request.form()
    try:
        if not confirm.confirmed(form):
            draft = await auctions.check_publishable(pool, settings, caller, auction_id)
            return confirm.ask(
                request,
                caller,
                form,
                action=f"/buyer/tasks/{auction_id}/publish",
                question=confirm.publish(draft, settings.zone),
                back=f"/auctions/{auction_id}",
            )
        published = await auctions.publish(
            pool, redis, settings, caller, auction_id, request_id(request)
        )
    except DomainError as exc:
        if exc.status in (403, 404) or "field" not in exc.extra:
            raise
        # Show what stops publication beside its field in the draft's form.
        auction = await _draft(pool, caller, auction_id)
        return await _form_page(
            request, caller, settings, auction=auction, errors=domain_errors(exc), status=422
        )
    state = "open for bidding" if published.status == "open" else "scheduled"
    flash(request, f"Published: the auction is {state}.")
    return see_other(f"/auctions/{auction_id}")


@post("/buyer/tasks/{auction_id:int}/cancel", name="web:cancel_task")
async def cancel_task(
    request: Request[Any, Any, Any], pool: Pool, viewer: Caller | None, auction_id: int
) -> Template | Redirect:
    caller = require(viewer, "buyer")
    form = await request.form()
    reason = str(form.get("reason") or "").strip()
    if not reason or len(reason) > 2000:
        flash(request, "Reason for cancelling: give one of at most 2,000 characters.", "error")
        return see_other(f"/auctions/{auction_id}")
    if not confirm.confirmed(form):
        return confirm.ask(
            request,
            caller,
            form,
            action=f"/buyer/tasks/{auction_id}/cancel",
            question=confirm.cancel(await _draft(pool, caller, auction_id)),
            back=f"/auctions/{auction_id}",
        )
    await auctions.cancel(pool, caller, auction_id, reason, request_id(request))
    flash(request, "The auction is cancelled; any bids were voided and bidders told.")
    return see_other(f"/auctions/{auction_id}")


ROUTES = [
    dashboard,
    new_task,
    create_task,
    edit_task,
    update_task,
    publish_task,
    cancel_task,
]
