"""Request and response Structs of clarification questions and amendments."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import msgspec

from marketplace.structs import MULTI_LINE_PATTERN, LongText, Reason, Request, Response

MAX_TEXT = 4000
# A question or an answer: several lines allowed, no other control character.
ClarificationText = Annotated[
    str, msgspec.Meta(min_length=1, max_length=MAX_TEXT, pattern=MULTI_LINE_PATTERN)
]
# What an amendment may not change, and what to do instead.
NOT_AMENDABLE = ("price_cap_cents", "type", "repo", "min_decrement_cents")
_REFUSED = msgspec.Meta(description="cannot be amended: cancel the auction and re-run it")


class QuestionCreate(Request, kw_only=True):
    text: ClarificationText


class AnswerCreate(Request, kw_only=True):
    text: ClarificationText


class AmendmentCreate(Request, kw_only=True):
    """New texts (at least one) and why; the price cap, type and repository are refused."""

    description: LongText | msgspec.UnsetType = msgspec.UNSET
    acceptance: LongText | msgspec.UnsetType = msgspec.UNSET
    reason: Reason
    price_cap_cents: Annotated[Any, _REFUSED] = msgspec.UNSET
    type: Annotated[Any, _REFUSED] = msgspec.UNSET
    repo: Annotated[Any, _REFUSED] = msgspec.UNSET
    min_decrement_cents: Annotated[Any, _REFUSED] = msgspec.UNSET


class Question(Response, frozen=True, kw_only=True):
    """A question and its answer. ``asker_id`` and ``asker_name`` are given to the
    department's buyers and admins only; ``mine`` tells the asker their own."""

    id: int
    auction_id: int
    text: str
    asked_at: dt.datetime
    answer: str | None
    answered_at: dt.datetime | None
    mine: bool = False
    asker_id: int | None = None
    asker_name: str | None = None


class Amendment(Response, frozen=True, kw_only=True):
    """One amendment: each changed text with the one it replaced (null when unchanged)."""

    id: int
    auction_id: int
    reason: str
    amended_at: dt.datetime
    changed: list[str]
    description: str | None
    previous_description: str | None
    acceptance: str | None
    previous_acceptance: str | None
    ends_at: dt.datetime
    previous_ends_at: dt.datetime
