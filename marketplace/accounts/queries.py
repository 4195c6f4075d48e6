"""Every SQL statement of accounts."""

from __future__ import annotations

from typing import Any

from marketplace.db import Conn, Row, one

USER_COLUMNS = """id, email, name, roles, department_id, verification_status, verification_kind,
    registry_id, verification_reason, github_id, github_login, created_at,
    email_confirmed_at IS NOT NULL AS email_confirmed"""


DEPARTMENT_COLUMNS = "id, name, created_at, payment_hold_seconds"


async def insert_department(conn: Conn, name: str, payment_hold_seconds: int | None) -> Row:
    return await one(
        conn,
        f"""INSERT INTO departments (name, payment_hold_seconds) VALUES ($1, $2)
            RETURNING {DEPARTMENT_COLUMNS}""",
        name,
        payment_hold_seconds,
    )


async def get_department(conn: Conn, department_id: int, *, lock: bool = False) -> Row | None:
    suffix = " FOR UPDATE" if lock else ""
    return await conn.fetchrow(
        f"SELECT {DEPARTMENT_COLUMNS} FROM departments WHERE id = $1{suffix}", department_id
    )


async def set_department_hold(conn: Conn, department_id: int, seconds: int | None) -> Row | None:
    return await conn.fetchrow(
        f"""UPDATE departments SET payment_hold_seconds = $2 WHERE id = $1
            RETURNING {DEPARTMENT_COLUMNS}""",
        department_id,
        seconds,
    )


async def list_departments(conn: Conn, after_id: int, limit: int) -> list[Any]:
    rows: list[Any] = await conn.fetch(
        f"SELECT {DEPARTMENT_COLUMNS} FROM departments WHERE id > $1 ORDER BY id LIMIT $2",
        after_id,
        limit,
    )
    return rows


async def department_exists(conn: Conn, department_id: int) -> bool:
    found: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM departments WHERE id = $1)", department_id
    )
    return found


async def insert_user(
    conn: Conn,
    email: str,
    name: str,
    roles: list[str],
    department_id: int | None,
    confirmed: bool = True,
) -> Row:
    """A new user; ``confirmed`` False for a self sign-up, whose address is yet unproven."""
    return await one(
        conn,
        f"""INSERT INTO users (email, name, roles, department_id, email_confirmed_at)
            VALUES ($1, $2, $3, $4, CASE WHEN $5 THEN now() END)
            RETURNING {USER_COLUMNS}""",
        email,
        name,
        roles,
        department_id,
        confirmed,
    )


async def insert_email_confirmation(
    conn: Conn, user_id: int, email: str, token_hash: bytes, seconds: int
) -> None:
    await conn.execute(
        """INSERT INTO email_confirmations (user_id, email, token_hash, expires_at)
           VALUES ($1, $2, $3, now() + $4 * interval '1 second')""",
        user_id,
        email,
        token_hash,
        seconds,
    )


async def find_email_confirmation(conn: Conn, token_hash: bytes) -> Row | None:
    """The link's user and address, if the link is unused, unexpired and still theirs."""
    return await conn.fetchrow(
        """SELECT c.id, c.user_id, c.email, u.name
           FROM email_confirmations c JOIN users u ON u.id = c.user_id
           WHERE c.token_hash = $1 AND c.used_at IS NULL AND c.expires_at > now()
             AND u.email = c.email""",
        token_hash,
    )


async def use_email_confirmation(conn: Conn, token_hash: bytes) -> int | None:
    """Spend the link and confirm its address, compare-and-set; the user's id, or None."""
    user_id: int | None = await conn.fetchval(
        """WITH used AS (
               UPDATE email_confirmations SET used_at = now()
               WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now()
               RETURNING user_id, email)
           UPDATE users u SET email_confirmed_at = coalesce(u.email_confirmed_at, now())
           FROM used WHERE u.id = used.user_id AND u.email = used.email
           RETURNING u.id""",
        token_hash,
    )
    return user_id


async def get_user(conn: Conn, user_id: int) -> Row | None:
    return await conn.fetchrow(f"SELECT {USER_COLUMNS} FROM users WHERE id = $1", user_id)


