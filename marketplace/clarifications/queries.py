"""Every SQL statement of clarification questions and amendments."""

from __future__ import annotations

import datetime as dt
from typing import Any

from marketplace.db import Conn, Row, one

QUESTION_COLUMNS = """q.id, q.auction_id, q.asked_by, u.name AS asker_name, q.question,
    q.asked_at, q.answer, q.answered_by, q.answered_at"""
QUESTION_FROM = "auction_questions q JOIN users u ON u.id = q.asked_by"

AMENDMENT_COLUMNS = """id, auction_id, amended_by, reason, description, previous_description,
    acceptance, previous_acceptance, ends_at, previous_ends_at, amended_at"""


async def insert_question(conn: Conn, auction_id: int, asked_by: int, text: str) -> Row | None:
    """The new question, or None when the auction takes no questions now: it must be
    scheduled or open and before its cut-off (sql/functions/questions_close_at.sql), judged
    on the database clock in the statement that stores it."""
    return await conn.fetchrow(
        f"""WITH q AS (
                INSERT INTO auction_questions (auction_id, asked_by, question)
                SELECT a.id, $2, $3 FROM auctions a
                WHERE a.id = $1 AND a.status IN ('scheduled', 'open')
                  AND now() < questions_close_at(a.starts_at, a.ends_at)
                RETURNING *)
            SELECT {QUESTION_COLUMNS} FROM q JOIN users u ON u.id = q.asked_by""",
        auction_id,
        asked_by,
        text,
    )


async def answer_question(
    conn: Conn, auction_id: int, question_id: int, answered_by: int, text: str
) -> Row | None:
    """Store the answer of an unanswered question (compare-and-set); None otherwise."""
    return await conn.fetchrow(
        f"""WITH q AS (
                UPDATE auction_questions SET answer = $4, answered_by = $3, answered_at = now()
                WHERE id = $2 AND auction_id = $1 AND answered_at IS NULL
                RETURNING *)
            SELECT {QUESTION_COLUMNS} FROM q JOIN users u ON u.id = q.asked_by""",
        auction_id,
        question_id,
        answered_by,
        text,
    )


async def get_question(conn: Conn, auction_id: int, question_id: int) -> Row | None:
    return await conn.fetchrow(
        f"SELECT {QUESTION_COLUMNS} FROM {QUESTION_FROM} WHERE q.id = $2 AND q.auction_id = $1",
        auction_id,
        question_id,
    )


async def list_questions(
    conn: Conn, auction_id: int, *, every: bool, asker_id: int | None, after_id: int, limit: int
) -> list[Any]:
    """The auction's questions in the order asked: every one when ``every``, else the
    answered ones and those ``asker_id`` asked."""
    rows: list[Any] = await conn.fetch(
        f"""SELECT {QUESTION_COLUMNS} FROM {QUESTION_FROM}
            WHERE q.auction_id = $1 AND q.id > $4
              AND ($2 OR q.answered_at IS NOT NULL OR q.asked_by = $3)
            ORDER BY q.id LIMIT $5""",
        auction_id,
        every,
        asker_id,
        after_id,
        limit,
    )
    return rows


async def unanswered_for_department(conn: Conn, department_id: int, limit: int) -> list[Any]:
    """Unanswered questions on the department's scheduled and open auctions, oldest first."""
    rows: list[Any] = await conn.fetch(
        f"""SELECT {QUESTION_COLUMNS}, a.title AS auction_title,
                   questions_close_at(a.starts_at, a.ends_at) AS questions_close_at
            FROM {QUESTION_FROM} JOIN auctions a ON a.id = q.auction_id
            WHERE a.department_id = $1 AND a.status IN ('scheduled', 'open')
              AND q.answered_at IS NULL
            ORDER BY q.id LIMIT $2""",
        department_id,
        limit,
    )
    return rows


async def insert_amendment(
    conn: Conn,
    auction_id: int,
    amended_by: int,
    reason: str,
    texts: dict[str, tuple[str, str]],
    ends_at: dt.datetime,
    previous_ends_at: dt.datetime,
) -> Row:
    """Record an amendment; ``texts`` maps each changed field to (new, previous)."""
    description = texts.get("description", (None, None))
    acceptance = texts.get("acceptance", (None, None))
    return await one(
        conn,
        f"""INSERT INTO auction_amendments (auction_id, amended_by, reason, description,
                previous_description, acceptance, previous_acceptance, ends_at, previous_ends_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {AMENDMENT_COLUMNS}""",
        auction_id,
        amended_by,
        reason,
        description[0],
        description[1],
        acceptance[0],
        acceptance[1],
        ends_at,
        previous_ends_at,
    )


async def amend_auction(
    conn: Conn, auction_id: int, description: str, acceptance: str, min_seconds: float | None
) -> Row | None:
    """Change the texts; with ``min_seconds``, move ``ends_at`` so that at least that long
    is left (never earlier). The auction must still be scheduled, or open with bidding not yet
    ended (an amendment never reopens an auction its close job has yet to close); None
    otherwise."""
    return await conn.fetchrow(
        """UPDATE auctions SET description = $2, acceptance = $3, updated_at = now(),
                  ends_at = CASE WHEN $4::float8 IS NULL THEN ends_at
                                 ELSE GREATEST(ends_at, now() + $4 * interval '1 second') END
           WHERE id = $1 AND (status = 'scheduled' OR (status = 'open' AND now() < ends_at))
           RETURNING ends_at, questions_close_at(starts_at, ends_at) AS questions_close_at""",
        auction_id,
        description,
        acceptance,
        min_seconds,
    )


async def list_amendments(conn: Conn, auction_id: int) -> list[Any]:
    rows: list[Any] = await conn.fetch(
        f"SELECT {AMENDMENT_COLUMNS} FROM auction_amendments WHERE auction_id = $1 ORDER BY id",
        auction_id,
    )
    return rows
