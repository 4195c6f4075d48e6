"""The task form of the buyer's pages: reading it (times in the viewer's zone), labels and
hints, and every refusal shown beside the field it is about."""

from __future__ import annotations

import datetime as dt
import typing
import zoneinfo
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import msgspec
from litestar.datastructures import FormMultiDict

from marketplace.auctions import rules
from marketplace.auctions.schemas import Auction, AuctionCreate
from marketplace.errors import DomainError
from marketplace.settings import Settings
from marketplace.web import zoned
from marketplace.web.common import (
    cents_to_dollars_input,
    dollars_to_cents,
    duration,
    field_of,
    money,
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
        for problem in rules.draft_problems(data, settings):
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


def form_field(exc: msgspec.ValidationError) -> str:
    field = field_of(exc) or "form"
    return FORM_FIELD.get(field, field)


def conversion_error(exc: msgspec.ValidationError) -> dict[str, str]:
    field = form_field(exc)
    return {field: hint(field) if field in HINTS else labelled(field, sentence(str(exc)))}


T = TypeVar("T")


async def save_task_form(
    form: FormMultiDict, settings: Settings, save: Callable[[dict[str, Any]], Awaitable[T]]
) -> tuple[T | None, dict[str, str]]:
    """Read and check the task form, then ``save`` its fields (a new draft or a draft's
    change): what ``save`` gave, or None with the errors to show beside the fields, every
    one the form, the task's rules or the service found."""
    zone = zone_of(form, settings)
    data, errors = read_task_form(form, zone or settings.zone)
    errors = errors or task_errors(data, settings)
    if errors or zone is None:
        return None, errors
    try:
        return await save(data), {}
    except msgspec.ValidationError as exc:
        return None, conversion_error(exc)
    except DomainError as exc:
        return None, domain_errors(exc)
