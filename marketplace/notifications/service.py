"""Dead letters, as admins see and requeue them."""

from __future__ import annotations

from marketplace.audit.record import Actor, record
from marketplace.db import Pool, Row
from marketplace.errors import Conflict, NotFound
from marketplace.notifications import queries
from marketplace.notifications.schemas import DeadLetter


def dead_letter_from_row(row: Row) -> DeadLetter:
    return DeadLetter(
        id=row["id"],
        consumer=row["consumer"],
        event_id=row["event_id"],
        type=row["type"],
        error=row["error"],
        attempts=row["attempts"],
        status=row["status"],
        created_at=row["created_at"],
        requeued_at=row["requeued_at"],
        resolved_at=row["resolved_at"],
    )


async def list_dead_letters(
    pool: Pool, after_id: int, limit: int, status: str | None
) -> list[DeadLetter]:
    async with pool.acquire() as conn:
        rows = await queries.list_dead_letters(conn, after_id, limit, status)
    return [dead_letter_from_row(r) for r in rows]


async def requeue(pool: Pool, actor: Actor, dead_letter_id: int) -> DeadLetter:
    """dead -> requeued: its consumer handles the event again on its next turn."""
    async with pool.acquire() as conn, conn.transaction():
        row = await queries.requeue_dead_letter(conn, dead_letter_id)
        if row is None:
            status = await queries.dead_letter_status(conn, dead_letter_id)
            if status is None:
                raise NotFound("dead_letter_not_found", "no such dead letter")
            raise Conflict(
                "dead_letter_not_dead", f"this dead letter is {status}", dead_letter_status=status
            )
        await record(
            conn,
            actor,
            "dead_letter.requeued",
            "dead_letter",
            dead_letter_id,
            after={"consumer": row["consumer"], "event_id": row["event_id"]},
        )
    return dead_letter_from_row(row)
