"""Account operations for the command line (no HTTP request behind them)."""

from __future__ import annotations

import re

import asyncpg
import msgspec

from marketplace.accounts import queries, service
from marketplace.accounts.schemas import UserCreate
from marketplace.audit.record import SYSTEM, record
from marketplace.auth import new_token
from marketplace.db import create_pool
from marketplace.errors import DomainError, Unprocessable

# What each field of `users create` must be, in the words the command prints.
OPTION_RULES = {
    "email": "--email must be an e-mail address, for example dana@permits.example.gov",
    "name": "--name must be 1 to 200 characters on one line",
    "roles": "--role must be one of buyer, vendor, reviewer, finance, auditor, admin "
    "(repeat --role for several)",
}

DEPARTMENT_HINTS = {
    "department_required": ": give --department with its id or name",
    "department_not_applicable": ": leave out --department for these roles",
    "unknown_department": " (give --department with an existing department's id or name)",
}


def checked_user(email: str, name: str, roles: list[str]) -> UserCreate:
    """The new user's fields, validated as the API validates them (``UserCreate``); a bad
    one stops the command with the option's rule and the value given."""
    given = {"email": email, "name": name, "roles": roles}
    try:
        return msgspec.convert(given, UserCreate)
    except msgspec.ValidationError as exc:
        match = re.search(r"at `\$\.(\w+)", str(exc))
        field = match.group(1) if match else "email"
        value = given.get(field, "")
        raise SystemExit(f"marketplace: {OPTION_RULES.get(field, exc)}; got {value!r}") from None


async def create_user_with_token(
    database_url: str, email: str, name: str, roles: list[str], department: str | None
) -> tuple[int, str]:
    """Create a user (resolving the department by id or name) and its first token."""
    data = checked_user(email, name, roles)
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
                pool, SYSTEM, msgspec.structs.replace(data, department_id=department_id)
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
        hint = DEPARTMENT_HINTS.get(exc.code, "")
        raise SystemExit(f"marketplace: {exc.detail}{hint}") from None
    finally:
        await pool.close()
