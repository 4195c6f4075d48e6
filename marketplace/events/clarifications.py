"""Clarifications while an auction runs: questions, answers and amendments."""

from __future__ import annotations

import datetime as dt

from marketplace.events.base import AuctionEvent


class QuestionAsked(AuctionEvent, frozen=True, kw_only=True, tag="question.asked"):
    """A vendor asked a clarification question. Relayed to the global stream only (the
    department's buyers are told): until answered, a question is not public, and nothing
    here names who asked."""

    question_id: int


class QuestionAnswered(AuctionEvent, frozen=True, kw_only=True, tag="question.answered"):
    """The department's buyer answered a question, for every bidder to read; on the
    auction's stream. Never names who asked."""

    question_id: int
    question: str
    answer: str
    asked_at: dt.datetime
    answered_at: dt.datetime


class AuctionAmended(AuctionEvent, frozen=True, kw_only=True, tag="auction.amended"):
    """The buyer amended a scheduled or open auction's description or acceptance criteria.
    Each changed text comes with the one it replaced (null when that text is unchanged);
    ``ends_at`` moved later when too little bidding time was left."""

    amendment_id: int
    reason: str
    amended_at: dt.datetime
    changed: list[str]
    description: str | None = None
    previous_description: str | None = None
    acceptance: str | None = None
    previous_acceptance: str | None = None
    ends_at: dt.datetime
    previous_ends_at: dt.datetime
    questions_close_at: dt.datetime | None = None
