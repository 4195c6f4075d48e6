"""The admin's users-and-roles and departments pages over HTTP."""

from __future__ import annotations

import re
from typing import Any

import asyncpg
from litestar.testing import AsyncTestClient

from tests.helpers import Api, User, form_post, sign_in


def error_of(page: str, field: str) -> str:
    match = re.search(rf'<p class="field-error" id="{field}-error"[^>]*>([^<]+)</p>', page)
    assert match, f"no error beside {field}"
    return match.group(1)


async def test_admin_adds_departments_and_users_who_can_then_sign_in(
    api: Api, client: AsyncTestClient[Any], db: asyncpg.Connection
) -> None:
    await sign_in(client, api.admin)
    page = "/admin/departments"
    r = await form_post(client, page, page, {"name": " "})
    assert r.status_code == 400 and "Enter the department" in error_of(r.text, "department-name")
    r = await form_post(client, page, page, {"name": "Permits Office"})
    assert r.status_code == 303
    r = await client.get(page)
    assert "Department “Permits Office” created" in r.text and "<td>Permits Office</td>" in r.text
    r = await form_post(client, page, page, {"name": "Permits Office"})
    assert r.status_code == 409 and "already exists" in error_of(r.text, "department-name")
    dept = await db.fetchval("SELECT id FROM departments WHERE name = 'Permits Office'")

    users = "/admin/users"
    r = await form_post(client, users, users, {"name": "Dana", "email": "dana@example.gov"})
    assert r.status_code == 400 and error_of(r.text, "roles") == "Choose at least one role."
    base = {"name": "Dana Whitfield", "email": "dana@example.gov", "roles": "buyer"}
    r = await form_post(client, users, users, base)
    assert r.status_code == 422 and "must belong to a department" in error_of(r.text, "department")
    assert 'value="Dana Whitfield"' in r.text  # what was typed stays
    r = await form_post(
        client, users, users, {**base, "email": "not an email", "department": str(dept)}
    )
    assert r.status_code == 400 and "Enter an email address" in error_of(r.text, "email")
    r = await form_post(client, users, users, {**base, "department": str(dept)})
    assert r.status_code == 303, r.text  # post-redirect-get: a reload sends nothing again
    shown = await client.get(r.headers["location"])
    token = re.search(r'<code id="new-token" class="token">([^<]+)</code>', shown.text)
    assert token and "Dana Whitfield can now sign in" in shown.text
    reloaded = await client.get(r.headers["location"])
    assert reloaded.status_code == 200 and token.group(1) not in reloaded.text  # shown once
    row = await db.fetchrow(
        "SELECT roles, department_id FROM users WHERE email = 'dana@example.gov'"
    )
    assert list(row["roles"]) == ["buyer"] and row["department_id"] == dept
    assert "Permits Office" in (await client.get(users)).text
    r = await form_post(client, users, users, {**base, "department": str(dept)})
    assert r.status_code == 409 and "already exists" in error_of(r.text, "email")

    # The new user signs in with the token shown; they cannot reach the admin pages.
    await sign_in(client, User(0, token.group(1)))
    assert (await client.get("/buyer")).status_code == 200
    assert (await client.get(users)).status_code == 403
    assert (await client.get(page)).status_code == 403
