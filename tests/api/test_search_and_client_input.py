"""Search and client input (docs/reliability.md, "Search and client input").

- ``q`` keeps its meaning (a case-insensitive substring of the title, summary or
  description, LIKE wildcards taken literally) while an index answers it; at most 100
  characters, longer is a 400 naming ``q``.
- Anonymous list and search requests are limited per client address, signed-in ones per
  user (429 with Retry-After).
- A time parameter outside what PostgreSQL and Python can hold is a 400 naming the
  parameter, never a 500.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import msgspec
import pytest
from litestar.testing import AsyncTestClient

from marketplace.app import create_app
from marketplace.settings import Settings
from tests.helpers import Api, published_auction


def assert_problem(r: Any, status: int, field: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, (r.status_code, r.text[:300])
    body: dict[str, Any] = r.json()
    assert body["status"] == status and body["code"] and body["detail"], body
    if field is not None:
        assert body.get("field") == field, body
    return body


# --- search -------------------------------------------------------------------------


async def test_q_matches_substrings_case_insensitively_with_wildcards_literal(
    api: Api, db: asyncpg.Connection
) -> None:
    buyer = await api.buyer()
    texts = [
        ("Fix the ÄRGER form", "Summary one", "Long text " * 500 + "needle_in%stack"),
        ("Accessibility audit", "Screen readers", "Plain description"),
        ("Ĳssel 🦄 unicorn", "Grüße", "the 100% case"),
        ("ab", "x", "y"),
    ]
    ids = []
    for title, summary, description in texts:
        a = await published_auction(
            api, buyer, title=title, summary=summary, description=description
        )
        ids.append(a["id"])

    async def found(q: str) -> list[int]:
        r = await api.client.get("/api/auctions", params={"q": q, "limit": 100})
        assert r.status_code == 200, r.text
        return sorted(a["id"] for a in r.json()["items"])

    async def reference(q: str) -> list[int]:
        """The meaning q had before the index: ILIKE over each text, q's wildcards escaped."""
        pattern = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        rows = await db.fetch(
            """SELECT id FROM auctions
               WHERE title ILIKE '%' || $1 || '%' OR summary ILIKE '%' || $1 || '%'
                  OR description ILIKE '%' || $1 || '%' ORDER BY id""",
            pattern,
        )
        return [r["id"] for r in rows]

    assert await found("ESSIBILITY AUD") == [ids[1]]  # across words, inside a word
    assert await found("needle_in%stack") == [ids[0]]  # wildcards literal
    assert await found("needle_in_stack") == []
    assert await found("%") == sorted([ids[0], ids[2]])
    assert await found("_") == [ids[0]]
    assert await found("🦄") == [ids[2]]  # one character
    assert await found("ab") == [ids[3]]  # two
    assert await found("text long") == [ids[0]]  # "text Long text": case-insensitive
    assert await found("zz") == []
    for q in ("ärger", "ÄRGER", "grüße", "GRÜSSE", "ĳssel", "100%", "\\", "e", "ng te", "x" * 100):
        assert await found(q) == await reference(q), q
    # An edit is searchable at once (the index follows the text).
    r = await api.client.post(
        "/api/auctions", json={**_body(), "description": "quokka census"}, headers=buyer.headers
    )
    draft = r.json()["id"]
    assert await db.fetchval("SELECT count(*) FROM auctions WHERE id = $1", draft) == 1
    r = await api.client.patch(
        f"/api/auctions/{draft}", json={"description": "wombat census"}, headers=buyer.headers
    )
    assert r.status_code == 200, r.text
    mine = await api.client.get("/api/auctions?q=wombat", headers=buyer.headers)
    assert [a["id"] for a in mine.json()["items"]] == [draft]
    mine = await api.client.get("/api/auctions?q=quokka", headers=buyer.headers)
    assert mine.json()["items"] == []


def _body() -> dict[str, Any]:
    from tests.helpers import auction_body

    return auction_body()


async def test_q_longer_than_100_characters_is_400_naming_q(api: Api) -> None:
    r = await api.client.get("/api/auctions", params={"q": "é" * 100})
    assert r.status_code == 200, r.text
    r = await api.client.get("/api/auctions", params={"q": "é" * 101})
    assert_problem(r, 400, "q")
    # The page keeps working: it searches the first 100 characters and says so.
    r = await api.client.get("/", params={"q": "x" * 150})
    assert r.status_code == 200, r.text
    assert "100 characters" in r.text


async def test_search_uses_the_index(api: Api, db: asyncpg.Connection) -> None:
    """With sequential scans priced out, a q search reads the gram index: the plan
    PostgreSQL would choose once the table is large."""
    await db.execute("SET enable_seqscan = off")
    plan = await db.fetchval(
        """EXPLAIN (FORMAT JSON)
           SELECT s.auction_id FROM auction_search s
           WHERE s.grams @> search_query_grams('needle')"""
    )
    assert "auction_search_grams" in json.dumps(plan), plan


# --- rate limits ----------------------------------------------------------------------

LIST_LIMIT, SEARCH_LIMIT = 6, 3


@pytest.fixture
async def strict(settings: Settings) -> AsyncIterator[tuple[AsyncTestClient[Any], Api]]:
    limited = msgspec.structs.replace(
        settings, list_limit_per_minute=LIST_LIMIT, search_limit_per_minute=SEARCH_LIMIT
    )
    assert limited.database_url and limited.redis_url
    app = create_app(limited, limited.database_url, limited.redis_url)
    async with AsyncTestClient(app=app) as client:
        yield client, await Api.start(client, limited.database_url)


def _limited(r: Any) -> bool:
    if r.status_code != 429:
        assert r.status_code == 200, r.text[:300]
        return False
    assert 0 < int(r.headers["retry-after"]) <= 60
    if r.headers["content-type"].startswith("application/json"):
        assert r.json()["code"] == "rate_limited"
    return True


