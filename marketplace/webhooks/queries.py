"""Every SQL statement of department webhooks."""

from __future__ import annotations

from typing import Any

from marketplace.db import Conn, Row, one

WEBHOOK_COLUMNS = """w.id, w.department_id, w.url, w.status, w.consecutive_failures,
    w.created_at, w.disabled_at, w.last_delivery_at, w.last_status_code, w.last_error,
    (SELECT count(*) FROM webhook_sends d
     WHERE d.webhook_id = w.id AND d.status = 'pending') AS pending_deliveries,
    (SELECT count(*) FROM webhook_sends d
     WHERE d.webhook_id = w.id AND d.status = 'failed') AS failed_deliveries"""


async def department_exists(conn: Conn, department_id: int) -> bool:
    found: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM departments WHERE id = $1)", department_id
    )
    return found


async def insert_webhook(
    conn: Conn, department_id: int, url: str, secret: str, created_by: int
) -> int:
    webhook_id: int = await conn.fetchval(
        """INSERT INTO department_webhooks (department_id, url, secret, created_by)
           VALUES ($1, $2, $3, $4) RETURNING id""",
        department_id,
        url,
        secret,
        created_by,
    )
    return webhook_id


async def get_webhook(conn: Conn, department_id: int, webhook_id: int) -> Row | None:
    return await conn.fetchrow(
        f"""SELECT {WEBHOOK_COLUMNS} FROM department_webhooks w
            WHERE w.id = $1 AND w.department_id = $2 AND w.deleted_at IS NULL""",
        webhook_id,
        department_id,
    )


async def list_webhooks(conn: Conn, department_id: int) -> list[Any]:
    rows: list[Any] = await conn.fetch(
        f"""SELECT {WEBHOOK_COLUMNS} FROM department_webhooks w
            WHERE w.department_id = $1 AND w.deleted_at IS NULL ORDER BY w.id""",
        department_id,
    )
    return rows


async def delete_webhook(conn: Conn, department_id: int, webhook_id: int) -> bool:
    status: str = await conn.execute(
        """UPDATE department_webhooks SET deleted_at = now()
           WHERE id = $1 AND department_id = $2 AND deleted_at IS NULL""",
        webhook_id,
        department_id,
    )
    return status.endswith(" 1")


async def enable_webhook(conn: Conn, webhook_id: int) -> None:
    await conn.execute(
        """UPDATE department_webhooks SET status = 'active', consecutive_failures = 0,
                  disabled_at = NULL
           WHERE id = $1""",
        webhook_id,
    )


async def requeue_sends(conn: Conn, webhook_id: int, event_id: int | None) -> int:
    """Undelivered deliveries (or the one of event_id, even if delivered) due again now."""
    status: str = await conn.execute(
        """UPDATE webhook_sends SET status = 'pending', attempts = 0,
                  next_attempt_at = now(), claimed_until = NULL
           WHERE webhook_id = $1
             AND (($2::bigint IS NULL AND status <> 'delivered') OR event_id = $2)""",
        webhook_id,
        event_id,
    )
    return int(status.split()[-1])


async def find_event_for_department(conn: Conn, department_id: int, event_id: int) -> Row | None:
    """An outbox event of one of the department's auctions."""
    return await conn.fetchrow(
        """SELECT o.id, o.type, o.payload, o.created_at, a.type AS auction_type
           FROM outbox o JOIN auctions a ON a.id = o.auction_id
           WHERE o.id = $1 AND a.department_id = $2""",
        event_id,
        department_id,
    )


async def auction_audience(conn: Conn, auction_id: int) -> Row | None:
    return await conn.fetchrow("SELECT department_id, type FROM auctions WHERE id = $1", auction_id)


async def auctions_with_webhooks(conn: Conn, auction_ids: list[int]) -> set[int]:
    """Those of the auctions whose department has a live webhook."""
    rows = await conn.fetch(
        """SELECT a.id FROM auctions a
           WHERE a.id = ANY($1::bigint[]) AND EXISTS (
               SELECT 1 FROM department_webhooks w
               WHERE w.department_id = a.department_id AND w.deleted_at IS NULL)""",
        auction_ids,
    )
    return {r["id"] for r in rows}


