"""Every SQL statement of the stream consumers and the mail outbox."""

from __future__ import annotations

from typing import Any

from marketplace.db import Conn, Row


async def mark_processed(conn: Conn, consumer: str, event_id: int) -> bool:
    """Record the event as handled by the consumer; False if it already was."""
    row = await conn.fetchval(
        """INSERT INTO consumer_processed (consumer, event_id) VALUES ($1, $2)
           ON CONFLICT DO NOTHING RETURNING 1""",
        consumer,
        event_id,
    )
    return row is not None


async def record_failure(conn: Conn, consumer: str, event_id: int, error: str) -> int:
    """Count one more failed attempt; returns the attempts so far."""
    attempts: int = await conn.fetchval(
        """INSERT INTO consumer_attempts (consumer, event_id, attempts, last_error)
           VALUES ($1, $2, 1, $3)
           ON CONFLICT (consumer, event_id) DO UPDATE
               SET attempts = consumer_attempts.attempts + 1, last_error = $3, updated_at = now()
           RETURNING attempts""",
        consumer,
        event_id,
        error[:2000],
    )
    return attempts


async def insert_dead_letter(
    conn: Conn, consumer: str, event_id: int, type_: str, data: bytes, error: str, attempts: int
) -> None:
    await conn.execute(
        """INSERT INTO dead_letters (consumer, event_id, type, data, error, attempts)
           VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (consumer, event_id) DO UPDATE
               SET status = 'dead', error = $5, attempts = $6, requeued_at = NULL""",
        consumer,
        event_id,
        type_,
        data,
        error[:2000],
        attempts,
    )


async def list_dead_letters(conn: Conn, after_id: int, limit: int, status: str | None) -> list[Any]:
    rows: list[Any] = await conn.fetch(
        """SELECT id, consumer, event_id, type, error, attempts, status, created_at,
                  requeued_at, resolved_at
           FROM dead_letters WHERE id > $1 AND ($3::text IS NULL OR status = $3)
           ORDER BY id LIMIT $2""",
        after_id,
        limit,
        status,
    )
    return rows


async def requeue_dead_letter(conn: Conn, dead_letter_id: int) -> Row | None:
    """dead -> requeued, compare-and-set; the consumer picks it up on its next turn."""
    return await conn.fetchrow(
        """UPDATE dead_letters SET status = 'requeued', requeued_at = now()
           WHERE id = $1 AND status = 'dead'
           RETURNING id, consumer, event_id, type, error, attempts, status, created_at,
                     requeued_at, resolved_at""",
        dead_letter_id,
    )


async def dead_letter_status(conn: Conn, dead_letter_id: int) -> str | None:
    status: str | None = await conn.fetchval(
        "SELECT status FROM dead_letters WHERE id = $1", dead_letter_id
    )
    return status


async def take_requeued(conn: Conn, consumer: str, limit: int) -> list[Any]:
    """Requeued dead letters of a consumer, locked for this transaction."""
    rows: list[Any] = await conn.fetch(
        """SELECT id, event_id, type, data FROM dead_letters
           WHERE consumer = $1 AND status = 'requeued'
           ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED""",
        consumer,
        limit,
    )
    return rows


async def resolve_dead_letter(conn: Conn, dead_letter_id: int) -> None:
    await conn.execute(
        "UPDATE dead_letters SET status = 'redelivered', resolved_at = now() WHERE id = $1",
        dead_letter_id,
    )


async def fail_dead_letter(conn: Conn, dead_letter_id: int, error: str) -> None:
    await conn.execute(
        """UPDATE dead_letters SET status = 'dead', error = $2, attempts = attempts + 1
           WHERE id = $1""",
        dead_letter_id,
        error[:2000],
    )


# Mail outbox


async def insert_mail(
    conn: Conn,
    dedupe_key: str,
    event_id: int,
    recipient_id: int | None,
    to_address: str,
    subject: str,
    body: str,
) -> bool:
    row = await conn.fetchval(
        """INSERT INTO mail_outbox (dedupe_key, event_id, recipient_id, to_address, subject, body)
           VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (dedupe_key) DO NOTHING RETURNING id""",
        dedupe_key,
        event_id,
        recipient_id,
        to_address,
        subject,
        body,
    )
    return row is not None


