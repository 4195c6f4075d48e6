"""Every SQL statement of GitHub linking and webhook deliveries."""

from __future__ import annotations

from typing import Any

from marketplace.accounts.queries import USER_COLUMNS


async def find_user_by_github_id(conn: Any, github_id: int) -> Any:
    return await conn.fetchrow(f"SELECT {USER_COLUMNS} FROM users WHERE github_id = $1", github_id)


async def link_github(conn: Any, user_id: int, github_id: int, login: str) -> Any:
    """Set the user's GitHub account unless another one is linked (compare-and-set).

    Another user holding ``github_id`` trips ``users_github_id_key``.
    """
    return await conn.fetchrow(
        f"""UPDATE users SET github_id = $2, github_login = $3
            WHERE id = $1 AND (github_id IS NULL OR github_id = $2)
            RETURNING {USER_COLUMNS}""",
        user_id,
        github_id,
        login,
    )


async def insert_delivery(
    conn: Any,
    delivery_id: str,
    event: str,
    action: str | None,
    repo_id: int | None,
    repo_full_name: str | None,
    pr_number: int | None,
    head_sha: str | None,
    payload: Any,
) -> int | None:
    """Store a delivery once; None when this delivery id is already stored."""
    row_id: int | None = await conn.fetchval(
        """INSERT INTO github_deliveries
               (delivery_id, event, action, repo_id, repo_full_name, pr_number, head_sha, payload)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           ON CONFLICT (delivery_id) DO NOTHING
           RETURNING id""",
        delivery_id,
        event,
        action,
        repo_id,
        repo_full_name,
        pr_number,
        head_sha,
        payload,
    )
    return row_id


async def get_delivery(conn: Any, delivery_id: str) -> Any:
    return await conn.fetchrow(
        """SELECT id, delivery_id, event, action, repo_id, repo_full_name, pr_number, head_sha,
                  received_at, enqueued_at
           FROM github_deliveries WHERE delivery_id = $1""",
        delivery_id,
    )


async def mark_delivery_enqueued(conn: Any, delivery_id: str) -> None:
    await conn.execute(
        "UPDATE github_deliveries SET enqueued_at = now() "
        "WHERE delivery_id = $1 AND enqueued_at IS NULL",
        delivery_id,
    )
