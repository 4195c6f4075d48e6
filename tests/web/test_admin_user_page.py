"""An admin changes a user's roles and department and issues and revokes their tokens, on
the user's page and through PATCH /api/users/{id}; every form answers with a redirect and a
new token is shown once."""

from __future__ import annotations

import re
from typing import Any

import asyncpg
from litestar.testing import AsyncTestClient

from tests.helpers import Api, User, csrf_of, sign_in

TOKEN = re.compile(r'<code id="new-token" class="token">([^<]+)</code>')


async def send(client: AsyncTestClient[Any], page: str, action: str, data: Any) -> Any:
    opened = await client.get(page)
    assert opened.status_code == 200, opened.text
    return await client.post(
        action, data={**data, "csrf_token": csrf_of(opened.text)}, follow_redirects=False
    )


def error_of(page: str, field: str) -> str:
    match = re.search(rf'<p class="field-error" id="{field}-error"[^>]*>([^<]+)</p>', page)
    assert match, f"no error beside {field}"
    return match.group(1)


async def test_roles_and_department_change_on_the_users_page(
    api: Api, client: AsyncTestClient[Any], db: asyncpg.Connection
) -> None:
    dept = await api.department("Permits Office")
    person = await api.user("vendor")
    await sign_in(client, api.admin)
    listing = await client.get("/admin/users")
    assert f'href="/admin/users/{person.id}"' in listing.text
    page = f"/admin/users/{person.id}"

    r = await send(client, page, page, {"roles": ["buyer"]})
    assert r.status_code == 422 and "must belong to a department" in error_of(r.text, "department")
    r = await send(client, page, page, {"department": str(dept)})
    assert r.status_code == 400 and error_of(r.text, "roles") == "Choose at least one role."
    r = await send(client, page, page, {"roles": ["auditor"], "department": str(dept)})
    assert r.status_code == 422 and "leave it empty" in error_of(r.text, "department")
    r = await send(client, page, page, {"roles": ["buyer", "vendor"], "department": "999999"})
    assert r.status_code == 422 and "does not exist" in error_of(r.text, "department")

    r = await send(client, page, page, {"roles": ["buyer", "reviewer"], "department": str(dept)})
    assert r.status_code == 303 and r.headers["location"] == page
    shown = (await client.get(page)).text
    assert "now has the roles buyer, reviewer" in shown
    row = await db.fetchrow("SELECT roles, department_id FROM users WHERE id = $1", person.id)
    assert sorted(row["roles"]) == ["buyer", "reviewer"] and row["department_id"] == dept
    # The change takes effect on the person's very next request, and is audited.
    me = await api.client.get("/api/me", headers=person.headers)
    assert sorted(me.json()["roles"]) == ["buyer", "reviewer"]
    audit = await db.fetchrow(
        "SELECT data FROM audit_log WHERE action = 'user.roles_changed' ORDER BY id DESC LIMIT 1"
    )
    assert audit is not None and '"reviewer"' in audit["data"]

    # An admin cannot take their own admin role away (someone else can).
    own = f"/admin/users/{api.admin.id}"
    r = await send(client, own, own, {"roles": ["auditor"]})
    assert r.status_code == 409 and "from yourself" in error_of(r.text, "roles")
    assert (await client.get("/admin/users/999999")).status_code == 404


