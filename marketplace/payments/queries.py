"""Every SQL statement of payments. Transitions are compare-and-set on the stored status."""

from __future__ import annotations

from typing import Any

from marketplace.db import Conn, Row, one

PAYMENT_COLUMNS = """p.id, p.award_id, p.auction_id, p.department_id, p.payee_id, p.amount_cents,
    p.status, p.idempotency_key, p.release_after, p.attempts, p.last_error,
    p.provider_reference, p.created_at, p.released_at, p.confirmed_at,
    -- Missing until the payee gives details: the mark follows them, whatever the status.
    (p.missing_details AND NOT EXISTS (SELECT 1 FROM payment_details pd
                                       WHERE pd.user_id = p.payee_id)) AS missing_details,
    p.executed_at, p.executed_by, p.execution_reference,
    EXISTS (SELECT 1 FROM disputes d WHERE d.payment_id = p.id AND d.status = 'open')
        AS disputed,
    (SELECT x.title FROM auctions x WHERE x.id = p.auction_id) AS auction_title,
    (SELECT u.name FROM users u WHERE u.id = p.payee_id) AS payee_name,
    (SELECT d.name FROM departments d WHERE d.id = p.department_id) AS department_name"""


async def insert_payment(
    conn: Conn,
    award_id: int,
    auction_id: int,
    department_id: int,
    payee_id: int,
    amount: int,
    hold_seconds: int,
    missing_details: bool,
) -> Row | None:
    """The award's one payment (unique award_id); None if it already exists. It is held
    for the department's own hold, else ``hold_seconds`` (the deployment's)."""
    return await conn.fetchrow(
        """INSERT INTO payments (award_id, auction_id, department_id, payee_id, amount_cents,
                                 idempotency_key, release_after, missing_details)
           VALUES ($1, $2, $3, $4, $5, $8,
                   now() + COALESCE((SELECT d.payment_hold_seconds FROM departments d
                                     WHERE d.id = $3), $6) * interval '1 second', $7)
           ON CONFLICT (award_id) DO NOTHING
           RETURNING id, release_after""",
        award_id,
        auction_id,
        department_id,
        payee_id,
        amount,
        hold_seconds,
        missing_details,
        f"award-{award_id}",
    )


async def get_payment(conn: Conn, payment_id: int, *, lock: bool = False) -> Row | None:
    suffix = " FOR UPDATE OF p" if lock else ""
    return await conn.fetchrow(
        f"SELECT {PAYMENT_COLUMNS}, now() AS server_time FROM payments p WHERE p.id = $1{suffix}",
        payment_id,
    )


async def list_payments(
    conn: Conn,
    *,
    payee_id: int | None,
    department_id: int | None,
    status: str | None,
    before_id: int | None,
    limit: int,
) -> list[Any]:
    rows: list[Any] = await conn.fetch(
        f"""SELECT {PAYMENT_COLUMNS} FROM payments p
            WHERE ($1::bigint IS NULL OR p.payee_id = $1)
              AND ($2::bigint IS NULL OR p.department_id = $2)
              AND ($3::text IS NULL OR p.status = $3)
              AND ($4::bigint IS NULL OR p.id < $4)
            ORDER BY p.id DESC LIMIT $5""",
        payee_id,
        department_id,
        status,
        before_id,
        limit,
    )
    return rows


async def due_payments(conn: Conn, limit: int = 500) -> list[Any]:
    """Pending or failed payments whose hold has passed and that no open dispute freezes."""
    rows: list[Any] = await conn.fetch(
        """SELECT p.id, p.attempts, p.status FROM payments p
           WHERE p.status IN ('pending', 'failed') AND p.release_after <= now()
             AND NOT EXISTS (SELECT 1 FROM disputes d WHERE d.payment_id = p.id AND d.status = 'open')
           ORDER BY p.release_after LIMIT $1""",
        limit,
    )
    return rows


async def mark_released(conn: Conn, payment_id: int, reference: str) -> bool:
    status: str = await conn.execute(
        """UPDATE payments SET status = 'released', released_at = now(), provider_reference = $2,
                  attempts = attempts + 1, last_error = NULL
           WHERE id = $1 AND status IN ('pending', 'failed')""",
        payment_id,
        reference,
    )
    return status.endswith(" 1")


async def mark_failed(
    conn: Conn, payment_id: int, error: str, retry_in_seconds: float
) -> Row | None:
    return await conn.fetchrow(
        """UPDATE payments SET status = 'failed', attempts = attempts + 1, last_error = $2,
                  release_after = now() + $3 * interval '1 second'
           WHERE id = $1 AND status IN ('pending', 'failed')
           RETURNING attempts, release_after""",
        payment_id,
        error[:500],
        retry_in_seconds,
    )


async def mark_confirmed(conn: Conn, payment_id: int) -> bool:
    status: str = await conn.execute(
        """UPDATE payments SET status = 'confirmed', confirmed_at = now()
           WHERE id = $1 AND status = 'released'""",
        payment_id,
    )
    return status.endswith(" 1")


