"""Hostile input on the write endpoints: every bad request is a clear 4xx, nothing is stored.

Each refusal must carry the problem body ``{status, code, detail}`` and leave every table's
row count unchanged. Decisions recorded here:

- Duplicate JSON keys: every occurrence is validated and the last value wins (msgspec's
  behaviour, the same in the strict pre-check and in the handler's decoding), so the
  request is treated as if sent once with that value; nothing is stored twice.
- Text may hold any Unicode PostgreSQL can store (RTL marks, emoji, 4-byte characters, ZWJ
  sequences, control characters other than NUL), returned exactly as sent; NUL (``\\u0000``),
  which PostgreSQL refuses in text, is a 400 naming the field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import asyncpg
import pytest

from tests.helpers import Api, User, auction_body, published_auction
from tests.scenes import accept, delivered_for_review

TABLES = (
    "departments users api_tokens outbox audit_log auctions auction_bidders bids awards "
    "idempotency_keys deliveries verifications reviews payment_details payments "
    "ledger_entries disputes department_webhooks"
).split()
UNICODE = "Ĳssel ‏עברית‎ 🦄 👩‍💻 𝔘𝔫𝔦 \u202e!\u202c \t tab \x01 ctrl"
# Names are single-line fields: no control characters (tests/api/test_service_edges.py).
NAME = UNICODE.replace(" \t tab \x01 ctrl", "")
HUGE = (2**63, 2**64, 10**100, -(2**63) - 1)


@dataclass
class Target:
    """A write endpoint, a valid body for it, and who may call it."""

    method: str
    path: str
    body: dict[str, Any]
    headers: dict[str, str]
    text_field: str
    int_field: str | None = None
    extra_ids: list[str] = field(default_factory=list)


async def row_counts(db: asyncpg.Connection) -> dict[str, int]:
    sql = " UNION ALL ".join(f"SELECT '{t}', count(*) FROM {t}" for t in TABLES)
    return {name: n for name, n in await db.fetch(sql)}


def assert_problem(r: Any, statuses: tuple[int, ...], what: str) -> dict[str, Any]:
    assert r.status_code in statuses, (what, r.status_code, r.text[:300])
    body = r.json()
    assert isinstance(body, dict), (what, body)
    assert body["status"] == r.status_code and body["code"] and body["detail"], (what, body)
    return body


async def targets(api: Api, db: asyncpg.Connection, pool: Any) -> dict[str, Target]:
    s = await delivered_for_review(api, db, pool)
    dept, buyer, winner = s["dept"], s["buyer"], s["winner"]
    reviewer = await api.user("reviewer")
    review_aid = s["auction_id"]
    # A second delivery in review (the first is accepted to get a payment to dispute).
    s2 = await delivered_for_review(api, db, pool)
    r = await accept(api, reviewer, review_aid)
    assert r.status_code == 200, r.text
    payment_id = r.json()["payment_id"]
    vendor = await api.verified_vendor()
    open_auction = (await published_auction(api, buyer))["id"]
    r = await api.client.post("/api/auctions", json=auction_body(), headers=buyer.headers)
    assert r.status_code == 201, r.text
    draft = r.json()["id"]
    admin = api.admin.headers
    return {
        "signup": Target(
            "POST", "/api/signup", {"email": "x@example.org", "name": "X"}, {}, "name"
        ),
        "department": Target("POST", "/api/departments", {"name": "Parks"}, admin, "name"),
        "user": Target(
            "POST",
            "/api/users",
            {"email": "u@example.gov", "name": "U", "roles": ["buyer"], "department_id": dept},
            admin,
            "name",
            "department_id",
        ),
        "auction": Target(
            "POST", "/api/auctions", auction_body(), buyer.headers, "title", "price_cap_cents"
        ),
        "patch": Target(
            "PATCH",
            f"/api/auctions/{draft}",
            {"title": "New title", "price_cap_cents": 1000},
            buyer.headers,
            "title",
            "price_cap_cents",
        ),
        "bid": Target(
            "POST",
            f"/api/auctions/{open_auction}/bids",
            {"amount_cents": 1000},
            vendor.headers,
            "amount_cents",
            "amount_cents",
        ),
        "review": Target(
            "POST",
            f"/api/auctions/{s2['auction_id']}/review",
            {"decision": "accept", "reason": "fine"},
            reviewer.headers,
            "reason",
        ),
        "payment_details": Target(
            "PUT",
            "/api/me/payment-details",
            {"method": "transfer", "reference": "DE02 1203 0000 0000 2020 51"},
            winner.headers,
            "reference",
        ),
        "dispute": Target(
            "POST",
            f"/api/payments/{payment_id}/dispute",
            {"reason": "late"},
            buyer.headers,
            "reason",
        ),
        "webhook": Target(
            "POST",
            f"/api/departments/{dept}/webhooks",
            {"url": "https://hooks.example.gov/in"},
            buyer.headers,
            "url",
        ),
    }


def hostile_bodies(t: Target) -> list[tuple[str, bytes, str, tuple[int, ...]]]:
    """(what, raw body, content type, acceptable statuses)."""
    import json

    def raw(value: Any) -> bytes:
        return json.dumps(value).encode()

    j = "application/json"
    valid = raw(t.body)
    cases: list[tuple[str, bytes, str, tuple[int, ...]]] = [
        ("oversized", raw({**t.body, t.text_field: "x" * 1_100_000}), j, (413,)),
        ("nested arrays", b"[" * 10_000 + b"]" * 10_000, j, (400,)),
        ("nested objects", b'{"a":' * 10_000 + b"1" + b"}" * 10_000, j, (400,)),
        (
            "nested in a field",
            raw(t.body)[:-1] + b',"x":' + b"[" * 5000 + b"]" * 5000 + b"}",
            j,
            (400,),
        ),
        ("text/plain", valid, "text/plain", (415,)),
        ("form", b"name=x&email=y", "application/x-www-form-urlencoded", (415,)),
        ("multipart", b"--b\r\n\r\nx\r\n--b--\r\n", "multipart/form-data; boundary=b", (415,)),
        ("no body", b"", j, (400,)),
        ("whitespace body", b"   ", j, (400,)),
        ("NUL in text", raw({**t.body, t.text_field: "a\u0000b"}), j, (400,)),
        ("NUL in key", raw({**t.body, "na\u0000me": "x"}), j, (400,)),
        ("invalid UTF-8", valid[:-1] + b',"zz":"\xff\xfe\xc3"}', j, (400,)),
        (
            "invalid UTF-8 in value",
            raw({**t.body, t.text_field: "AAA"}).replace(b"AAA", b"\xc3\x28"),
            j,
            (400,),
        ),
        (
            "lone surrogate",
            raw({**t.body, t.text_field: "SUR"}).replace(b"SUR", b"\\ud800"),
            j,
            (400,),
        ),
        ("trailing garbage", valid + b" garbage", j, (400,)),
        ("two documents", valid + valid, j, (400,)),
        ("array", raw([t.body]), j, (400,)),
        ("string", b'"hello"', j, (400,)),
        ("null document", b"null", j, (400,)),
        ("null for a required field", raw({**t.body, t.text_field: None}), j, (400,)),
        ("missing field", raw({k: v for k, v in t.body.items() if k != t.text_field}), j, (400,)),
        ("unknown field", raw({**t.body, "is_admin": True}), j, (400,)),
        ("boolean for text", raw({**t.body, t.text_field: True}), j, (400,)),
        ("object for text", raw({**t.body, t.text_field: {"$gt": ""}}), j, (400,)),
    ]
    if t.int_field:
        for bad in (True, False, *HUGE, 1.0, 1.5, "1", "1e3", [1], {"v": 1}):
            cases.append(
                (f"{t.int_field}={bad!r:.20}", raw({**t.body, t.int_field: bad}), j, (400,))
            )
        cases.append(
            ("int as 1e3", raw({**t.body, t.int_field: 0}).replace(b": 0", b": 1e3"), j, (400,))
        )
        cases.append(
            ("int NaN", raw({**t.body, t.int_field: 0}).replace(b": 0", b": NaN"), j, (400,))
        )
    if t.method == "PATCH":  # every field is optional there
        cases = [c for c in cases if c[0] != "missing field"]
    return cases


NAMES = [
    "signup",
    "department",
    "user",
    "auction",
    "patch",
    "bid",
    "review",
    "payment_details",
    "dispute",
    "webhook",
]


@pytest.mark.parametrize("name", NAMES)
async def test_hostile_bodies_are_clear_4xx_and_store_nothing(
    api: Api, db: asyncpg.Connection, pool: Any, name: str
) -> None:
    t = (await targets(api, db, pool))[name]
    before = await row_counts(db)
    failures = []
    for what, body, ctype, statuses in hostile_bodies(t):
        r = await api.client.request(
            t.method, t.path, content=body, headers={**t.headers, "Content-Type": ctype}
        )
        try:
            problem = assert_problem(r, statuses, what)
            if what.startswith("NUL") or what == "null for a required field":
                assert problem.get("field") in (t.text_field, None), (what, problem)
        except (AssertionError, ValueError) as exc:
            failures.append(f"{what}: {exc}")
    assert not failures, "\n".join(failures)
    after = await row_counts(db)
    assert after == before, {k: (before[k], after[k]) for k in before if before[k] != after[k]}


async def test_nul_refused_with_field_named(api: Api, db: asyncpg.Connection) -> None:
    before = await row_counts(db)
    for body in (
        {"email": "nul@example.org", "name": "a\x00b"},
        {"email": "n\x00ul@example.org", "name": "ab"},
    ):
        r = await api.client.post("/api/signup", json=body)
        problem = assert_problem(r, (400,), "nul")
        assert problem["field"] in ("name", "email"), problem
    buyer = await api.buyer()
    r = await api.client.post(
        "/api/auctions", json=auction_body(skills=["py\x00thon"]), headers=buyer.headers
    )
    assert_problem(r, (400,), "nul in a list")
    r = await api.client.post(
        "/api/auctions", json=auction_body(description="x" * 100 + "\x00"), headers=buyer.headers
    )
    assert assert_problem(r, (400,), "nul in description")["field"] == "description"
    after = await row_counts(db)
    assert after["auctions"] == before["auctions"]
    assert await db.fetchval("SELECT count(*) FROM users WHERE email LIKE '%nul@example.org'") == 0


async def test_nul_in_query_and_headers_is_not_a_server_error(api: Api) -> None:
    for path in (
        "/api/auctions?q=a%00b",
        "/api/auctions?skill=%00",
        "/api/auctions?cursor=%00",
        "/api/awards?from=%00",
        "/api/departments?cursor=AAAA%00",
    ):
        r = await api.client.get(path)
        assert r.status_code in (200, 400), (path, r.status_code, r.text)
        if r.status_code == 400:
            assert_problem(r, (400,), path)


async def test_unicode_stored_and_returned_intact(api: Api, db: asyncpg.Connection) -> None:
    r = await api.client.post("/api/departments", json={"name": UNICODE}, headers=api.admin.headers)
    assert r.status_code == 400 and r.json()["code"] == "control_characters", r.text
    r = await api.client.post("/api/departments", json={"name": NAME}, headers=api.admin.headers)
    assert r.status_code == 201, r.text
    assert r.json()["name"] == NAME
    assert await db.fetchval("SELECT name FROM departments WHERE id = $1", r.json()["id"]) == NAME
    dept = r.json()["id"]

    r = await api.client.post("/api/signup", json={"email": "ünï@exämple.org", "name": NAME})
    assert r.status_code == 201, r.text
    me = await api.client.get("/api/me", headers={"Authorization": f"Bearer {r.json()['token']}"})
    assert me.json()["name"] == NAME and me.json()["email"] == "ünï@exämple.org"

    buyer = await api.buyer(dept)
    title = "🦄" * 200  # 200 characters, 800 bytes: the limit counts characters
    r = await api.client.post(
        "/api/auctions",
        json=auction_body(title=title, description=UNICODE * 10, skills=["c++", "c#"]),
        headers=buyer.headers,
    )
    assert r.status_code == 201, r.text
    aid = r.json()["id"]
    got = (await api.client.get(f"/api/auctions/{aid}", headers=buyer.headers)).json()
    assert got["title"] == title and got["description"] == UNICODE * 10
    assert sorted(got["skills"]) == ["c#", "c++"]
    r = await api.client.post(
        "/api/auctions", json=auction_body(title="🦄" * 201), headers=buyer.headers
    )
    assert assert_problem(r, (400,), "too long")["field"] == "title"


async def test_duplicate_keys_last_wins_and_store_once(api: Api, db: asyncpg.Connection) -> None:
    before = await db.fetchval("SELECT count(*) FROM departments")
    r = await api.client.post(
        "/api/departments",
        content=b'{"name": "First", "name": "Second"}',
        headers={**api.admin.headers, "Content-Type": "application/json"},
    )
    assert r.status_code == 201, r.text
    assert r.json()["name"] == "Second"
    assert await db.fetchval("SELECT count(*) FROM departments") == before + 1
    assert await db.fetchval("SELECT count(*) FROM departments WHERE name = 'First'") == 0
    # Every occurrence is validated: an invalid one, first or last, refuses the request.
    for raw in (b'{"name": 12, "name": "Third"}', b'{"name": "Fourth", "name": 12}'):
        r = await api.client.post(
            "/api/departments",
            content=raw,
            headers={**api.admin.headers, "Content-Type": "application/json"},
        )
        assert assert_problem(r, (400,), "duplicate, one invalid")["field"] == "name"
    assert await db.fetchval("SELECT count(*) FROM departments") == before + 1


BAD_IDS = ("0", "-1", "99999999999999999999", str(2**63), str(2**63 - 1), "1e3", "abc", "%00")


async def test_bad_ids_in_paths_are_4xx(api: Api, db: asyncpg.Connection) -> None:
    buyer = await api.buyer()
    vendor = await api.verified_vendor()
    reviewer = await api.user("reviewer")
    finance = await api.user("finance")
    before = await row_counts(db)
    calls: list[tuple[str, str, User | None, dict[str, Any] | None]] = [
        ("GET", "/api/auctions/{}", None, None),
        ("GET", "/api/auctions/{}/bids", None, None),
        ("PATCH", "/api/auctions/{}", buyer, {"title": "x"}),
        ("POST", "/api/auctions/{}/publish", buyer, None),
        ("POST", "/api/auctions/{}/cancel", buyer, {"reason": "x"}),
        ("POST", "/api/auctions/{}/bids", vendor, {"amount_cents": 100}),
        ("POST", "/api/auctions/{}/review", reviewer, {"decision": "accept", "reason": "x"}),
        ("GET", "/api/payments/{}", finance, None),
        ("POST", "/api/payments/{}/confirm", vendor, None),
        ("POST", "/api/payments/{}/dispute", buyer, {"reason": "x"}),
        ("POST", "/api/payments/{}/resolve", finance, {"outcome": "cancel", "reason": "x"}),
        ("GET", "/api/users/{}", api.admin, None),
        ("POST", "/api/users/{}/tokens", api.admin, None),
        ("DELETE", "/api/tokens/{}", api.admin, None),
        ("POST", "/api/vendors/{}/verification", api.admin, {"status": "verified", "reason": "x"}),
        ("GET", "/api/departments/{}/spend", api.admin, None),
        ("POST", "/api/departments/{}/webhooks", api.admin, {"url": "https://e.example/x"}),
        ("GET", "/api/departments/{}/webhooks", api.admin, None),
        ("POST", "/api/admin/dead-letters/{}/redeliver", api.admin, None),
    ]
    failures = []
    for method, template, who, body in calls:
        for bad in BAD_IDS:
            path = template.format(bad)
            r = await api.client.request(
                method, path, json=body, headers=who.headers if who else {}
            )
            if not (400 <= r.status_code < 500) or r.status_code in (401, 403):
                failures.append(f"{method} {path}: {r.status_code} {r.text[:200]}")
                continue
            try:
                assert_problem(r, (400, 404, 405), f"{method} {path}")
            except (AssertionError, ValueError) as exc:
                failures.append(str(exc))
    assert not failures, "\n".join(failures)
    assert await row_counts(db) == before


async def test_huge_query_integers_are_4xx(api: Api) -> None:
    auditor = await api.user("auditor")
    for path in (
        "/api/auctions?department_id=99999999999999999999",
        "/api/auctions?limit=99999999999999999999",
        "/api/auctions?department_id=-1",
        "/api/awards?department_id=99999999999999999999",
        "/api/audit/events?auction_id=99999999999999999999",
        "/api/auctions/1/events?last_event_id=99999999999999999999",
    ):
        r = await api.client.get(path, headers=auditor.headers)
        assert_problem(r, (400, 404), path)


# --- every role ------------------------------------------------------------------------
# The same hostile input from an anonymous caller and from a token of every role: what a
# role may not do is a 401/403/404, what it may do refuses the input, never a 5xx.

ROLES = ("vendor", "buyer", "reviewer", "finance", "auditor", "admin")
OUT_OF_RANGE = ("0001-01-01T00:00:00%2B14:00", "9999-12-31T23:59:59-10:00", "%00", "x" * 64)
HOSTILE_QUERIES = (
    "q={}".format("x" * 101),
    "q=%25%5F%5C",
    "q=%00",
    "cursor=AAAA",
    "cursor=WyIwMDAxLTAxLTAxVDAwOjAwOjAwKzE0OjAwIiwgMV0",  # an award page's key before year 1 in UTC
    "cursor=WyJlbmRpbmdfc29vbiIsIFswLCAiOTk5OS0xMi0zMVQyMzo1OTo1OS0xMDowMCJdLCAxXQ",  # an auction page's key after 9999
    "limit=0",
    "limit=201",
    "limit=-1",
    "status=nope",
    "sort=nope",
    "department_id=0",
    "auction_id=99999999999999999999",
    "include_history=maybe",
    "period=decade",
    "format=xml",
    *(f"from={v}" for v in OUT_OF_RANGE),
    *(f"to={v}" for v in OUT_OF_RANGE),
    "from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z",
)


async def role_headers(api: Api, dept: int) -> dict[str, dict[str, str]]:
    callers: dict[str, dict[str, str]] = {"anonymous": {}}
    for role in ROLES:
        if role == "admin":
            callers[role] = api.admin.headers
        elif role in ("buyer", "finance"):
            callers[role] = (await api.user(role, department_id=dept)).headers
        else:
            callers[role] = (await api.user(role)).headers
    return callers


async def test_hostile_queries_from_every_role_are_4xx(api: Api, db: asyncpg.Connection) -> None:
    dept = await api.department()
    buyer = await api.buyer(dept)
    aid = (await published_auction(api, buyer))["id"]
    callers = await role_headers(api, dept)
    paths = (
        "/api/auctions",
        f"/api/auctions/{aid}/bids",
        "/api/awards",
        f"/api/departments/{dept}/spend",
        "/api/audit/events",
        "/api/audit/export",
        "/api/audit/manifest",
        "/api/payments",
        "/api/reviews",
        "/api/users",
        "/api/departments",
        "/api/admin/dead-letters",
        "/api/me/awards",
        "/api/me/bids",
        "/",
        "/awards",
        "/audit",
    )
    before = await row_counts(db)
    failures = []
    for who, headers in callers.items():
        for path in paths:
            for query in HOSTILE_QUERIES:
                r = await api.client.get(f"{path}?{query}", headers=headers)
                if r.status_code >= 500:
                    failures.append(f"{who} GET {path}?{query}: {r.status_code} {r.text[:200]}")
                elif r.status_code >= 400 and path.startswith("/api"):
                    try:
                        assert_problem(r, (r.status_code,), f"{who} {path}?{query}")
                    except (AssertionError, ValueError) as exc:
                        failures.append(str(exc))
    assert not failures, f"{len(failures)} failures:\n" + "\n".join(failures[:40])
    after = await row_counts(db)
    assert after["auctions"] == before["auctions"] and after["bids"] == before["bids"]


@pytest.mark.parametrize("name", ["auction", "bid", "review", "dispute", "webhook", "user"])
async def test_hostile_bodies_from_every_role_are_4xx(
    api: Api, db: asyncpg.Connection, pool: Any, name: str
) -> None:
    t = (await targets(api, db, pool))[name]
    callers = await role_headers(api, await api.department())
    before = await row_counts(db)
    kept = {"nested arrays", "NUL in text", "unknown field", "invalid UTF-8", "array", "no body"}
    failures = []
    for who, headers in callers.items():
        for what, body, ctype, _ in hostile_bodies(t):
            if what not in kept and not what.startswith(f"{t.int_field}="):
                continue
            r = await api.client.request(
                t.method, t.path, content=body, headers={**headers, "Content-Type": ctype}
            )
            try:
                assert_problem(r, (400, 401, 403, 404, 409, 413, 415, 422), f"{who}: {what}")
            except (AssertionError, ValueError) as exc:
                failures.append(str(exc))
    assert not failures, "\n".join(failures[:40])
    after = await row_counts(db)
    assert after == before, {k: (before[k], after[k]) for k in before if before[k] != after[k]}