async def list_users(conn: Conn, after_id: int, limit: int, role: str | None) -> list[Any]:
    rows: list[Any] = await conn.fetch(
        f"""SELECT {USER_COLUMNS} FROM users
            WHERE id > $1 AND ($3::text IS NULL OR $3 = ANY (roles))
            ORDER BY id LIMIT $2""",
        after_id,
        limit,
        role,
    )
    return rows


async def lock_user(conn: Conn, user_id: int) -> Row | None:
    return await conn.fetchrow(
        f"SELECT {USER_COLUMNS} FROM users WHERE id = $1 FOR UPDATE", user_id
    )


async def update_user_roles(
    conn: Conn, user_id: int, roles: list[str], department_id: int | None
) -> Row | None:
    return await conn.fetchrow(
        f"""UPDATE users SET roles = $2, department_id = $3 WHERE id = $1
            RETURNING {USER_COLUMNS}""",
        user_id,
        roles,
        department_id,
    )


async def list_tokens(conn: Conn, user_id: int) -> list[Any]:
    """A user's tokens, newest first (ids and dates only: the tokens are not stored)."""
    rows: list[Any] = await conn.fetch(
        """SELECT id, created_at, issued_by, revoked_at FROM api_tokens
           WHERE user_id = $1 ORDER BY id DESC""",
        user_id,
    )
    return rows


async def insert_token(
    conn: Conn, user_id: int, token_hash: bytes, issued_by: int | None = None
) -> int:
    """A new token of ``user_id``; ``issued_by`` someone else when they made it for them."""
    token_id: int = await conn.fetchval(
        """INSERT INTO api_tokens (user_id, token_hash, issued_by)
           VALUES ($1, $2, NULLIF($3::bigint, $1)) RETURNING id""",
        user_id,
        token_hash,
        issued_by,
    )
    return token_id


async def find_token_user(conn: Conn, token_hash: bytes) -> Row | None:
    return await conn.fetchrow(
        """SELECT u.id, u.email, u.name, u.roles, u.department_id, u.verification_status,
                  t.id AS token_id, t.issued_by AS token_issued_by
           FROM api_tokens t JOIN users u ON u.id = t.user_id
           WHERE t.token_hash = $1 AND t.revoked_at IS NULL""",
        token_hash,
    )


async def get_token_owner(conn: Conn, token_id: int) -> int | None:
    owner: int | None = await conn.fetchval(
        "SELECT user_id FROM api_tokens WHERE id = $1", token_id
    )
    return owner


async def revoke_token(conn: Conn, token_id: int) -> bool:
    status: str = await conn.execute(
        "UPDATE api_tokens SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL", token_id
    )
    return status.endswith(" 1")


async def request_verification(conn: Conn, user_id: int, kind: str, registry_id: str) -> Row | None:
    """unverified or rejected -> pending, compare-and-set."""
    return await conn.fetchrow(
        f"""UPDATE users SET verification_status = 'pending', verification_kind = $2,
                   registry_id = $3, verification_reason = NULL
            WHERE id = $1 AND verification_status IN ('unverified', 'rejected')
            RETURNING {USER_COLUMNS}""",
        user_id,
        kind,
        registry_id,
    )


async def decide_verification(conn: Conn, user_id: int, status: str, reason: str) -> Row | None:
    """unverified or pending -> verified or rejected, compare-and-set."""
    return await conn.fetchrow(
        f"""UPDATE users SET verification_status = $2, verification_reason = $3,
                   verification_decided_at = now()
            WHERE id = $1 AND verification_status IN ('unverified', 'pending')
              AND 'vendor' = ANY (roles)
              AND ($2 <> 'verified' OR email_confirmed_at IS NOT NULL)
            RETURNING {USER_COLUMNS}""",
        user_id,
        status,
        reason,
    )


async def find_department(conn: Conn, id_or_name: str) -> int | None:
    found: int | None = await conn.fetchval(
        "SELECT id FROM departments WHERE id::text = $1 OR lower(name) = lower($1)", id_or_name
    )
    return found