async def mark_executed(conn: Conn, payment_id: int, user_id: int, reference: str) -> bool:
    """Record the execution once, on a released (or already confirmed) order."""
    status: str = await conn.execute(
        """UPDATE payments SET executed_at = now(), executed_by = $2, execution_reference = $3
           WHERE id = $1 AND status IN ('released', 'confirmed') AND executed_at IS NULL""",
        payment_id,
        user_id,
        reference,
    )
    return status.endswith(" 1")


async def clear_missing_details(conn: Conn, payee_id: int) -> list[Any]:
    """The payee gave details: their orders not yet paid out no longer lack them."""
    rows: list[Any] = await conn.fetch(
        """UPDATE payments SET missing_details = false
           WHERE payee_id = $1 AND missing_details AND executed_at IS NULL
             AND status IN ('pending', 'released', 'failed', 'confirmed')
           RETURNING id, auction_id""",
        payee_id,
    )
    return rows


async def mark_cancelled(conn: Conn, payment_id: int) -> bool:
    status: str = await conn.execute(
        """UPDATE payments SET status = 'cancelled', cancelled_at = now()
           WHERE id = $1 AND status IN ('pending', 'failed')""",
        payment_id,
    )
    return status.endswith(" 1")


async def allow_release_now(conn: Conn, payment_id: int) -> None:
    await conn.execute(
        "UPDATE payments SET release_after = LEAST(release_after, now()) WHERE id = $1",
        payment_id,
    )


async def record_ledger_entry(conn: Conn, order: Any) -> int:
    """The ledger row for this idempotency key, written at most once."""
    entry_id: int | None = await conn.fetchval(
        """INSERT INTO ledger_entries (idempotency_key, payment_id, department_id, payee_id,
                                       amount_cents, method, reference, missing_details)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           ON CONFLICT (idempotency_key) DO NOTHING RETURNING id""",
        order.idempotency_key,
        order.payment_id,
        order.department_id,
        order.payee_id,
        order.amount_cents,
        order.method,
        order.reference,
        order.method is None,
    )
    if entry_id is None:
        entry_id = await conn.fetchval(
            "SELECT id FROM ledger_entries WHERE idempotency_key = $1", order.idempotency_key
        )
    assert entry_id is not None
    return entry_id


async def get_payment_details(conn: Conn, user_id: int) -> Row | None:
    return await conn.fetchrow(
        "SELECT method, reference, updated_at FROM payment_details WHERE user_id = $1", user_id
    )


async def upsert_payment_details(conn: Conn, user_id: int, method: str, reference: str) -> Row:
    return await one(
        conn,
        """INSERT INTO payment_details (user_id, method, reference) VALUES ($1, $2, $3)
           ON CONFLICT (user_id) DO UPDATE
           SET method = EXCLUDED.method, reference = EXCLUDED.reference, updated_at = now()
           RETURNING method, reference, updated_at""",
        user_id,
        method,
        reference,
    )


async def insert_dispute(
    conn: Conn, payment_id: int, user_id: int, role: str, reason: str
) -> Row | None:
    return await conn.fetchrow(
        """INSERT INTO disputes (payment_id, opened_by, opened_role, reason)
           VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING id""",
        payment_id,
        user_id,
        role,
        reason,
    )


async def open_dispute_opener(conn: Conn, payment_id: int) -> int | None:
    """Who opened the payment's open dispute, if one is open."""
    opener: int | None = await conn.fetchval(
        "SELECT opened_by FROM disputes WHERE payment_id = $1 AND status = 'open'", payment_id
    )
    return opener


async def resolve_dispute(
    conn: Conn, payment_id: int, user_id: int, outcome: str, reason: str
) -> Row | None:
    return await conn.fetchrow(
        """UPDATE disputes SET status = 'resolved', outcome = $3, resolved_by = $2,
                  resolution_reason = $4, resolved_at = now()
           WHERE payment_id = $1 AND status = 'open' RETURNING id""",
        payment_id,
        user_id,
        outcome,
        reason,
    )


async def list_disputes(conn: Conn, payment_id: int) -> list[Any]:
    rows: list[Any] = await conn.fetch(
        """SELECT id, payment_id, opened_by, reason, status, outcome, resolution_reason,
                  opened_at, resolved_at
           FROM disputes WHERE payment_id = $1 ORDER BY id""",
        payment_id,
    )
    return rows


async def set_auction_status(conn: Conn, auction_id: int, expected: str, new: str) -> bool:
    status: str = await conn.execute(
        "UPDATE auctions SET status = $3, updated_at = now() WHERE id = $1 AND status = $2",
        auction_id,
        expected,
        new,
    )
    return status.endswith(" 1")


async def is_department_buyer(conn: Conn, user_id: int, department_id: int) -> bool:
    found: bool = await conn.fetchval(
        """SELECT EXISTS (SELECT 1 FROM users WHERE id = $1 AND department_id = $2
                          AND 'buyer' = ANY (roles))""",
        user_id,
        department_id,
    )
    return found