async def claim_mail(conn: Conn, lease_seconds: float, limit: int) -> list[Any]:
    """Due, unsent messages, leased to this sender so no other sends them meanwhile."""
    rows: list[Any] = await conn.fetch(
        """UPDATE mail_outbox SET claimed_until = now() + $1 * interval '1 second',
                  attempts = attempts + 1
           WHERE id IN (
               SELECT id FROM mail_outbox
               WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= now()
                 AND (claimed_until IS NULL OR claimed_until < now())
               ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED)
           RETURNING id, to_address, subject, body, created_at, attempts""",
        lease_seconds,
        limit,
    )
    return rows


async def mark_mail_sent(conn: Conn, mail_id: int) -> bool:
    status: str = await conn.execute(
        "UPDATE mail_outbox SET sent_at = now(), claimed_until = NULL, last_error = NULL"
        " WHERE id = $1 AND sent_at IS NULL",
        mail_id,
    )
    return status.endswith(" 1")


async def mark_mail_failed(
    conn: Conn, mail_id: int, error: str, retry_in: float, give_up: bool
) -> None:
    await conn.execute(
        """UPDATE mail_outbox SET last_error = $2, claimed_until = NULL,
                  next_attempt_at = now() + $3 * interval '1 second',
                  failed_at = CASE WHEN $4 THEN now() END
           WHERE id = $1 AND sent_at IS NULL""",
        mail_id,
        error[:2000],
        retry_in,
        give_up,
    )


# What the notifications need to know


async def get_user_contact(conn: Conn, user_id: int) -> Row | None:
    return await conn.fetchrow("SELECT id, email, name FROM users WHERE id = $1", user_id)


async def get_auction_brief(conn: Conn, auction_id: int) -> Row | None:
    return await conn.fetchrow(
        """SELECT a.id, a.title, a.type, a.status, a.department_id, a.created_by,
                  a.starts_at, a.ends_at, a.delivery_due_at, u.email AS buyer_email,
                  u.name AS buyer_name
           FROM auctions a JOIN users u ON u.id = a.created_by WHERE a.id = $1""",
        auction_id,
    )


async def list_bidders(conn: Conn, auction_id: int) -> list[Any]:
    """Every distinct user who bid on the auction (voided bids included)."""
    rows: list[Any] = await conn.fetch(
        """SELECT DISTINCT u.id, u.email, u.name FROM bids b JOIN users u ON u.id = b.bidder_id
           WHERE b.auction_id = $1 ORDER BY u.id""",
        auction_id,
    )
    return rows


async def list_reviewers(conn: Conn, auction_id: int) -> list[Any]:
    """Reviewers who may review the auction: its department's or central ones, not bidders."""
    rows: list[Any] = await conn.fetch(
        """SELECT u.id, u.email, u.name FROM users u, auctions a
           WHERE a.id = $1 AND 'reviewer' = ANY (u.roles)
             AND (u.department_id IS NULL OR u.department_id = a.department_id)
             AND NOT EXISTS (SELECT 1 FROM bids b WHERE b.auction_id = a.id
                             AND b.bidder_id = u.id)
           ORDER BY u.id""",
        auction_id,
    )
    return rows


async def list_finance(conn: Conn, auction_id: int) -> list[Any]:
    """Finance users who handle the auction's payments: its department's or central ones."""
    rows: list[Any] = await conn.fetch(
        """SELECT u.id, u.email, u.name FROM users u, auctions a
           WHERE a.id = $1 AND 'finance' = ANY (u.roles)
             AND (u.department_id IS NULL OR u.department_id = a.department_id)
           ORDER BY u.id""",
        auction_id,
    )
    return rows


# In-app notifications


