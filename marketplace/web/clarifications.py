"""Asking, answering and amending from the auction page: the same service as the API, its
refusals shown beside the form they concern."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from arq.connections import ArqRedis
from litestar import Request, post
from litestar.response import Redirect, Template

from marketplace.auctions.schemas import CancelRequest
from marketplace.auth import Caller, request_id
from marketplace.clarifications import amendments, service
from marketplace.clarifications.schemas import MAX_TEXT, AmendmentCreate, QuestionCreate
from marketplace.db import Pool
from marketplace.errors import DomainError
from marketplace.settings import Settings
from marketplace.structs import control_words
from marketplace.web.common import flash, require, see_other
from marketplace.web.public import auction_page


def _words(exc: msgspec.ValidationError, what: str, limit: int) -> str:
    """A form value's refusal in plain words."""
    message = str(exc)
    control = control_words(message)
    if control:
        return f"The {what} {control}."
    if "length" in message:
        return f"The {what} must be at most {limit:,} characters."
    return f"The {what} could not be read: {message}."


def _sentence(exc: DomainError) -> str:
    return exc.detail[:1].upper() + exc.detail[1:] + ("" if exc.detail.endswith(".") else ".")


def _text(
    form: Any, name: str, what: str, struct: type[Any] = QuestionCreate
) -> tuple[str, str | None]:
    """The form's text, and its refusal (None when it is fine), judged by the API's Struct."""
    raw = str(form.get(name) or "").replace("\r\n", "\n")
    if not raw.strip():
        return raw, f"Write the {what} first."
    field = "reason" if struct is CancelRequest else "text"
    try:
        msgspec.convert({field: raw}, struct)
    except msgspec.ValidationError as exc:
        return raw, _words(exc, what, 2000 if struct is CancelRequest else MAX_TEXT)
    return raw, None


async def _send(
    request: Request[Any, Any, Any],
    pool: Pool,
    viewer: Caller | None,
    auction_id: int,
    form: tuple[str, str, str | None],
    send: Callable[[], Awaitable[object]],
    *,
    raised: tuple[int, ...],
    done: str,
) -> Template | Redirect:
    """Send a question or an answer: ``form`` is (its field's key, its text, the form's
    refusal or None). Sent: back to the questions with ``done`` said. Refused: the auction
    page again, the refusal beside the form and its text kept; a refusal whose status is in
    ``raised`` (not found, not allowed, too many requests) answers as its own error page."""
    key, text, problem = form
    status = 400
    if problem is None:
        try:
            await send()
        except DomainError as exc:
            if exc.status in raised:
                raise
            problem, status = _sentence(exc), exc.status
        else:
            flash(request, done)
            return see_other(f"/auctions/{auction_id}#questions-heading")
    return await auction_page(
        request,
        pool,
        viewer,
        auction_id,
        status=status,
        form_errors={key: problem or ""},
        form_values={key: text},
    )


@post("/auctions/{auction_id:int}/questions", name="web:ask")
async def ask(
    request: Request[Any, Any, Any],
    pool: Pool,
    redis: ArqRedis,
    settings: Settings,
    viewer: Caller | None,
    auction_id: int,
) -> Template | Redirect:
    caller = require(viewer)
    text, problem = _text(await request.form(), "question", "question")
    return await _send(
        request,
        pool,
        viewer,
        auction_id,
        ("question", text, problem),
        lambda: service.ask(pool, redis, settings, caller, auction_id, text, request_id(request)),
        raised=(404, 429),
        done="Your question is sent. Its answer will be shown here to everyone.",
    )


@post("/auctions/{auction_id:int}/questions/{question_id:int}/answer", name="web:answer")
async def answer(
    request: Request[Any, Any, Any],
    pool: Pool,
    viewer: Caller | None,
    auction_id: int,
    question_id: int,
) -> Template | Redirect:
    caller = require(viewer, "buyer")
    text, problem = _text(await request.form(), "answer", "answer")
    return await _send(
        request,
        pool,
        viewer,
        auction_id,
        (f"answer-{question_id}", text, problem),
        lambda: service.answer(pool, caller, auction_id, question_id, text, request_id(request)),
        raised=(403, 404),
        done="Your answer is published and sent to every bidder.",
    )


@post("/auctions/{auction_id:int}/amendments", name="web:amend")
async def amend(
    request: Request[Any, Any, Any],
    pool: Pool,
    redis: ArqRedis,
    settings: Settings,
    viewer: Caller | None,
    auction_id: int,
) -> Template | Redirect:
    caller = require(viewer, "buyer")
    form = await request.form()
    values = {name: str(form.get(name) or "") for name in ("description", "acceptance", "reason")}
    reason, problem = _text(form, "reason", "reason for the amendment", CancelRequest)
    field, status = "reason", 400
    if problem is None:
        try:
            data = msgspec.convert(
                {
                    "description": values["description"],
                    "acceptance": values["acceptance"],
                    "reason": reason,
                },
                AmendmentCreate,
            )
            await amendments.amend(
                pool, redis, settings, caller, auction_id, data, request_id(request)
            )
        except msgspec.ValidationError as exc:
            field = "description" if "description" in str(exc) else "acceptance"
            problem = f"The {field} can be at most 20,000 characters, without control characters."
        except DomainError as exc:
            if exc.status in (403, 404):
                raise
            field = str(exc.extra.get("field") or "form")
            problem, status = _sentence(exc), exc.status
        else:
            flash(request, "The amendment is published and every bidder is told.")
            return see_other(f"/auctions/{auction_id}#amendments-heading")
    return await auction_page(
        request,
        pool,
        viewer,
        auction_id,
        status=status,
        form_errors={f"amend-{field}": problem or ""},
        form_values={f"amend-{k}": v for k, v in values.items()},
    )


ROUTES = [ask, answer, amend]
