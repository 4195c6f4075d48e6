"""Thin handlers of clarification questions and amendments."""

from __future__ import annotations

from typing import Any

from arq.connections import ArqRedis
from litestar import Request, get, post

from marketplace.auth import Caller, anyone, request_id, roles
from marketplace.clarifications import amendments, service
from marketplace.clarifications.schemas import (
    Amendment,
    AmendmentCreate,
    AnswerCreate,
    Question,
    QuestionCreate,
)
from marketplace.db import Pool
from marketplace.params import Cursor, Limit
from marketplace.settings import Settings
from marketplace.structs import Page, decode_cursor, page_by_id


@post(
    "/api/auctions/{auction_id:int}/questions",
    guards=[roles("vendor")],
    tags=["clarifications"],
    summary="Ask a clarification question (verified vendors, until the cut-off)",
)
async def ask_question(
    request: Request[Any, Any, Any],
    auction_id: int,
    data: QuestionCreate,
    pool: Pool,
    redis: ArqRedis,
    settings: Settings,
    caller: Caller,
) -> Question:
    return await service.ask(
        pool, redis, settings, caller, auction_id, data.text, request_id(request)
    )


@get(
    "/api/auctions/{auction_id:int}/questions",
    guards=[anyone],
    tags=["clarifications"],
    summary="Answered questions (and the caller's own); every one for the department",
)
async def list_questions(
    auction_id: int, pool: Pool, caller: Caller | None, limit: Limit = 50, cursor: Cursor = None
) -> Page[Question]:
    after = decode_cursor(cursor, list[int])
    items = await service.list_questions(
        pool, caller, auction_id, after[0] if after else 0, limit + 1
    )
    return page_by_id(items, limit)


@post(
    "/api/auctions/{auction_id:int}/questions/{question_id:int}/answer",
    guards=[roles("buyer")],
    tags=["clarifications"],
    status_code=200,
    summary="Answer a question, for every bidder to read",
)
async def answer_question(
    request: Request[Any, Any, Any],
    auction_id: int,
    question_id: int,
    data: AnswerCreate,
    pool: Pool,
    caller: Caller,
) -> Question:
    return await service.answer(
        pool, caller, auction_id, question_id, data.text, request_id(request)
    )


@post(
    "/api/auctions/{auction_id:int}/amendments",
    guards=[roles("buyer")],
    tags=["clarifications"],
    summary="Amend a scheduled or open auction's description or acceptance criteria",
)
async def amend_auction(
    request: Request[Any, Any, Any],
    auction_id: int,
    data: AmendmentCreate,
    pool: Pool,
    redis: ArqRedis,
    settings: Settings,
    caller: Caller,
) -> Amendment:
    return await amendments.amend(
        pool, redis, settings, caller, auction_id, data, request_id(request)
    )


@get(
    "/api/auctions/{auction_id:int}/amendments",
    guards=[anyone],
    tags=["clarifications"],
    summary="The auction's amendments in order, each with the text it replaced",
)
async def list_amendments(auction_id: int, pool: Pool, caller: Caller | None) -> Page[Amendment]:
    return Page(items=await amendments.list_amendments(pool, caller, auction_id), next=None)


ROUTES = [ask_question, list_questions, answer_question, amend_auction, list_amendments]
