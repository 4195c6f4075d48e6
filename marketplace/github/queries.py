"""Every SQL statement of GitHub linking and webhook deliveries."""

from __future__ import annotations

from typing import Any

from marketplace.accounts.queries import USER_COLUMNS
from marketplace.db import Conn, Row, one


async def find_user_by_github_id(conn: Conn, github_id: int) -> Row | None:
    return await conn.fetchrow(f"SELECT {USER_COLUMNS} FROM users WHERE github_id = $1", github_id)


async def link_github(conn: Conn, user_id: int, github_id: int, login: str) -> Row | None:
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


async def insert_github_event(
    conn: Conn,
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
        """INSERT INTO github_events
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


async def get_github_event(conn: Conn, delivery_id: str) -> Row | None:
    return await conn.fetchrow(
        """SELECT id, delivery_id, event, action, repo_id, repo_full_name, pr_number, head_sha,
                  received_at, enqueued_at
           FROM github_events WHERE delivery_id = $1""",
        delivery_id,
    )


async def mark_delivery_enqueued(conn: Conn, delivery_id: str) -> None:
    await conn.execute(
        "UPDATE github_events SET enqueued_at = now() "
        "WHERE delivery_id = $1 AND enqueued_at IS NULL",
        delivery_id,
    )


# -- repair of missed webhooks (marketplace/github/repair.py) ---------------------------------


async def db_now(conn: Conn) -> Any:
    return await conn.fetchval("SELECT now()")


async def get_hook_cursor(conn: Conn, hook: str) -> Any:
    return await conn.fetchval("SELECT seen_through FROM github_hook_cursors WHERE hook = $1", hook)


async def set_hook_cursor(conn: Conn, hook: str, seen_through: Any) -> None:
    await conn.execute(
        """INSERT INTO github_hook_cursors (hook, seen_through) VALUES ($1, $2)
           ON CONFLICT (hook) DO UPDATE
           SET seen_through = greatest(github_hook_cursors.seen_through, $2), scanned_at = now()""",
        hook,
        seen_through,
    )


async def stored_delivery_ids(conn: Conn, guids: list[str]) -> set[str]:
    """The guids among ``guids`` we have stored: those arrived, whatever GitHub logged."""
    rows = await conn.fetch(
        "SELECT delivery_id FROM github_events WHERE delivery_id = ANY($1::text[])", guids
    )
    return {r["delivery_id"] for r in rows}


async def note_missed(
    conn: Conn, guid: str, hook: str, event: str, first_failed_at: Any, attempt_id: int
) -> Row:
    """The guid's repair row, created at its first sighting; locked for this transaction."""
    await conn.execute(
        """INSERT INTO github_redeliveries (guid, hook, event, first_failed_at, last_attempt_id)
           VALUES ($1, $2, $3, $4, 0) ON CONFLICT (guid) DO NOTHING""",
        guid,
        hook,
        event,
        first_failed_at,
    )
    return await one(
        conn,
        """SELECT guid, first_failed_at, last_attempt_id, asked, repaired_at, gave_up_at
           FROM github_redeliveries WHERE guid = $1 FOR UPDATE""",
        guid,
    )


async def mark_redelivery_asked(conn: Conn, guid: str, attempt_id: int) -> None:
    await conn.execute(
        """UPDATE github_redeliveries
           SET asked = asked + 1, last_asked_at = now(), last_attempt_id = $2 WHERE guid = $1""",
        guid,
        attempt_id,
    )


async def mark_given_up(conn: Conn, guid: str) -> bool:
    """True when this call gave the guid up (once)."""
    done = await conn.fetchval(
        """UPDATE github_redeliveries SET gave_up_at = now()
           WHERE guid = $1 AND gave_up_at IS NULL AND repaired_at IS NULL RETURNING true""",
        guid,
    )
    return bool(done)


async def mark_repaired(conn: Conn, guids: list[str]) -> None:
    await conn.execute(
        """UPDATE github_redeliveries SET repaired_at = now()
           WHERE guid = ANY($1::text[]) AND repaired_at IS NULL""",
        guids,
    )


async def redelivery_counts(conn: Conn) -> Row:
    """For /metrics: redeliveries asked in all, and guids given up."""
    return await one(
        conn,
        """SELECT coalesce(sum(asked), 0)::bigint AS asked,
                  count(*) FILTER (WHERE gave_up_at IS NOT NULL) AS given_up
           FROM github_redeliveries""",
    )


# -- App mode: whether the App reads each auction's repository (marketplace/github/access.py) -

# Auctions whose repository the App must read: published, not yet past verification.
ACCESS_STATUSES = ["scheduled", "open", "awarded", "delivered"]


async def auctions_unchecked(conn: Conn, recheck_seconds: float, limit: int = 100) -> list[Any]:
    """Published auctions needing the App whose access was never checked, or was found
    missing more than ``recheck_seconds`` ago."""
    rows: list[Any] = await conn.fetch(
        """SELECT a.id, a.repo, a.repo_id, g.state
           FROM auctions a LEFT JOIN auction_github_access g ON g.auction_id = a.id
           WHERE a.status = ANY($1::text[])
             AND (g.auction_id IS NULL
                  OR (g.state <> 'installed'
                      AND g.checked_at < now() - make_interval(secs => $2)))
           ORDER BY a.id LIMIT $3""",
        ACCESS_STATUSES,
        recheck_seconds,
        limit,
    )
    return rows


async def auctions_on_repos(conn: Conn, repo_ids: list[int], names: list[str]) -> list[Any]:
    """Auctions needing the App whose repository is one of these (by id or by name)."""
    rows: list[Any] = await conn.fetch(
        """SELECT a.id, a.repo, a.repo_id, g.state
           FROM auctions a LEFT JOIN auction_github_access g ON g.auction_id = a.id
           WHERE a.status = ANY($1::text[])
             AND (a.repo_id = ANY($2::bigint[]) OR lower(a.repo) = ANY($3::text[]))
           ORDER BY a.id""",
        ACCESS_STATUSES,
        repo_ids,
        [n.lower() for n in names],
    )
    return rows


async def auctions_of_installation(conn: Conn, installation_id: int) -> list[Any]:
    rows: list[Any] = await conn.fetch(
        """SELECT a.id, a.repo, a.repo_id, g.state
           FROM auctions a JOIN auction_github_access g ON g.auction_id = a.id
           WHERE a.status = ANY($1::text[]) AND g.installation_id = $2
           ORDER BY a.id""",
        ACCESS_STATUSES,
        installation_id,
    )
    return rows


async def set_access(
    conn: Conn, auction_id: int, repo: str, state: str, installation_id: int | None
) -> bool:
    """Record what the App reads of the auction's repository; True when the state changed
    (or was never recorded)."""
    changed: bool | None = await conn.fetchval(
        """WITH before AS (SELECT state FROM auction_github_access WHERE auction_id = $1),
                up AS (
                    INSERT INTO auction_github_access (auction_id, repo, state, installation_id)
                    VALUES ($1, $2, $3, $4)
                    ON CONFLICT (auction_id) DO UPDATE
                    SET repo = $2, state = $3,
                        installation_id = coalesce($4, auction_github_access.installation_id),
                        checked_at = now(),
                        changed_at = CASE WHEN auction_github_access.state = $3
                                          THEN auction_github_access.changed_at ELSE now() END
                    RETURNING state)
           SELECT (SELECT state FROM before) IS DISTINCT FROM $3 FROM up""",
        auction_id,
        repo,
        state,
        installation_id,
    )
    return bool(changed)


async def get_access(conn: Conn, auction_id: int) -> Row | None:
    return await conn.fetchrow(
        """SELECT auction_id, repo, installation_id, state, changed_at, checked_at
           FROM auction_github_access WHERE auction_id = $1""",
        auction_id,
    )


async def get_github_event_payload(conn: Conn, delivery_id: str) -> Any:
    return await conn.fetchval(
        "SELECT payload FROM github_events WHERE delivery_id = $1", delivery_id
    )