async def test_tokens_are_issued_once_and_revoked_from_the_users_page(
    api: Api, client: AsyncTestClient[Any], db: asyncpg.Connection
) -> None:
    person = await api.user("auditor")
    await sign_in(client, api.admin)
    page = f"/admin/users/{person.id}"
    r = await send(client, page, f"{page}/tokens", {})
    assert r.status_code == 303 and r.headers["location"] == f"{page}#new-token"
    shown = await client.get(page)
    token = TOKEN.search(shown.text)
    assert token, shown.text
    assert token.group(1) not in (await client.get(page)).text  # once
    new = User(person.id, token.group(1))
    assert (await api.client.get("/api/me", headers=new.headers)).status_code == 200
    token_id = await db.fetchval("SELECT max(id) FROM api_tokens WHERE user_id = $1", person.id)
    assert f'id="token-{token_id}"' in shown.text

    r = await send(client, page, f"{page}/tokens/{token_id}/revoke", {})
    assert r.status_code == 303 and r.headers["location"] == page
    assert "is revoked" in (await client.get(page)).text
    assert (await api.client.get("/api/me", headers=new.headers)).status_code == 401
    r = await send(client, page, f"{page}/tokens/{token_id}/revoke", {})
    assert r.status_code == 303
    assert "already revoked" in (await client.get(page)).text
    # Another user's token is not revoked from this user's page.
    other = await api.user("auditor")
    other_token = await db.fetchval("SELECT max(id) FROM api_tokens WHERE user_id = $1", other.id)
    r = await send(client, page, f"{page}/tokens/{other_token}/revoke", {})
    assert "has no token" in (await client.get(page)).text
    assert (await api.client.get("/api/me", headers=other.headers)).status_code == 200


async def test_patch_users_changes_roles_with_the_same_rules(
    api: Api, client: AsyncTestClient[Any]
) -> None:
    dept = await api.department()
    person = await api.user("vendor")
    url = f"/api/users/{person.id}"
    h = api.admin.headers
    r = await client.patch(url, json={"roles": ["buyer"]}, headers=h)
    assert r.status_code == 422 and r.json()["code"] == "department_required"
    r = await client.patch(url, json={"roles": ["buyer"], "department_id": dept}, headers=h)
    assert r.status_code == 200 and r.json()["roles"] == ["buyer"]
    assert r.json()["department_id"] == dept
    r = await client.patch(url, json={"roles": ["auditor"], "department_id": None}, headers=h)
    assert r.status_code == 200 and r.json()["department_id"] is None
    for body in ({"roles": []}, {"roles": ["boss"]}, {"email": "x@example.gov"}):
        r = await client.patch(url, json=body, headers=h)
        assert r.status_code == 400, (body, r.text)
    r = await client.patch(f"/api/users/{api.admin.id}", json={"roles": ["auditor"]}, headers=h)
    assert r.status_code == 409 and r.json()["code"] == "own_admin_role"
    assert (
        await client.patch(url, json={"roles": ["admin"]}, headers=person.headers)
    ).status_code == 403
    assert (await client.patch("/api/users/999999", json={}, headers=h)).status_code == 404


async def test_the_vendor_queue_shows_kind_registry_id_and_address_confirmation(
    api: Api, client: AsyncTestClient[Any]
) -> None:
    asked = await api.user("vendor")
    r = await client.post(
        "/api/me/verification",
        json={"kind": "business", "registry_id": "UEI-J7M2K9"},
        headers=asked.headers,
    )
    assert r.status_code in (200, 201), r.text
    signup = await client.post(
        "/api/signup", json={"email": "new-vendor@example.org", "name": "Self Signed"}
    )
    assert signup.status_code == 201, signup.text
    await sign_in(client, api.admin)
    page = (await client.get("/admin/vendors")).text
    card = page[page.index(f'id="vendor-{asked.id}"') :]
    card = card[: card.index("</li>")]
    assert "A business (company registry number)" in card
    assert "<code>UEI-J7M2K9</code>" in card
    assert '<dd class="email-confirmed">confirmed</dd>' in card
    fresh = page[page.index(f'id="vendor-{signup.json()["id"]}"') :]
    fresh = fresh[: fresh.index("</li>")]
    assert "not given" in fresh and "<strong>not confirmed</strong>" in fresh


async def test_the_admins_own_page_names_this_browsers_sign_in(
    api: Api, client: AsyncTestClient[Any], db: asyncpg.Connection
) -> None:
    await sign_in(client, api.admin)
    session_token = await db.fetchval(
        "SELECT max(id) FROM api_tokens WHERE user_id = $1", api.admin.id
    )
    page = (await client.get(f"/admin/users/{api.admin.id}")).text
    row = page[page.index(f'id="token-{session_token}"') :]
    assert "your sign-in in this browser" in row[: row.index("</tr>")]