async def test_anonymous_search_and_list_are_limited_per_address(
    strict: tuple[AsyncTestClient[Any], Api],
) -> None:
    client, api = strict
    # Searches: refused after SEARCH_LIMIT (twice as many tries: the minute may roll over).
    answers = [
        _limited(await client.get("/api/auctions?q=fix")) for _ in range(2 * SEARCH_LIMIT + 1)
    ]
    assert answers[:SEARCH_LIMIT] == [False] * SEARCH_LIMIT or answers[0] is False
    assert any(answers), answers
    # The home page's search is limited too (it shares the API's bucket).
    web = [_limited(await client.get("/?q=fix")) for _ in range(SEARCH_LIMIT + 1)]
    assert any(web), web
    # Plain listing has its own, larger bucket.
    listed = [_limited(await client.get("/api/auctions")) for _ in range(2 * LIST_LIMIT + 1)]
    assert not listed[0] and any(listed), listed
    # A signed-in caller is counted on their own, not with the address.
    buyer = await api.buyer()
    r = await client.get("/api/auctions?q=fix", headers=buyer.headers)
    assert r.status_code == 200, r.text
    mine = [
        _limited(await client.get("/api/auctions?q=fix", headers=buyer.headers))
        for _ in range(2 * SEARCH_LIMIT + 1)
    ]
    assert any(mine), mine
    other = await api.user("auditor")
    assert (await client.get("/api/auctions?q=fix", headers=other.headers)).status_code == 200


# --- time parameters ------------------------------------------------------------------

EARLY = "0001-01-01T00:00:00+14:00"  # before 0001-01-01 in UTC
LATE = "9999-12-31T23:59:59-10:00"  # after 9999-12-31 in UTC


def _cursor(*parts: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(parts)).encode()).decode().rstrip("=")


async def test_out_of_range_times_are_400_naming_the_parameter(api: Api) -> None:
    dept = await api.department()
    auditor = await api.user("auditor")
    failures = []
    for path in (
        "/api/awards",
        f"/api/departments/{dept}/spend",
        "/api/audit/events",
        "/api/audit/export",
        "/api/audit/manifest",
    ):
        for name, value in (("from", EARLY), ("to", LATE), ("from", LATE), ("to", EARLY)):
            r = await api.client.get(path, params={name: value}, headers=auditor.headers)
            try:
                assert_problem(r, 400, name)
            except (AssertionError, ValueError) as exc:
                failures.append(f"{path}?{name}={value}: {exc}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("zone", ["Pacific/Kiritimati", "Pacific/Pago_Pago"])
async def test_times_near_the_ends_of_the_range_are_answered(settings: Settings, zone: str) -> None:
    """Inside the range, but where a local zone (UTC+14, UTC-11) or a period's end would
    step outside it: an answer or a 400, never a 500."""
    zoned = msgspec.structs.replace(settings, timezone=zone)
    assert zoned.database_url and zoned.redis_url
    app = create_app(zoned, zoned.database_url, zoned.redis_url)
    async with AsyncTestClient(app=app) as client:
        api = await Api.start(client, zoned.database_url)
        dept = await api.department()
        auditor = await api.user("auditor")
        failures = []
        for query in (
            {"from": "0001-01-02T00:00:00Z"},
            {"from": "0002-01-01T00:00:00Z", "to": "0002-01-02T00:00:00Z"},
            {"to": "9999-12-30T00:00:00Z"},
            {"from": "9997-12-31T00:00:00Z", "to": "9997-12-31T23:59:59Z"},
            {"from": "9999-12-29T00:00:00Z", "period": "year"},
            {"from": "9999-01-01T00:00:00Z", "to": "9999-12-30T00:00:00Z", "period": "year"},
            {"from": "9999-12-01T00:00:00Z", "to": "9999-12-30T00:00:00Z", "period": "month"},
            {"from": "9997-12-01T00:00:00Z", "to": "9997-12-31T23:00:00Z", "period": "year"},
            {"to": "0001-01-03T00:00:00Z", "period": "year"},
        ):
            for path in ("/api/awards", f"/api/departments/{dept}/spend", "/api/audit/events"):
                params = dict(query)
                if not path.endswith("/spend"):
                    params.pop("period", None)
                r = await client.get(path, params=params, headers=auditor.headers)
                if r.status_code != 200:
                    try:
                        assert_problem(r, 400)
                    except (AssertionError, ValueError) as exc:
                        failures.append(f"{path} {params}: {exc}")
        assert not failures, "\n".join(failures)


async def test_out_of_range_times_in_cursors_are_400(api: Api) -> None:
    failures = []
    for path, cursor in (
        ("/api/awards", _cursor(EARLY, 1)),
        ("/api/awards", _cursor(LATE, 1)),
        ("/awards", _cursor(EARLY, 1)),
        ("/api/auctions", _cursor("ending_soon", [0, EARLY], 1)),
        ("/api/auctions", _cursor("ending_soon", [0, LATE], 1)),
        ("/", _cursor("ending_soon", [0, EARLY], 1)),
    ):
        r = await api.client.get(path, params={"cursor": cursor})
        if r.status_code != 400:
            failures.append(f"{path} cursor={cursor}: {r.status_code} {r.text[:200]}")
    assert not failures, "\n".join(failures)


async def test_out_of_range_times_on_the_audit_page_are_explained(api: Api) -> None:
    from tests.helpers import sign_in

    auditor = await api.user("auditor")
    await sign_in(api.client, auditor)
    r = await api.client.get("/audit", params={"since": "0001-01-01T00:00"})
    assert r.status_code == 200, r.text[:300]
    assert "from must be from 0002-01-01" in r.text