async def live_webhook_ids(conn: Conn, department_id: int) -> list[int]:
    rows = await conn.fetch(
        """SELECT id FROM department_webhooks
           WHERE department_id = $1 AND deleted_at IS NULL""",
        department_id,
    )
    return [r["id"] for r in rows]


async def insert_send(
    conn: Conn, webhook_id: int, event_id: int, event_type: str, payload: bytes
) -> bool:
    row = await conn.fetchval(
        """INSERT INTO webhook_sends (webhook_id, event_id, event_type, payload, guid)
           VALUES ($1, $2, $3, $4, gen_random_uuid())
           ON CONFLICT (webhook_id, event_id) DO NOTHING RETURNING id""",
        webhook_id,
        event_id,
        event_type,
        payload,
    )
    return row is not None


async def claim_sends(conn: Conn, lease_seconds: float, limit: int) -> list[Any]:
    """Due deliveries of active webhooks, leased so no other sender posts them meanwhile."""
    rows: list[Any] = await conn.fetch(
        """UPDATE webhook_sends d
           SET claimed_until = now() + $1 * interval '1 second', attempts = d.attempts + 1
           FROM department_webhooks w
           WHERE w.id = d.webhook_id AND d.id IN (
               SELECT d2.id FROM webhook_sends d2
               JOIN department_webhooks w2 ON w2.id = d2.webhook_id
               WHERE d2.status = 'pending' AND d2.next_attempt_at <= now()
                 AND (d2.claimed_until IS NULL OR d2.claimed_until < now())
                 AND w2.status = 'active' AND w2.deleted_at IS NULL
               ORDER BY d2.id LIMIT $2 FOR UPDATE OF d2 SKIP LOCKED)
           RETURNING d.id, d.webhook_id, d.event_id, d.event_type, d.payload, d.guid,
                     d.attempts, w.url, w.secret""",
        lease_seconds,
        limit,
    )
    return rows


async def mark_delivered(conn: Conn, delivery_id: int, webhook_id: int, code: int) -> None:
    await conn.execute(
        """UPDATE webhook_sends SET status = 'delivered', delivered_at = now(),
                  claimed_until = NULL, last_status_code = $2, last_error = NULL
           WHERE id = $1 AND status = 'pending'""",
        delivery_id,
        code,
    )
    await conn.execute(
        """UPDATE department_webhooks SET consecutive_failures = 0, last_delivery_at = now(),
                  last_status_code = $2, last_error = NULL
           WHERE id = $1""",
        webhook_id,
        code,
    )


async def mark_failed(
    conn: Conn,
    delivery_id: int,
    webhook_id: int,
    code: int | None,
    error: str,
    retry_in: float,
    give_up: bool,
    disable_after: int,
) -> Row:
    """One failed attempt; the webhook is disabled after ``disable_after`` in a row.

    Deliveries are posted concurrently, so a send already under way when the webhook is
    disabled can fail after it: that failure is recorded on the delivery but no longer
    counted (the count says what disabled it)."""
    await conn.execute(
        """UPDATE webhook_sends SET claimed_until = NULL, last_status_code = $2,
                  last_error = $3, next_attempt_at = now() + $4 * interval '1 second',
                  status = CASE WHEN $5 THEN 'failed' ELSE 'pending' END
           WHERE id = $1 AND status = 'pending'""",
        delivery_id,
        code,
        error[:2000],
        retry_in,
        give_up,
    )
    return await one(
        conn,
        """UPDATE department_webhooks
              SET consecutive_failures = consecutive_failures + (status = 'active')::integer,
                  last_delivery_at = now(), last_status_code = $2, last_error = $3,
                  status = CASE WHEN status = 'active' AND consecutive_failures + 1 >= $4
                                THEN 'disabled' ELSE status END,
                  disabled_at = CASE WHEN consecutive_failures + 1 >= $4 AND status = 'active'
                                     THEN now() ELSE disabled_at END
           WHERE id = $1 RETURNING status, consecutive_failures""",
        webhook_id,
        code,
        error[:2000],
        disable_after,
    )
