"""Accounts and roles through the HTTP API, as an admin, a vendor and outsiders see them."""

from __future__ import annotations

from typing import Any

from tests.helpers import Api, confirm_address


async def test_admin_creates_department_and_users_of_every_role(api: Api) -> None:
    dept = await api.department("Digital Service")
    for role in ("buyer", "reviewer", "finance"):
        user = await api.user(role, department_id=dept)
        me = (await api.client.get("/api/me", headers=user.headers)).json()
        assert me["roles"] == [role] and me["department_id"] == dept
    for role in ("vendor", "auditor", "admin"):
        user = await api.user(role)
        me = (await api.client.get("/api/me", headers=user.headers)).json()
        assert me["roles"] == [role]
        assert me["verification_status"] == "unverified"


async def test_vendor_signs_up_asks_for_verification_and_admin_verifies(api: Api, db: Any) -> None:
    c = api.client
    r = await c.post("/api/signup", json={"email": "ada@example.com", "name": "Ada"})
    assert r.status_code == 201
    vendor = r.json()
    headers = {"Authorization": f"Bearer {vendor['token']}"}
    me = (await c.get("/api/me", headers=headers)).json()
    assert me["roles"] == ["vendor"] and me["verification_status"] == "unverified"

    r = await c.post(
        "/api/me/verification", json={"kind": "student", "registry_id": "STU-42"}, headers=headers
    )
    assert r.status_code == 201 and r.json()["verification_status"] == "pending"
    r = await c.post(
        "/api/me/verification", json={"kind": "student", "registry_id": "STU-42"}, headers=headers
    )
    assert r.status_code == 409 and r.json()["code"] == "verification_not_allowed"

    await confirm_address(c, db, "ada@example.com")  # before it, verifying is a 409
    r = await c.post(
        f"/api/vendors/{vendor['id']}/verification",
        json={"status": "verified", "reason": "enrolment confirmed"},
        headers=api.admin.headers,
    )
    assert r.status_code == 201
    me = (await c.get("/api/me", headers=headers)).json()
    assert me["verification_status"] == "verified"
    assert me["verification_reason"] == "enrolment confirmed"

    r = await c.post(
        f"/api/vendors/{vendor['id']}/verification",
        json={"status": "rejected", "reason": "changed my mind"},
        headers=api.admin.headers,
    )
    assert r.status_code == 409


async def test_signup_twice_with_same_email_is_a_conflict(api: Api) -> None:
    body = {"email": "Bob@Example.com", "name": "Bob"}
    assert (await api.client.post("/api/signup", json=body)).status_code == 201
    r = await api.client.post("/api/signup", json={**body, "email": "bob@example.com"})
    assert r.status_code == 409 and r.json()["code"] == "email_taken"


async def test_without_token_401_wrong_role_403_bad_token_401(api: Api) -> None:
    c = api.client
    assert (await c.get("/api/me")).status_code == 401
    r = await c.post("/api/departments", json={"name": "X"})
    assert r.status_code == 401 and r.json()["code"] == "not_signed_in"
    vendor = await api.user("vendor")
    r = await c.post("/api/departments", json={"name": "X"}, headers=vendor.headers)
    assert r.status_code == 403 and r.json()["code"] == "role_required"
    r = await c.get("/api/me", headers={"Authorization": "Bearer mp_nope"})
    assert r.status_code == 401 and r.json()["code"] == "invalid_token"
    r = await c.get("/api/me", headers={"Authorization": "Basic abc"})
    assert r.status_code == 401


async def test_revoked_token_is_refused_at_once(api: Api) -> None:
    c = api.client
    vendor = await api.user("vendor")
    r = await c.post(f"/api/users/{vendor.id}/tokens", headers=vendor.headers)
    assert r.status_code == 201
    second = r.json()
    second_headers = {"Authorization": f"Bearer {second['token']}"}
    assert (await c.get("/api/me", headers=second_headers)).status_code == 200
    assert (
        await c.delete(f"/api/tokens/{second['id']}", headers=vendor.headers)
    ).status_code == 204
    assert (await c.get("/api/me", headers=second_headers)).status_code == 401
    assert (await c.get("/api/me", headers=vendor.headers)).status_code == 200


