"""Account operations for the command line (no HTTP request behind them)."""

from __future__ import annotations

import asyncpg

from marketplace.accounts import queries, service
from marketplace.accounts.schemas import UserCreate
from marketplace.audit.record import SYSTEM, record
from marketplace.auth import new_token
from marketplace.db import create_pool
from marketplace.errors import DomainError, Unprocessable


async def create_user_with_token(
    database_url: str, email: str, name: str, roles: list[str], department: str | None
) -> tuple[int, str]:
    """Create a user (resolving the department by id or name) and its first token."""
    pool = await create_pool(database_url, min_size=1, max_size=2)
    try:
        department_id = None
        if department is not None:
            async with pool.acquire() as conn:
                department_id = await queries.find_department(conn, department)
            if department_id is None:
                raise Unprocessable("unknown_department", f"no department {department!r}")
        try:
            user = await service.create_user(
                pool,
                SYSTEM,
                UserCreate(
                    email=email,
                    name=name,
                    roles=roles,  # type: ignore[arg-type]
                    department_id=department_id,
                ),
            )
        except asyncpg.UniqueViolationError:
            raise SystemExit(f"marketplace: a user with email {email} already exists") from None
        token, token_hash = new_token()
        async with pool.acquire() as conn, conn.transaction():
            token_id = await queries.insert_token(conn, user.id, token_hash)
            await record(
                conn, SYSTEM, "token.created", "token", token_id, after={"user_id": user.id}
            )
        return user.id, token
    except DomainError as exc:
        raise SystemExit(f"marketplace: {exc.detail}") from None
    finally:
        await pool.close()
