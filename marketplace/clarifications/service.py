"""The rules of clarification questions (amendments: clarifications/amendments.py).

Verified vendors ask until the auction's cut-off; the department's buyers answer, for
everyone to read; who asked is shown to the department's buyers and admins only.
"""

from __future__ import annotations

from typing import Any

from arq.connections import ArqRedis

from marketplace import outbox, policy, ratelimit
from marketplace.auctions.service import load_visible, require_department_buyer
from marketplace.audit.record import record
from marketplace.auth import Caller
from marketplace.changes import announce
from marketplace.clarifications import queries
from marketplace.clarifications.schemas import Question
from marketplace.db import Fields, Pool, Row
from marketplace.errors import BadRequest, Conflict, DomainError, Forbidden, NotFound
from marketplace.events import QuestionAnswered, QuestionAsked
from marketplace.settings import Settings

ASKING = ("scheduled", "open")


def sees_askers(caller: Caller | None, auction: Fields) -> bool:
    """The department's buyers and admins see who asked; nobody else does."""
    return caller is not None and (
        caller.has("admin") or policy.buys_for(caller, auction["department_id"])
    )


def ask_refusal(caller: Caller | None, auction: Fields) -> DomainError | None:
    """Why this caller may not ask about this auction now, or None when they may. The API
    and the auction page both ask it; the insert re-checks the cut-off on the database
    clock."""
    if caller is None or not caller.has("vendor"):
        return Forbidden("not_a_vendor", "only vendors ask clarification questions")
    if caller.verification_status != "verified":
        return Forbidden(
            "not_verified",
            f"only verified vendors ask questions; your verification is "
            f"{caller.verification_status}",
        )
    if caller.department_id == auction["department_id"]:
        return Forbidden(
            "conflict_of_interest", "you belong to the buying department", conflict="department"
        )
    if auction["status"] not in ASKING:
        return Conflict(
            "questions_closed",
            f"questions are taken only while an auction is scheduled or open; this one is "
            f"{auction['status']}",
            status_now=auction["status"],
        )
    if auction["server_time"] >= auction["questions_close_at"]:
        return _closed(auction)
    return None


def _closed(auction: Fields) -> Conflict:
    return Conflict(
        "questions_closed",
        f"questions closed at {auction['questions_close_at'].isoformat()}",
        questions_close_at=auction["questions_close_at"].isoformat(),
    )


def _text(value: str, field: str) -> str:
    text = value.strip()
    if not text:
        raise BadRequest("blank_text", f"{field} must not be blank", field=field)
    return text


def present_question(row: Row, caller: Caller | None, auction: Row) -> Question:
    shown = sees_askers(caller, auction)
    return Question(
        id=row["id"],
        auction_id=row["auction_id"],
        text=row["question"],
        asked_at=row["asked_at"],
        answer=row["answer"],
        answered_at=row["answered_at"],
        mine=caller is not None and caller.id == row["asked_by"],
        asker_id=row["asked_by"] if shown else None,
        asker_name=row["asker_name"] if shown else None,
    )


async def ask(
    pool: Pool,
    redis: ArqRedis,
    settings: Settings,
    caller: Caller,
    auction_id: int,
    text: str,
    request_id: str,
) -> Question:
    """Store a verified vendor's question; 409 ``questions_closed`` after the cut-off."""
    await ratelimit.limit(
        redis, f"question:user:{caller.id}", settings.question_limit_per_minute, fail_open=True
    )
    text = _text(text, "text")
    async with pool.acquire() as conn, conn.transaction():
        auction = await load_visible(conn, caller, auction_id)
        refusal = ask_refusal(caller, auction)
        if refusal is not None:
            raise refusal
        row = await queries.insert_question(conn, auction_id, caller.id, text)
        if row is None:  # closed between the read and the insert
            raise _closed(await load_visible(conn, caller, auction_id))
        # Global stream only: the question is not public until answered.
        await outbox.emit(conn, QuestionAsked(auction_id=auction_id, question_id=row["id"]))
        await record(
            conn,
            caller.actor("vendor", request_id),
            "question.asked",
            "question",
            row["id"],
            after={"text": text},
            auction_id=auction_id,
        )
    return present_question(row, caller, auction)


async def answer(
    pool: Pool, caller: Caller, auction_id: int, question_id: int, text: str, request_id: str
) -> Question:
    """The department's buyer answers a question, once, for everyone."""
    text = _text(text, "text")
    async with pool.acquire() as conn, conn.transaction():
        auction = await load_visible(conn, caller, auction_id)
        require_department_buyer(caller, auction)
        row = await queries.answer_question(conn, auction_id, question_id, caller.id, text)
        if row is None:
            existing = await queries.get_question(conn, auction_id, question_id)
            if existing is None:
                raise NotFound("question_not_found", "no such question on this auction")
            raise Conflict("already_answered", "this question is already answered")
        await announce(
            conn,
            QuestionAnswered(
                auction_id=auction_id,
                question_id=question_id,
                question=row["question"],
                answer=text,
                asked_at=row["asked_at"],
                answered_at=row["answered_at"],
            ),
            caller.actor("buyer", request_id),
            "question.answered",
            "question",
            question_id,
            before={"answer": None},
            after={"answer": text},
            auction_id=auction_id,
        )
    return present_question(row, caller, auction)


async def list_questions(
    pool: Pool, caller: Caller | None, auction_id: int, after_id: int, limit: int
) -> list[Question]:
    """Answered questions for all; the asker's own unanswered ones too; every question for
    the department's buyers and admins."""
    async with pool.acquire() as conn:
        auction = await load_visible(conn, caller, auction_id)
        rows = await queries.list_questions(
            conn,
            auction_id,
            every=sees_askers(caller, auction),
            asker_id=caller.id if caller else None,
            after_id=after_id,
            limit=limit,
        )
    return [present_question(r, caller, auction) for r in rows]


async def unanswered(pool: Pool, caller: Caller, limit: int = 50) -> list[Any]:
    """The caller's department's unanswered questions, oldest first (the buyer dashboard)."""
    if caller.department_id is None:
        return []
    async with pool.acquire() as conn:
        return await queries.unanswered_for_department(conn, caller.department_id, limit)