async def insert_notification(
    conn: Conn, dedupe_key: str, event_id: int, user_id: int, subject: str, body: str
) -> None:
    await conn.execute(
        """INSERT INTO notifications (dedupe_key, event_id, user_id, subject, body)
           VALUES ($1, $2, $3, $4, $5) ON CONFLICT (dedupe_key) DO NOTHING""",
        dedupe_key,
        event_id,
        user_id,
        subject,
        body,
    )


async def list_notifications(
    conn: Conn, user_id: int, before_id: int | None, limit: int, unread_only: bool
) -> list[Any]:
    """The user's notifications, newest first, those before ``before_id`` when given."""
    rows: list[Any] = await conn.fetch(
        """SELECT id, event_id, subject, body, created_at, read_at FROM notifications
           WHERE user_id = $1 AND ($2::bigint IS NULL OR id < $2)
             AND (NOT $4 OR read_at IS NULL)
           ORDER BY id DESC LIMIT $3""",
        user_id,
        before_id,
        limit,
        unread_only,
    )
    return rows


async def mark_notifications_read(conn: Conn, user_id: int, up_to_id: int, from_id: int = 0) -> int:
    """Mark the user's unread notifications from ``from_id`` up to ``up_to_id`` read; how
    many were."""
    status: str = await conn.execute(
        """UPDATE notifications SET read_at = now()
           WHERE user_id = $1 AND id <= $2 AND id >= $3 AND read_at IS NULL""",
        user_id,
        up_to_id,
        from_id,
    )
    return int(status.split()[-1])


async def count_unread(conn: Conn, user_id: int) -> int:
    count: int = await conn.fetchval(
        "SELECT count(*) FROM notifications WHERE user_id = $1 AND read_at IS NULL", user_id
    )
    return count


async def get_outbid_bidder(conn: Conn, auction_id: int, public_bid_id: int) -> Row | None:
    """Who held the lowest bid just before this one (a reverse auction), if not its bidder:
    the one this bid outbid, with the auction's title. None when it was the first bid. Each accepted reverse bid is
    below all before it and bids are numbered under the auction's row lock, so the low bid
    before this one is simply the one accepted just before it."""
    return await conn.fetchrow(
        """WITH this AS (SELECT id, bidder_id FROM bids
                         WHERE auction_id = $1 AND public_id = $2 AND NOT sealed)
           SELECT u.id, u.email, u.name, a.title FROM this,
                  LATERAL (SELECT b.bidder_id FROM bids b
                           WHERE b.auction_id = $1 AND b.id < this.id AND b.status = 'active'
                           ORDER BY b.id DESC LIMIT 1) best
           JOIN users u ON u.id = best.bidder_id
           JOIN auctions a ON a.id = $1 AND a.type = 'reverse'
           WHERE best.bidder_id <> this.bidder_id""",
        auction_id,
        public_bid_id,
    )


async def get_award_winner(conn: Conn, award_id: int) -> Row | None:
    return await conn.fetchrow(
        """SELECT u.id, u.email, u.name FROM awards w JOIN users u ON u.id = w.winner_id
           WHERE w.id = $1""",
        award_id,
    )


async def followers(conn: Conn, auction_id: int) -> list[Any]:
    """Who hears of answers and amendments: every bidder and every vendor who asked."""
    rows: list[Any] = await conn.fetch(
        """SELECT u.id, u.email, u.name FROM users u
           WHERE u.id IN (SELECT bidder_id FROM bids WHERE auction_id = $1
                          UNION SELECT asked_by FROM auction_questions WHERE auction_id = $1)
           ORDER BY u.id""",
        auction_id,
    )
    return rows


async def department_buyers(conn: Conn, auction_id: int) -> list[Any]:
    """The buyers of the auction's department."""
    rows: list[Any] = await conn.fetch(
        """SELECT u.id, u.email, u.name FROM users u JOIN auctions a
               ON a.department_id = u.department_id
           WHERE a.id = $1 AND 'buyer' = ANY (u.roles) ORDER BY u.id""",
        auction_id,
    )
    return rows