async def test_tokens_of_others_are_invisible(api: Api) -> None:
    a = await api.user("vendor")
    b = await api.user("vendor")
    r = await api.client.post(f"/api/users/{b.id}/tokens", headers=a.headers)
    assert r.status_code == 404
    r = await api.client.post(f"/api/users/{b.id}/tokens", headers=b.headers)
    token_id = r.json()["id"]
    r = await api.client.delete(f"/api/tokens/{token_id}", headers=a.headers)
    assert r.status_code == 404
    # an admin may revoke anyone's
    r = await api.client.delete(f"/api/tokens/{token_id}", headers=api.admin.headers)
    assert r.status_code == 204


async def test_bad_input_gets_clear_400s(api: Api) -> None:
    c = api.client
    h = api.admin.headers
    r = await c.post("/api/departments", json={"name": "X", "colour": "red"}, headers=h)
    assert r.status_code == 400 and r.json()["code"] == "unknown_field"
    r = await c.post(
        "/api/departments", content=b"{not json", headers={**h, "Content-Type": "application/json"}
    )
    assert r.status_code == 400
    r = await c.post("/api/departments", json={"name": ""}, headers=h)
    assert r.status_code == 400 and r.json()["field"] == "name"
    r = await c.post(
        "/api/users", json={"email": "x@y.z", "name": "X", "roles": ["king"]}, headers=h
    )
    assert r.status_code == 400
    r = await c.post(
        "/api/users",
        json={"email": "x@y.z", "name": "X", "roles": ["buyer"], "department_id": 999},
        headers=h,
    )
    assert r.status_code == 422 and r.json()["code"] == "unknown_department"
    r = await c.post(
        "/api/users", json={"email": "x@y.z", "name": "X", "roles": ["buyer"]}, headers=h
    )
    assert r.status_code == 422 and r.json()["code"] == "department_required"
    r = await c.get("/api/departments?cursor=%%%")
    assert r.status_code == 400
    r = await c.get("/api/departments?limit=100000")
    assert r.status_code == 400
    users = (await c.get("/api/users", headers=h)).json()["items"]
    assert [u["email"] for u in users] == [users[0]["email"]]  # only the admin; nothing stored


async def test_signup_is_rate_limited_per_address(redis: Any) -> None:
    # The fixture's signup limit is high; the limiter itself is exercised here with a low one.
    from marketplace import ratelimit
    from marketplace.errors import TooManyRequests

    for _ in range(3):
        await ratelimit.limit(redis, "signup:203.0.113.9", 3)
    try:
        await ratelimit.limit(redis, "signup:203.0.113.9", 3)
    except TooManyRequests as exc:
        assert exc.extra["retry_after"] > 0
    else:
        raise AssertionError("the fourth request in the minute should be refused")


async def test_health_and_openapi(api: Api, redis: Any) -> None:
    c = api.client
    assert (await c.get("/health/live")).json() == {"status": "ok"}
    r = await c.get("/health/ready")
    assert r.status_code == 503 and r.json()["checks"]["worker"] == "no worker heartbeat"
    await redis.set("mp:worker:heartbeat", "test", ex=5)
    assert (await c.get("/health/ready")).status_code == 200
    spec = (await c.get("/schema/openapi.json")).json()
    assert "/api/signup" in spec["paths"]
    assert (await c.get("/schema")).status_code == 200


async def test_signup_answers_429_with_retry_after(settings: Any) -> None:
    import msgspec
    from litestar.testing import AsyncTestClient

    from marketplace.app import create_app

    strict = msgspec.structs.replace(settings, signup_limit_per_minute=2)
    assert strict.database_url and strict.redis_url
    app = create_app(strict, strict.database_url, strict.redis_url)
    async with AsyncTestClient(app=app) as c:
        codes = [
            (
                await c.post("/api/signup", json={"email": f"v{i}@example.com", "name": "V"})
            ).status_code
            for i in range(5)
        ]
        # Two in any sixty seconds (a sliding minute): the other three are refused.
        assert codes == [201, 201, 429, 429, 429], codes
        r = await c.post("/api/signup", json={"email": "v9@example.com", "name": "V"})
        if r.status_code == 429:
            assert r.json()["code"] == "rate_limited"
            assert 0 < int(r.headers["retry-after"]) <= 60
