"""Every SQL statement of the vendor registry check."""

from __future__ import annotations

from typing import Any

from marketplace.db import Conn


async def insert_check(conn: Conn, event_id: int, user_id: int) -> None:
    await conn.execute(
        """INSERT INTO registry_checks (event_id, user_id) VALUES ($1, $2)
           ON CONFLICT (event_id) DO NOTHING""",
        event_id,
        user_id,
    )


async def claim_checks(conn: Conn, lease_seconds: float, limit: int) -> list[Any]:
    rows: list[Any] = await conn.fetch(
        """UPDATE registry_checks c SET claimed_until = now() + $1 * interval '1 second',
                  attempts = c.attempts + 1
           FROM users u
           WHERE u.id = c.user_id AND c.id IN (
               SELECT id FROM registry_checks
               WHERE status = 'pending' AND next_attempt_at <= now()
                 AND (claimed_until IS NULL OR claimed_until < now())
               ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED)
           RETURNING c.id, c.user_id, c.attempts, u.registry_id, u.verification_status""",
        lease_seconds,
        limit,
    )
    return rows


async def finish_check(conn: Conn, check_id: int, outcome: str) -> None:
    await conn.execute(
        """UPDATE registry_checks SET status = 'done', outcome = $2, done_at = now(),
                  claimed_until = NULL
           WHERE id = $1""",
        check_id,
        outcome[:2000],
    )


async def retry_check(conn: Conn, check_id: int, error: str, retry_in: float) -> None:
    await conn.execute(
        """UPDATE registry_checks SET last_error = $2, claimed_until = NULL,
                  next_attempt_at = now() + $3 * interval '1 second'
           WHERE id = $1 AND status = 'pending'""",
        check_id,
        error[:2000],
        retry_in,
    )
