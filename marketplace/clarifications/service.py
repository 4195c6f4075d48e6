"""The rules of clarification questions and amendments (issue 28).

Verified vendors ask until the auction's cut-off; the department's buyers answer, for
everyone to read; who asked is shown to the department's buyers and admins only. A buyer may
amend the description or acceptance criteria of a scheduled or open auction, with a reason;
the replaced text stays readable, and an open auction's close moves so that bidders keep at
least ``amendment_min_hours`` to respond. The price cap, type and repository cannot change.
"""

from __future__ import annotations

from typing import Any

import msgspec
from arq.connections import ArqRedis

from marketplace import jobs, outbox, policy, ratelimit
from marketplace.auctions.service import load_visible, require_department_buyer
from marketplace.audit.record import Actor, record
from marketplace.auth import Caller
from marketplace.changes import announce
from marketplace.clarifications import queries
from marketplace.clarifications.schemas import NOT_AMENDABLE, Amendment, AmendmentCreate, Question
from marketplace.db import Conn, Fields, Pool, Row
from marketplace.errors import BadRequest, Conflict, DomainError, Forbidden, NotFound, Unprocessable
from marketplace.events import AuctionAmended, QuestionAnswered, QuestionAsked
from marketplace.settings import Settings

ASKING = ("scheduled", "open")
AMENDABLE = ("scheduled", "open")


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


def present_amendment(row: Row) -> Amendment:
    return Amendment(
        id=row["id"],
        auction_id=row["auction_id"],
        reason=row["reason"],
        amended_at=row["amended_at"],
        changed=[f for f in ("description", "acceptance") if row[f] is not None],
        description=row["description"],
        previous_description=row["previous_description"],
        acceptance=row["acceptance"],
        previous_acceptance=row["previous_acceptance"],
        ends_at=row["ends_at"],
        previous_ends_at=row["previous_ends_at"],
    )


def _plain(text: str) -> str:
    return text.replace("\r\n", "\n").strip()


def _changes(data: AmendmentCreate, auction: Row) -> dict[str, tuple[str, str]]:
    """Each text the amendment changes: (new, previous). Refuses what may not be amended."""
    for name in NOT_AMENDABLE:
        if getattr(data, name) is not msgspec.UNSET:
            raise BadRequest(
                "not_amendable",
                f"{name} cannot be amended (only the description and acceptance criteria "
                "can); cancel the auction and re-run it instead",
                field=name,
            )
    given = {
        name: value
        for name in ("description", "acceptance")
        if (value := getattr(data, name)) is not msgspec.UNSET
    }
    if not given:
        raise BadRequest(
            "nothing_to_amend", "give a new description, new acceptance criteria or both"
        )
    if "description" in given and not given["description"].strip():
        raise Unprocessable(
            "description_required", "a published task needs a description", field="description"
        )
    if not data.reason.strip():
        raise BadRequest("blank_text", "reason must not be blank", field="reason")
    # Line endings and surrounding blanks are not a change (a browser's form sends CRLF).
    changes = {
        n: (v.strip(), auction[n]) for n, v in given.items() if _plain(v) != _plain(auction[n])
    }
    if not changes:
        raise Unprocessable("nothing_changed", "the new texts are the same as the current ones")
    return changes


async def amend(
    pool: Pool,
    redis: ArqRedis,
    settings: Settings,
    caller: Caller,
    auction_id: int,
    data: AmendmentCreate,
    request_id: str,
) -> Amendment:
    """Amend a scheduled or open auction's texts; an open one's close moves to leave at
    least ``amendment_min_hours`` of bidding."""
    async with pool.acquire() as conn, conn.transaction():
        auction = await _amendable(conn, caller, auction_id)
        changes = _changes(data, auction)
        texts = {
            n: changes.get(n, (auction[n], auction[n]))[0] for n in ("description", "acceptance")
        }
        keep = settings.amendment_min_hours * 3600 if auction["status"] == "open" else None
        moved = await queries.amend_auction(
            conn, auction_id, texts["description"], texts["acceptance"], keep
        )
        if moved is None:  # open, but its bidding time is over: the close is due
            raise Conflict(
                "not_amendable_now",
                "bidding on this auction has ended; it is being closed",
                status_now=auction["status"],
            )
        reason = data.reason.strip()
        row = await queries.insert_amendment(
            conn, auction_id, caller.id, reason, changes, moved["ends_at"], auction["ends_at"]
        )
        amendment = present_amendment(row)
        await _announce_amendment(
            conn, caller.actor("buyer", request_id), auction, changes, amendment, moved
        )
    if moved["ends_at"] != auction["ends_at"]:
        await jobs.schedule_close(redis, auction_id, moved["ends_at"])
    return amendment


async def _amendable(conn: Conn, caller: Caller, auction_id: int) -> Any:
    """The auction (locked) once ``caller`` may amend it: a buyer of its department, while
    it is scheduled or open."""
    auction = await load_visible(conn, caller, auction_id, lock=True)
    require_department_buyer(caller, auction)
    if auction["status"] not in AMENDABLE:
        how = "edit the draft instead" if auction["status"] == "draft" else "it is over"
        raise Conflict(
            "not_amendable_now",
            f"only scheduled or open auctions can be amended; this one is "
            f"{auction['status']} ({how})",
            status_now=auction["status"],
        )
    return auction


async def _announce_amendment(
    conn: Conn,
    actor: Actor,
    auction: Row,
    changes: dict[str, tuple[str, str]],
    amendment: Amendment,
    moved: Any,
) -> None:
    """The amendment's event (the texts and close before and after) and its audit row."""
    auction_id = auction["id"]
    await announce(
        conn,
        AuctionAmended(
            auction_id=auction_id,
            amendment_id=amendment.id,
            reason=amendment.reason,
            amended_at=amendment.amended_at,
            changed=amendment.changed,
            description=amendment.description,
            previous_description=amendment.previous_description,
            acceptance=amendment.acceptance,
            previous_acceptance=amendment.previous_acceptance,
            ends_at=amendment.ends_at,
            previous_ends_at=amendment.previous_ends_at,
            questions_close_at=moved["questions_close_at"],
        ),
        actor,
        "auction.amended",
        "amendment",
        amendment.id,
        before={
            **{n: prev for n, (_, prev) in changes.items()},
            "ends_at": auction["ends_at"].isoformat(),
        },
        after={
            **{n: new for n, (new, _) in changes.items()},
            "ends_at": moved["ends_at"].isoformat(),
            "reason": amendment.reason,
        },
        auction_id=auction_id,
    )


async def list_amendments(pool: Pool, caller: Caller | None, auction_id: int) -> list[Amendment]:
    async with pool.acquire() as conn:
        await load_visible(conn, caller, auction_id)
        rows = await queries.list_amendments(conn, auction_id)
    return [present_amendment(r) for r in rows]
