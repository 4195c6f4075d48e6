"""Every SQL statement of accounts."""

from __future__ import annotations

from typing import Any

USER_COLUMNS = """id, email, name, roles, department_id, verification_status, verification_kind,
    registry_id, verification_reason, github_id, github_login, created_at"""


async def insert_department(conn: Any, name: str) -> Any:
    return await conn.fetchrow(
        "INSERT INTO departments (name) VALUES ($1) RETURNING id, name, created_at", name
    )


async def list_departments(conn: Any, after_id: int, limit: int) -> list[Any]:
    rows: list[Any] = await conn.fetch(
        "SELECT id, name, created_at FROM departments WHERE id > $1 ORDER BY id LIMIT $2",
        after_id,
        limit,
    )
    return rows


async def department_exists(conn: Any, department_id: int) -> bool:
    found: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM departments WHERE id = $1)", department_id
    )
    return found


async def insert_user(
    conn: Any, email: str, name: str, roles: list[str], department_id: int | None
) -> Any:
    return await conn.fetchrow(
        f"""INSERT INTO users (email, name, roles, department_id) VALUES ($1, $2, $3, $4)
            RETURNING {USER_COLUMNS}""",
        email,
        name,
        roles,
        department_id,
    )


async def get_user(conn: Any, user_id: int) -> Any:
    return await conn.fetchrow(f"SELECT {USER_COLUMNS} FROM users WHERE id = $1", user_id)


async def list_users(conn: Any, after_id: int, limit: int, role: str | None) -> list[Any]:
    rows: list[Any] = await conn.fetch(
        f"""SELECT {USER_COLUMNS} FROM users
            WHERE id > $1 AND ($3::text IS NULL OR $3 = ANY (roles))
            ORDER BY id LIMIT $2""",
        after_id,
        limit,
        role,
    )
    return rows


async def insert_token(
    conn: Any, user_id: int, token_hash: bytes, issued_by: int | None = None
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


async def find_token_user(conn: Any, token_hash: bytes) -> Any:
    return await conn.fetchrow(
        """SELECT u.id, u.email, u.name, u.roles, u.department_id, u.verification_status,
                  t.id AS token_id, t.issued_by AS token_issued_by
           FROM api_tokens t JOIN users u ON u.id = t.user_id
           WHERE t.token_hash = $1 AND t.revoked_at IS NULL""",
        token_hash,
    )


async def get_token_owner(conn: Any, token_id: int) -> int | None:
    owner: int | None = await conn.fetchval(
        "SELECT user_id FROM api_tokens WHERE id = $1", token_id
    )
    return owner


async def revoke_token(conn: Any, token_id: int) -> bool:
    status: str = await conn.execute(
        "UPDATE api_tokens SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL", token_id
    )
    return status.endswith(" 1")


async def request_verification(conn: Any, user_id: int, kind: str, registry_id: str) -> Any:
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


async def decide_verification(conn: Any, user_id: int, status: str, reason: str) -> Any:
    """unverified or pending -> verified or rejected, compare-and-set."""
    return await conn.fetchrow(
        f"""UPDATE users SET verification_status = $2, verification_reason = $3,
                   verification_decided_at = now()
            WHERE id = $1 AND verification_status IN ('unverified', 'pending')
              AND 'vendor' = ANY (roles)
            RETURNING {USER_COLUMNS}""",
        user_id,
        status,
        reason,
    )


async def find_department(conn: Any, id_or_name: str) -> int | None:
    found: int | None = await conn.fetchval(
        "SELECT id FROM departments WHERE id::text = $1 OR lower(name) = lower($1)", id_or_name
    )
    return found
