"""The caller's in-app notifications: read, count, mark read.

They are written by the notifications consumer (writer.py) beside the mail they repeat,
so this module only reads them and marks them read.
"""

from __future__ import annotations

from marketplace.auth import Caller
from marketplace.db import Pool, Row
from marketplace.notifications import queries
from marketplace.notifications.schemas import Notification, ReadCount


def notification_from_row(row: Row) -> Notification:
    return Notification(
        id=row["id"],
        event_id=row["event_id"],
        subject=row["subject"],
        body=row["body"],
        created_at=row["created_at"],
        read=row["read_at"] is not None,
        read_at=row["read_at"],
    )


async def list_mine(
    pool: Pool, caller: Caller, before_id: int | None, limit: int, unread_only: bool = False
) -> list[Notification]:
    """The caller's notifications, newest first."""
    async with pool.acquire() as conn:
        rows = await queries.list_notifications(conn, caller.id, before_id, limit, unread_only)
    return [notification_from_row(r) for r in rows]


async def unread_count(pool: Pool, caller: Caller) -> int:
    async with pool.acquire() as conn:
        return await queries.count_unread(conn, caller.id)


async def mark_read(pool: Pool, caller: Caller, up_to_id: int, from_id: int = 0) -> ReadCount:
    """Mark the caller's notifications up to ``up_to_id`` (and from ``from_id``) read;
    other users' are untouched whatever the ids."""
    async with pool.acquire() as conn, conn.transaction():
        marked = await queries.mark_notifications_read(conn, caller.id, up_to_id, from_id)
        unread = await queries.count_unread(conn, caller.id)
    return ReadCount(marked=marked, unread=unread)
