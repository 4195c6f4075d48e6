"""SQL of idempotency keys. A placeholder row (status 0) is claimed before the work is done."""

from __future__ import annotations

from marketplace.db import Conn, Row

KEEP = "24 hours"


async def claim(conn: Conn, user_id: int, endpoint: str, key: str, request_hash: bytes) -> bool:
    """Claim the key in the caller's transaction; False if someone (now committed) has it.

    A concurrent request with the same key waits here on the unique index until the
    first one commits or rolls back.
    """
    await conn.execute(
        f"""DELETE FROM idempotency_keys WHERE user_id = $1 AND endpoint = $2 AND key = $3
            AND created_at < now() - interval '{KEEP}'""",
        user_id,
        endpoint,
        key,
    )
    claimed = await conn.fetchval(
        """INSERT INTO idempotency_keys (user_id, endpoint, key, request_hash, status_code, response)
           VALUES ($1, $2, $3, $4, 0, '') ON CONFLICT DO NOTHING RETURNING true""",
        user_id,
        endpoint,
        key,
        request_hash,
    )
    return bool(claimed)


async def find(conn: Conn, user_id: int, endpoint: str, key: str) -> Row | None:
    return await conn.fetchrow(
        """SELECT request_hash, status_code, response FROM idempotency_keys
           WHERE user_id = $1 AND endpoint = $2 AND key = $3""",
        user_id,
        endpoint,
        key,
    )


async def store(
    conn: Conn, user_id: int, endpoint: str, key: str, request_hash: bytes, status: int, body: bytes
) -> None:
    await conn.execute(
        """INSERT INTO idempotency_keys (user_id, endpoint, key, request_hash, status_code, response)
           VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (user_id, endpoint, key)
           DO UPDATE SET status_code = EXCLUDED.status_code, response = EXCLUDED.response""",
        user_id,
        endpoint,
        key,
        request_hash,
        status,
        body,
    )


async def purge_expired(conn: Conn) -> int:
    status: str = await conn.execute(
        f"DELETE FROM idempotency_keys WHERE created_at < now() - interval '{KEEP}'"
    )
    return int(status.split()[-1])


async def release(conn: Conn, user_id: int, endpoint: str, key: str) -> None:
    """Give up a claimed key (the request was refused in a way not worth replaying)."""
    await conn.execute(
        "DELETE FROM idempotency_keys WHERE user_id = $1 AND endpoint = $2 AND key = $3",
        user_id,
        endpoint,
        key,
    )
