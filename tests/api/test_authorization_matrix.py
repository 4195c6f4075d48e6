"""Who may call what, generated from the route table (DESIGN §2, §4, §10).

``EXPECTED`` states, for every API route, the guard it must carry: ``anyone``, ``signed_in``
or the roles of ``roles(...)``. A route missing from the table fails the suite, so a new
route cannot ship without deciding who may call it. Every route is then called by every
kind of caller on objects of department A (a sealed open auction with a bid, a draft, a
payment with payee details), and the answers are checked: 401 for anonymous callers on
protected routes, 403 for a missing role, never a 5xx, never a 2xx for a refused body, and
nothing sealed, drafted or private in any answer to a caller who may not see it.

Separation of duties (the last section): every (decision, relation) pair of
``policy.CONFLICTS`` has a scene, played through HTTP by a user holding every role the
decision needs *and* that relation; the refusal is 403 ``conflict_of_interest`` naming the
relation, and nothing is decided. A pair added to the table without a scene fails.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import msgspec
import pytest
from litestar.routes import HTTPRoute

from marketplace import policy
from marketplace.app import create_app
from marketplace.auctions import lifecycle
from marketplace.auth import anyone, signed_in
from marketplace.payments import service as payments
from marketplace.payments.provider import LedgerProvider
from marketplace.policy import Decision, Relation
from marketplace.redis import WORKER_HEARTBEAT_KEY
from marketplace.settings import Settings
from marketplace.transparency.scrape import metrics_scraper
from tests.helpers import (
    CLOSE_SETTINGS,
    Api,
    User,
    auction_body,
    bid,
    deliver_events,
    end_auction_now,
    published_auction,
    sign_in,
)
from tests.scenes import accept, delivered_for_review

ANYONE, SIGNED_IN = "anyone", "signed_in"
# /metrics: the metrics token when one is set, else clients on this host, whoever they are
# (here: no token, and every caller is on loopback, so it answers all as ANYONE would).
SCRAPER = "metrics_scraper"
Access = str | tuple[str, ...]

EXPECTED: dict[tuple[str, str], Access] = {
    ("GET", "/health/live"): ANYONE,
    ("GET", "/health/ready"): ANYONE,
    ("GET", "/metrics"): SCRAPER,
    ("POST", "/api/signup"): ANYONE,
    ("GET", "/api/departments"): ANYONE,
    ("POST", "/api/departments"): ("admin",),
    ("PATCH", "/api/departments/{department_id:int}"): ("admin",),
    ("GET", "/api/users"): ("admin",),
    ("POST", "/api/users"): ("admin",),
    ("GET", "/api/users/{user_id:int}"): ("admin",),
    ("PATCH", "/api/users/{user_id:int}"): ("admin",),
    ("POST", "/api/users/{user_id:int}/tokens"): SIGNED_IN,  # admin, or the user
    ("DELETE", "/api/tokens/{token_id:int}"): SIGNED_IN,  # admin, or its owner
    ("GET", "/api/me"): SIGNED_IN,
    ("POST", "/api/me/verification"): ("vendor",),
    ("POST", "/api/vendors/{user_id:int}/verification"): ("admin",),
    ("POST", "/api/me/github/link"): SIGNED_IN,
    ("POST", "/api/me/email-confirmation"): SIGNED_IN,
    ("GET", "/auth/github/login"): ANYONE,
    ("GET", "/auth/github/callback"): ANYONE,
    ("POST", "/api/github/webhook"): ANYONE,  # signed by GitHub instead
    ("GET", "/api/audit/public-key"): ANYONE,
    ("GET", "/api/audit/events"): ("auditor", "admin"),
    ("GET", "/api/audit/export"): ("auditor",),
    ("GET", "/api/audit/manifest"): ("auditor",),
    ("GET", "/api/auctions"): ANYONE,
    ("POST", "/api/auctions"): ("buyer",),
    ("GET", "/api/auctions/{auction_id:int}"): ANYONE,
    ("PATCH", "/api/auctions/{auction_id:int}"): ("buyer",),
    ("POST", "/api/auctions/{auction_id:int}/publish"): ("buyer",),
    ("POST", "/api/auctions/{auction_id:int}/cancel"): ("buyer",),
    ("GET", "/api/auctions/{auction_id:int}/bids"): ANYONE,
    ("POST", "/api/auctions/{auction_id:int}/bids"): ("vendor",),
    ("GET", "/api/auctions/{auction_id:int}/events"): ANYONE,
    ("POST", "/api/auctions/{auction_id:int}/questions"): ("vendor",),  # verified, not the dept
    ("GET", "/api/auctions/{auction_id:int}/questions"): ANYONE,  # askers: dept buyers, admins
    ("POST", "/api/auctions/{auction_id:int}/questions/{question_id:int}/answer"): ("buyer",),
    ("POST", "/api/auctions/{auction_id:int}/amendments"): ("buyer",),  # the department's
    ("GET", "/api/auctions/{auction_id:int}/amendments"): ANYONE,
    ("GET", "/api/me/bids"): ("vendor",),
    ("POST", "/api/auctions/{auction_id:int}/delivery"): ("vendor",),  # the winner
    ("GET", "/api/auctions/{auction_id:int}/verification"): SIGNED_IN,
    ("GET", "/api/reviews"): ("reviewer",),
    ("POST", "/api/auctions/{auction_id:int}/review"): ("reviewer",),
    ("GET", "/api/me/awards"): ("vendor",),
    ("POST", "/api/auctions/{auction_id:int}/delivery-deadline"): ("admin",),
    ("POST", "/api/auctions/{auction_id:int}/reaward"): ("buyer",),
    ("POST", "/api/auctions/{auction_id:int}/decline"): ("vendor",),
    ("POST", "/api/auctions/{auction_id:int}/rerun"): ("buyer",),
    ("GET", "/api/me/payment-details"): ("vendor",),
    ("PUT", "/api/me/payment-details"): ("vendor",),
    ("GET", "/api/payments"): SIGNED_IN,  # finance and admins their scope, payees their own
    ("GET", "/api/payments/{payment_id:int}"): SIGNED_IN,
    ("POST", "/api/payments/{payment_id:int}/confirm"): SIGNED_IN,  # the payee
    ("POST", "/api/payments/{payment_id:int}/dispute"): SIGNED_IN,  # buyer or payee
    ("POST", "/api/payments/{payment_id:int}/resolve"): ("finance", "admin"),
    ("POST", "/api/payments/{payment_id:int}/executed"): ("finance", "admin"),
    ("GET", "/api/awards"): ANYONE,
    ("GET", "/api/metrics"): ANYONE,
    ("GET", "/api/ocds/releases"): ANYONE,
    ("GET", "/api/ocds/records/{ocid:str}"): ANYONE,
    ("GET", "/api/ocds/compiled"): ANYONE,
    ("GET", "/api/integrity/flags"): ("auditor", "admin"),
    ("GET", "/api/departments/{department_id:int}/spend"): ("buyer", "finance", "auditor", "admin"),
    ("GET", "/api/departments/{department_id:int}/webhooks"): ("buyer", "admin"),
    ("POST", "/api/departments/{department_id:int}/webhooks"): ("buyer", "admin"),
    ("DELETE", "/api/departments/{department_id:int}/webhooks/{webhook_id:int}"): (
        "buyer",
        "admin",
    ),
    ("POST", "/api/departments/{department_id:int}/webhooks/{webhook_id:int}/redeliver"): (
        "buyer",
        "admin",
    ),
    ("GET", "/api/me/notifications"): SIGNED_IN,
    ("POST", "/api/me/notifications/read"): SIGNED_IN,
    ("GET", "/api/admin/dead-letters"): ("admin",),
    ("POST", "/api/admin/dead-letters/{dead_letter_id:int}/redeliver"): ("admin",),
}
# Not API routes: the web pages (their router checks the session and CSRF), static files,
# and the OpenAPI document.
OTHER_MODULES = ("marketplace.web.", "litestar.")
# Writes without a body: a caller the guard admits could really change something, so only
# refused callers are sent here (object-level refusals are tested one by one below).
BODYLESS_WRITES = {
    ("POST", "/api/users/{user_id:int}/tokens"),
    ("DELETE", "/api/tokens/{token_id:int}"),
    ("POST", "/api/me/github/link"),
    ("POST", "/api/auctions/{auction_id:int}/publish"),
    ("POST", "/api/auctions/{auction_id:int}/reaward"),
    ("POST", "/api/auctions/{auction_id:int}/decline"),
    ("POST", "/api/auctions/{auction_id:int}/rerun"),
    ("POST", "/api/payments/{payment_id:int}/confirm"),
    ("DELETE", "/api/departments/{department_id:int}/webhooks/{webhook_id:int}"),
    ("POST", "/api/admin/dead-letters/{dead_letter_id:int}/redeliver"),
}
SEALED_AMOUNT = 271_828
DRAFT_TITLE = "Draft only department A may read Zq"
IBAN = "SECRET-IBAN-7731-Zq"


def api_routes(app: Any) -> list[tuple[str, str, Any]]:
    """(method, path, handler) of every HTTP route but HEAD/OPTIONS."""
    found: list[tuple[str, str, Any]] = []
    for route in app.routes:
        assert isinstance(route, HTTPRoute), route
        for handler in route.route_handlers:
            for method in sorted(handler.http_methods - {"HEAD", "OPTIONS"}):
                found.append((method, route.path, handler))
    return found


def guard_access(handler: Any) -> list[Access]:
    access: list[Access] = []
    for guard in handler.guards or []:
        if guard is anyone:
            access.append(ANYONE)
        elif guard is signed_in:
            access.append(SIGNED_IN)
        elif guard is metrics_scraper:
            access.append(SCRAPER)
        elif hasattr(guard, "allowed_roles"):
            access.append(tuple(guard.allowed_roles))
    return access


def test_every_route_has_exactly_one_guard_and_is_in_the_table(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path), "postgresql://x/y", "redis://x")
    uncovered, wrong = [], []
    for method, path, handler in api_routes(app):
        module = handler.fn.__module__
        if module.startswith(OTHER_MODULES):
            assert not guard_access(handler), (method, path)
            continue
        access = guard_access(handler)
        if len(access) != 1:
            wrong.append(f"{method} {path}: guards {access}, want exactly one of ours")
        elif (method, path) not in EXPECTED:
            uncovered.append(f"{method} {path} ({access[0]})")
        elif access[0] != EXPECTED[(method, path)]:
            wrong.append(f"{method} {path}: {access[0]}, table says {EXPECTED[(method, path)]}")
    assert not wrong, "\n".join(wrong)
    assert not uncovered, "routes missing from EXPECTED:\n" + "\n".join(uncovered)


@dataclass
class Who:
    name: str
    roles: frozenset[str]
    user: User | None

    @property
    def headers(self) -> dict[str, str]:
        return self.user.headers if self.user else {}


@dataclass
class World:
    client: httpx.AsyncClient
    people: dict[str, Who]
    dept_a: int
    dept_b: int
    sealed: int
    draft: int
    reviewed: int
    pending: int
    payment: int
    webhook: int
    question: int = 0


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """GitHub sign-in and webhooks configured (unconfigured, they answer 503 on purpose)."""
    return msgspec.structs.replace(
        settings,
        github_client_id="client-id",
        github_client_secret="client-secret",
        github_webhook_secret="webhook-secret",
        github_url="http://127.0.0.1:9",
        github_api_url="http://127.0.0.1:9",
    )


async def awarded_in_review(
    api: Api, db: asyncpg.Connection, pool: Any, buyer: User, winner: User, loser: User
) -> int:
    """An auction of the buyer's department won by ``winner``, its delivery verified."""
    aid = (await published_auction(api, buyer, price_cap_cents=500_000))["id"]
    assert (await bid(api, loser, aid, 400_000)).status_code == 201
    assert (await bid(api, winner, aid, 390_000)).status_code == 201
    await end_auction_now(db, aid)
    assert await lifecycle.close_auction(pool, aid, CLOSE_SETTINGS) == "awarded"
    award_id = await db.fetchval("SELECT id FROM awards WHERE auction_id = $1", aid)
    delivery = await db.fetchval(
        """INSERT INTO deliveries (auction_id, award_id, submitted_by, pull_request_url,
                                   repo_full_name, pr_number)
           VALUES ($1, $2, $3, 'https://github.com/city-of-x/permits/pull/7',
                   'city-of-x/permits', 7) RETURNING id""",
        aid,
        award_id,
        winner.id,
    )
    await db.execute(
        """INSERT INTO verifications (delivery_id, auction_id, passed, checks)
           VALUES ($1, $2, true, '[{"name": "merged", "passed": true, "evidence": {}}]')""",
        delivery,
        aid,
    )
    await db.execute("UPDATE auctions SET status = 'pending_review' WHERE id = $1", aid)
    await db.execute(
        "UPDATE awards SET delivered_at = now(), verified_at = now() WHERE id = $1", award_id
    )
    return int(aid)


async def verified(api: Api, user: User) -> User:
    r = await api.client.post(
        f"/api/vendors/{user.id}/verification",
        json={"status": "verified", "reason": "registry checked"},
        headers=api.admin.headers,
    )
    assert r.status_code == 201, r.text
    return user


@pytest.fixture
async def world(
    live_server: str, database_url: str, db: asyncpg.Connection, pool: Any, redis: Any
) -> AsyncIterator[World]:
    await redis.set(WORKER_HEARTBEAT_KEY, "1")  # /health/ready answers 200 without a worker
    client = httpx.AsyncClient(base_url=live_server, timeout=30)
    api = await Api.start(client, database_url)
    dept_a, dept_b = await api.department(), await api.department()
    buyer_a, buyer_b = await api.buyer(dept_a), await api.buyer(dept_b)
    winner, loser, bidder = [await api.verified_vendor() for _ in range(3)]
    people = {
        "anonymous": Who("anonymous", frozenset(), None),
        "buyer_a": Who("buyer_a", frozenset({"buyer"}), buyer_a),
        "buyer_b": Who("buyer_b", frozenset({"buyer"}), buyer_b),
        "vendor": Who("vendor", frozenset({"vendor"}), bidder),
        "winner": Who("winner", frozenset({"vendor"}), winner),
        "unverified": Who("unverified", frozenset({"vendor"}), await api.user("vendor")),
        "reviewer_a": Who(
            "reviewer_a", frozenset({"reviewer"}), await api.user("reviewer", department_id=dept_a)
        ),
        "reviewer_b": Who(
            "reviewer_b", frozenset({"reviewer"}), await api.user("reviewer", department_id=dept_b)
        ),
        "reviewer_central": Who("reviewer_central", frozenset({"reviewer"}), None),
        "finance_a": Who(
            "finance_a", frozenset({"finance"}), await api.user("finance", department_id=dept_a)
        ),
        "finance_b": Who(
            "finance_b", frozenset({"finance"}), await api.user("finance", department_id=dept_b)
        ),
        "auditor": Who("auditor", frozenset({"auditor"}), await api.user("auditor")),
        "admin": Who("admin", frozenset({"admin"}), api.admin),
    }
    central = await api.user("reviewer")
    people["reviewer_central"].user = central
    reviewed = await awarded_in_review(api, db, pool, buyer_a, winner, loser)
    r = await client.post(
        f"/api/auctions/{reviewed}/review",
        json={"decision": "accept", "reason": "meets the criteria"},
        headers=central.headers,
    )
    assert r.status_code == 200, r.text
    payment = r.json()["payment_id"]
    r = await client.put(
        "/api/me/payment-details",
        json={"method": "transfer", "reference": IBAN},
        headers=winner.headers,
    )
    assert r.status_code == 200, r.text
    pending = await awarded_in_review(api, db, pool, buyer_a, winner, loser)
    sealed = (await published_auction(api, buyer_a, type="sealed"))["id"]
    r = await client.post(
        "/api/auctions", json=auction_body(title=DRAFT_TITLE), headers=buyer_a.headers
    )
    assert r.status_code == 201, r.text
    draft = r.json()["id"]
    r = await client.post(
        f"/api/departments/{dept_a}/webhooks",
        json={"url": "https://hooks.example.gov/a"},
        headers=buyer_a.headers,
    )
    assert r.status_code == 201, r.text
    w = World(
        client, people, dept_a, dept_b, sealed, draft, reviewed, pending, payment, r.json()["id"]
    )
    w.question = await asked_and_answered(api, db, sealed, buyer_a)
    yield w
    await client.aclose()


def fill(path: str, w: World, auction_id: int) -> str:
    values = {
        "auction_id": auction_id,
        "department_id": w.dept_a,
        "payment_id": w.payment,
        "user_id": w.people["winner"].user.id if w.people["winner"].user else 0,
        "token_id": 1,
        "webhook_id": w.webhook,
        "dead_letter_id": 1,
        "mail_id": 1,
        "question_id": w.question,
        "ocid": f"ocds-000000-{w.sealed}",
    }
    return re.sub(r"\{(\w+):\w+\}", lambda m: str(values[m.group(1)]), path)


ASKER_NAME = "Asker Quill Zq"
UNANSWERED = "Unanswered question only the department may read Zq"


async def asked_and_answered(api: Api, db: asyncpg.Connection, auction_id: int, buyer: User) -> int:
    """A vendor named ``ASKER_NAME`` asks two questions on the auction; the buyer answers
    the first. Returns the answered question's id."""
    asker = await api.verified_vendor()
    await db.execute("UPDATE users SET name = $2 WHERE id = $1", asker.id, ASKER_NAME)
    ids = []
    for text in ("Which browsers must the fix support?", UNANSWERED):
        r = await api.client.post(
            f"/api/auctions/{auction_id}/questions", json={"text": text}, headers=asker.headers
        )
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    r = await api.client.post(
        f"/api/auctions/{auction_id}/questions/{ids[0]}/answer",
        json={"text": "Safari 17 and the two latest Chrome and Firefox releases."},
        headers=buyer.headers,
    )
    assert r.status_code == 200, r.text
    return int(ids[0])


async def read_sse(base: str, path: str, headers: dict[str, str]) -> tuple[int, str]:
    """The status and what a feed sends at once (its replay of past events)."""
    text = ""
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        async with client.stream("GET", path, headers=headers) as r:
            if r.status_code != 200:
                await r.aread()
                return r.status_code, r.text
            try:
                async with asyncio.timeout(0.3):
                    async for chunk in r.aiter_text():
                        text += chunk
            except TimeoutError:
                pass
            return r.status_code, text


async def test_matrix_of_routes_callers_and_objects(world: World, live_server: str) -> None:
    w = world
    vendor = w.people["vendor"].user
    assert vendor is not None
    r = await bid_as(w, vendor, w.sealed, SEALED_AMOUNT)
    assert r.status_code == 201, r.text
    app = create_app(Settings(data_dir=Path("/tmp")), "postgresql://x/y", "redis://x")
    app_routes = [(m, p) for m, p, _ in api_routes(app) if (m, p) in EXPECTED]
    failures: list[str] = []
    seen: dict[str, list[str]] = {name: [] for name in w.people}

    async def probe(method: str, template: str, who: Who, auction_id: int) -> None:
        access = EXPECTED[(method, template)]
        allowed_by_guard = access in (ANYONE, SCRAPER) or (
            who.user is not None and (access == SIGNED_IN or bool(who.roles.intersection(access)))
        )
        if (method, template) in BODYLESS_WRITES and allowed_by_guard:
            return
        path = fill(template, w, auction_id)
        if template.endswith("/events"):
            status, text = await read_sse(live_server, path, who.headers)
        else:
            body = {"not_a_field": 1} if method in ("POST", "PUT", "PATCH") else None
            r = await w.client.request(method, path, json=body, headers=who.headers)
            status, text = r.status_code, r.text
        label = f"{who.name} {method} {path} -> {status} {text[:160]}"
        if status >= 500:
            failures.append("server error: " + label)
        elif access not in (ANYONE, SCRAPER) and who.user is None:
            if status != 401:
                failures.append("anonymous not 401: " + label)
        elif not allowed_by_guard:
            if status != 403:
                failures.append("missing role not 403: " + label)
        elif method != "GET" and template != "/api/github/webhook" and status < 300:
            failures.append("refused body accepted: " + label)
        if status < 300:
            seen[who.name].append(f"{method} {path}: {text}")

    for method, template in app_routes:
        ids = {w.sealed, w.draft} if method == "GET" else {w.sealed}
        await asyncio.gather(
            *(
                probe(method, template, who, auction_id)
                for who in w.people.values()
                for auction_id in (ids if "auction_id" in template else {0})
            )
        )
    assert not failures, "\n".join(failures)

    # Those who may see them do (so the scan below reads real answers) ...
    assert any(str(SEALED_AMOUNT) in answer for answer in seen["vendor"])
    assert any(DRAFT_TITLE in answer for answer in seen["buyer_a"])
    assert any(IBAN in answer for answer in seen["winner"])
    assert any(ASKER_NAME in answer and UNANSWERED in answer for answer in seen["buyer_a"])
    # ... and nothing about the sealed bid, the draft or the payee's details leaks to others.
    leaks = []
    for name, answers in seen.items():
        for answer in answers:
            if name != "vendor" and str(SEALED_AMOUNT) in answer:
                leaks.append(f"sealed amount to {name}: {answer[:200]}")
            draft_readers = {"buyer_a", "reviewer_a", "finance_a", "admin", "auditor"}
            if name not in draft_readers and DRAFT_TITLE in answer:
                leaks.append(f"draft to {name}: {answer[:200]}")
            if name not in {"winner", "finance_a", "admin", "auditor"} and IBAN in answer:
                leaks.append(f"payee details to {name}: {answer[:200]}")
            # Who asked, and what is not yet answered: the department's buyers and admins;
            # auditors in the audit log, which records every change and who made it.
            in_audit_log = name == "auditor" and answer.startswith("GET /api/audit/")
            if (
                name not in {"buyer_a", "admin"}
                and not in_audit_log
                and (
                    ASKER_NAME in answer
                    or UNANSWERED in answer
                    or re.search(r'"asker_id":\d', answer)
                )
            ):
                leaks.append(f"question asker or unanswered question to {name}: {answer[:200]}")
    assert not leaks, "\n".join(leaks)


async def bid_as(w: World, user: User, auction_id: int, amount: int) -> httpx.Response:
    return await w.client.post(
        f"/api/auctions/{auction_id}/bids", json={"amount_cents": amount}, headers=user.headers
    )


# Every way out of the service that a sealed bid could leak through before close. The
# snapshot test below reads every GET route of the API as every caller but the bidder,
# before and after the bid, and requires the answers to be the same; what it does not
# read is named here with the test that holds it shut. A new route or channel that is in
# neither fails the test until someone says how it is covered.
SEALED_ELSEWHERE = {
    "GET /health/live": "liveness only, nothing about auctions",
    "GET /health/ready": "readiness of PostgreSQL, Redis and a worker only",
    "GET /metrics": "request counters by route and status: a bearer token, or loopback "
    "clients only (tests/api/test_service_edges.py)",
    "the development mailbox (pages below)": "admins only, absent once SMTP is set "
    "(tests/api/test_service_edges.py)",
    "GET /auth/github/login": "a redirect to GitHub",
    "GET /auth/github/callback": "the end of a GitHub sign-in",
    "GET /api/auctions/{auction_id:int}/events": "read below, as a stream",
    "bid ids": "random public ids (tests/api/test_sealed_channels.py::"
    "test_bid_ids_do_not_count_the_sealed_bids_between_two_probes)",
    "the bidder's own alias": "none until close (tests/api/test_sealed_channels.py::"
    "test_a_sealed_bid_has_no_alias_until_close)",
    "audit row ids": "not shown; cursors sealed (tests/api/test_sealed_channels.py::"
    "test_audit_rows_do_not_count_the_hidden_rows_between_them)",
    "department webhooks": "sealed_view() of events (tests/api/test_sealed_channels.py::"
    "test_a_cancelled_sealed_auction_does_not_tell_webhooks_how_many_bid)",
    "mail and in-app notifications": "sealed bidders hear only at close or cancellation, "
    "each of their own bid (tests/workers/test_notifications.py); GET /api/me/notifications is read "
    "above with the notifications consumer run before each snapshot, and the page below "
    "(tests/web/test_in_app_notifications.py::test_a_sealed_bid_notifies_nobody_until_close); "
    "answers and amendments reach each "
    "bidder and asker in their own mailbox only, naming no one (tests/api/test_clarifications.py)",
    "who asked a question": "the department's buyers and admins only, in the API, the pages "
    "and mail (the asker scan of test_matrix_of_routes_callers_and_objects; "
    "tests/api/test_clarifications.py)",
}
# The web pages render the same services as the API routes above, for the signed-in
# caller; the anonymous auction page is also read below. A new page must be added here.
SEALED_PAGES = {
    "/",
    "/auctions/{auction_id:int}",
    "/awards",
    "/insights",
    "/signin",
    "/signin/github",
    "/confirm-email",
    "/me/bids",
    "/me",
    "/me/notifications",
    "/buyer",
    "/buyer/tasks/new",
    "/buyer/tasks/{auction_id:int}/edit",
    "/admin/vendors",
    "/admin/users",
    "/admin/users/{user_id:int}",
    "/admin/departments",
    "/reviews",
    "/finance/payments",
    "/payments/{payment_id:int}",
    "/me/awards",
    "/me/payments",
    "/auctions/{auction_id:int}/delivery",
    "/me/github/confirm",
    "/audit",
    "/audit/export",
    "/audit/manifest",
    "/audit/verify",
    "/open-data",
    "/audit/flags",
    "/static/{file_path:path}",
    "/favicon.ico",
    "/schema/swagger",
    "/schema",
    "/schema/openapi.json",
    "/schema/{path:str}",
    "/dev/mailbox",
    "/dev/mailbox/{mail_id:int}",
}


async def test_sealed_bid_tells_nothing_until_close(
    world: World, live_server: str, db: asyncpg.Connection, pool: Any, settings: Settings
) -> None:
    w = world
    c = w.client
    watchers = [p for n, p in w.people.items() if n != "vendor"]
    app = create_app(Settings(data_dir=Path("/tmp")), "postgresql://x/y", "redis://x")
    gets = sorted({p for m, p, _ in api_routes(app) if m == "GET"})
    unnamed = [p for p in gets if (p not in SEALED_PAGES) != (("GET", p) in EXPECTED)]
    assert not unnamed, f"routes neither in the API table nor the pages: {unnamed}"
    gets = [p for p in gets if p not in SEALED_PAGES]
    unread = [p for p in gets if f"GET {p}" in SEALED_ELSEWHERE]
    paths = [fill(p, w, w.sealed) for p in gets if p not in unread]
    assert "/api/auctions" in paths and f"/api/auctions/{w.sealed}/bids" in paths
    # The open contracting data publishes bids: read like every other channel.
    assert {
        "/api/ocds/releases",
        "/api/ocds/compiled",
        f"/api/ocds/records/ocds-000000-{w.sealed}",
        "/api/integrity/flags",
    } <= set(paths)
    every = {p for m, p, _ in api_routes(app) if m == "GET"}
    stale = [k for k in SEALED_ELSEWHERE if k.startswith("GET ") and k[4:] not in every]
    stale += sorted(SEALED_PAGES - every)
    assert not stale, f"channels named that no longer exist: {stale}"

    async def snapshot() -> dict[str, str]:
        shot: dict[str, str] = {}

        async def look(who: Who) -> None:
            for path in [*paths, f"/api/audit/events?auction_id={w.sealed}"]:
                r = await c.get(path, headers=who.headers)
                assert r.status_code < 500, (path, r.text)
                text = r.text
                if path.startswith("/api/audit/"):
                    # Audit cursors are encrypted with a fresh nonce each time (audit/
                    # cursors.py): whether there is a next page is what they can tell.
                    text = re.sub(r'"next":"[^"]+"', '"next":"sealed"', text)
                shot[f"{who.name} {path}"] = f"{r.status_code} {text}"
            _, text = await read_sse(live_server, f"/api/auctions/{w.sealed}/events", who.headers)
            # What arrives within the read's window varies with load; events do not.
            shot[f"{who.name} events"] = re.sub(r"(?m)^retry:.*$", "", text).strip()

        await asyncio.gather(*(look(who) for who in watchers))
        return shot

    # The notifications consumer runs before each snapshot, so mail and in-app
    # notifications (GET /api/me/notifications, /me/notifications) are read as they would
    # be once the bid's events were handled.
    await deliver_events(pool, settings)
    before = await snapshot()
    vendor = w.people["vendor"].user
    assert vendor is not None
    r = await bid_as(w, vendor, w.sealed, SEALED_AMOUNT)
    assert r.status_code == 201, r.text
    await deliver_events(pool, settings)
    after = await snapshot()
    changed = [k for k in before if _volatile(before[k]) != _volatile(after[k])]
    assert not changed, [(k, before[k][:300], after[k][:300]) for k in changed]
    assert all(str(SEALED_AMOUNT) not in text for text in after.values())
    # Who asked the sealed auction's questions, and the unanswered one, reach only the
    # department's buyers and admins (auditors: in the audit log); the answer reaches all.
    for key, text in after.items():
        name, channel = key.split(" ", 1)
        if name in ("buyer_a", "admin") or (
            name == "auditor" and channel.startswith("/api/audit/")
        ):
            continue
        assert ASKER_NAME not in text and UNANSWERED not in text, key
        assert not re.search(r'"asker_id":\d', text), key
    assert "Safari 17 and the two latest" in after[f"anonymous /api/auctions/{w.sealed}/questions"]
    page = await c.get(f"/auctions/{w.sealed}")
    assert page.status_code == 200
    assert str(SEALED_AMOUNT) not in page.text and "Bidder 1" not in page.text
    # The bidder alone sees their own bid.
    r = await c.get(f"/api/auctions/{w.sealed}/bids", headers=vendor.headers)
    assert [b["amount_cents"] for b in r.json()["items"]] == [SEALED_AMOUNT]
    # After close the bid is revealed to everyone.
    await end_auction_now(db, w.sealed)
    assert await lifecycle.close_auction(_pool(db), w.sealed, CLOSE_SETTINGS) == "awarded"
    r = await c.get(f"/api/auctions/{w.sealed}/bids")
    assert [b["amount_cents"] for b in r.json()["items"]] == [SEALED_AMOUNT]


def _volatile(text: str) -> str:
    """Text without values that change by themselves (clocks, durations)."""
    return re.sub(
        r'"(server_time|time_left_seconds|generated_at|as_of|exported_at|signature)":'
        r'("[^"]*"|[-0-9.e]+)',
        "",
        text,
    )


def _pool(conn: asyncpg.Connection) -> Any:
    class _Ctx:
        async def __aenter__(self) -> asyncpg.Connection:
            return conn

        async def __aexit__(self, *exc: object) -> None:
            return None

    class _Pool:
        def acquire(self) -> Any:
            return _Ctx()

    return _Pool()


async def test_drafts_payments_and_audit_by_object(world: World) -> None:
    w, c, p = world, world.client, world.people

    def h(name: str) -> dict[str, str]:
        return p[name].headers

    for name in ("anonymous", "buyer_b", "vendor", "reviewer_b", "finance_b", "reviewer_central"):
        r = await c.get(f"/api/auctions/{w.draft}", headers=h(name))
        assert r.status_code == 404, (name, r.text)
        listed = (await c.get("/api/auctions?status=draft", headers=h(name))).text
        assert DRAFT_TITLE not in listed, name
    for name in ("buyer_a", "admin", "auditor"):
        r = await c.get(f"/api/auctions/{w.draft}", headers=h(name))
        assert r.status_code == 200 and r.json()["title"] == DRAFT_TITLE, name
    # Another department's buyer may not see the draft (404); an admin sees it but is no
    # buyer of it (403).
    for name in ("buyer_b", "admin"):
        r = await c.patch(f"/api/auctions/{w.draft}", json={"title": "x"}, headers=h(name))
        assert r.status_code == (404 if name == "buyer_b" else 403), (name, r.text)
        r = await c.post(f"/api/auctions/{w.draft}/publish", headers=h(name))
        assert r.status_code == (404 if name == "buyer_b" else 403), (name, r.text)
        r = await c.post(f"/api/auctions/{w.draft}/cancel", json={"reason": "x"}, headers=h(name))
        assert r.status_code == (404 if name == "buyer_b" else 403), (name, r.text)
    assert (await c.get(f"/api/auctions/{w.draft}")).status_code == 404

    # Payments: the payee, finance of the department (or central), admins, auditors.
    for name in ("vendor", "unverified", "buyer_b", "finance_b", "reviewer_a", "reviewer_central"):
        r = await c.get(f"/api/payments/{w.payment}", headers=h(name))
        assert r.status_code == 404, (name, r.text)
        r = await c.get("/api/payments", headers=h(name))
        assert r.status_code in (200, 403) and IBAN not in r.text, (name, r.text)
        if r.status_code == 200:
            assert w.payment not in [x["id"] for x in r.json()["items"]], name
        r = await c.post(f"/api/payments/{w.payment}/confirm", headers=h(name))
        assert r.status_code == 404, (name, r.text)
        r = await c.post(
            f"/api/payments/{w.payment}/dispute", json={"reason": "x"}, headers=h(name)
        )
        assert r.status_code == 404, (name, r.text)
    for name in ("winner", "finance_a", "admin", "auditor"):
        r = await c.get(f"/api/payments/{w.payment}", headers=h(name))
        assert r.status_code == 200, (name, r.text)
    r = await c.post(
        f"/api/payments/{w.payment}/resolve",
        json={"outcome": "cancel", "reason": "x"},
        headers=h("finance_b"),
    )
    assert r.status_code == 404, r.text
    # Payee details: each vendor sees only their own.
    r = await c.get("/api/me/payment-details", headers=h("vendor"))
    assert r.status_code == 404 and IBAN not in r.text
    assert (await c.get("/api/me/payment-details", headers=h("winner"))).json()["reference"] == IBAN

    # Audit rows: auditors (and admins for the browser) only.
    for path, readers in (
        ("/api/audit/events", {"auditor", "admin"}),
        ("/api/audit/export?format=jsonl", {"auditor"}),
        ("/api/audit/manifest", {"auditor"}),
    ):
        for name, who in p.items():
            r = await c.get(path, headers=who.headers)
            want = 200 if name in readers else 401 if who.user is None else 403
            assert r.status_code == want, (name, path, r.status_code)

    # Department webhooks and spend: another department's buyer is refused.
    for path in (f"/api/departments/{w.dept_a}/webhooks", f"/api/departments/{w.dept_a}/spend"):
        r = await c.get(path, headers=h("buyer_b"))
        assert r.status_code == 403, (path, r.text)
    r = await c.delete(f"/api/departments/{w.dept_a}/webhooks/{w.webhook}", headers=h("buyer_b"))
    assert r.status_code == 403, r.text
    # Tokens: a vendor cannot mint one for somebody else.
    buyer_a = p["buyer_a"].user
    assert buyer_a is not None
    r = await c.post(f"/api/users/{buyer_a.id}/tokens", headers=h("vendor"))
    assert r.status_code == 404, r.text


async def test_conflicts_of_interest_are_refused(
    world: World, db: asyncpg.Connection, pool: Any, database_url: str
) -> None:
    w, c = world, world.client
    api = Api(c, world.people["admin"].user)  # type: ignore[arg-type]
    # A buyer of department A who is also a verified vendor cannot bid on A's auctions.
    both = await verified(api, await api.user("buyer", "vendor", department_id=w.dept_a))
    open_a = (await published_auction(api, w.people["buyer_a"].user))["id"]  # type: ignore[arg-type]
    r = await bid_as(w, both, open_a, 100_000)
    assert r.status_code == 403 and r.json()["code"] == "conflict_of_interest", r.text
    # Neither the winner nor a bidder may review the delivery.
    winner = await verified(api, await api.user("vendor", "reviewer"))
    loser = await verified(api, await api.user("vendor", "reviewer"))
    buyer_a = w.people["buyer_a"].user
    assert buyer_a is not None
    aid = await awarded_in_review(api, db, pool, buyer_a, winner, loser)
    for reviewer in (winner, loser):
        r = await c.post(
            f"/api/auctions/{aid}/review",
            json={"decision": "accept", "reason": "mine"},
            headers=reviewer.headers,
        )
        assert r.status_code == 403 and r.json()["code"] == "conflict_of_interest", r.text
    # A reviewer of another department cannot see or review it at all.
    r = await c.post(
        f"/api/auctions/{aid}/review",
        json={"decision": "accept", "reason": "x"},
        headers=w.people["reviewer_b"].headers,
    )
    assert r.status_code == 404, r.text
    assert await db.fetchval("SELECT count(*) FROM reviews WHERE auction_id = $1", aid) == 0


# ---- separation of duties: every pair of policy.CONFLICTS --------------------------------

Scene = Callable[[Api, asyncpg.Connection, Any], Awaitable[None]]
SCENES: dict[tuple[Decision, Relation], Scene] = {}


def scene(decision: Decision, relation: Relation) -> Callable[[Scene], Scene]:
    def register(play: Scene) -> Scene:
        SCENES[(decision, relation)] = play
        return play

    return register


def assert_conflict(r: Any, decision: Decision, relation: Relation) -> None:
    assert r.status_code == 403, r.text
    body = r.json()
    assert (body["code"], body["conflict"]) == ("conflict_of_interest", relation.value), body
    assert body["detail"] == policy.CONFLICTS[decision][relation]


async def _accepted_payment(api: Api, db: asyncpg.Connection, pool: Any) -> dict[str, Any]:
    s = await delivered_for_review(api, db, pool)
    reviewer = await api.user("reviewer")
    s["payment_id"] = (await accept(api, reviewer, s["auction_id"])).json()["payment_id"]
    return s


async def _dispute(api: Api, payment_id: int, who: User) -> None:
    r = await api.client.post(
        f"/api/payments/{payment_id}/dispute",
        json={"reason": "the print view broke"},
        headers=who.headers,
    )
    assert r.status_code == 201, r.text


async def _resolve(api: Api, payment_id: int, who: User) -> Any:
    return await api.client.post(
        f"/api/payments/{payment_id}/resolve",
        json={"outcome": "release", "reason": "fine after all"},
        headers=who.headers,
    )


async def _still_disputed(db: asyncpg.Connection, payment_id: int) -> None:
    row = await db.fetchrow(
        "SELECT p.status, d.status AS dispute FROM payments p JOIN disputes d"
        " ON d.payment_id = p.id WHERE p.id = $1",
        payment_id,
    )
    assert (row["status"], row["dispute"]) == ("pending", "open"), dict(row)


@scene(Decision.RESOLVE_DISPUTE, Relation.PAYEE)
async def _payee_with_central_finance_resolves(api: Api, db: asyncpg.Connection, pool: Any) -> None:
    """The finding: a vendor who also holds the central finance role released their own
    disputed payment."""
    s = await _accepted_payment(api, db, pool)
    await db.execute("UPDATE users SET roles = roles || '{finance}' WHERE id = $1", s["winner"].id)
    await _dispute(api, s["payment_id"], s["buyer"])
    assert_conflict(
        await _resolve(api, s["payment_id"], s["winner"]), Decision.RESOLVE_DISPUTE, Relation.PAYEE
    )
    await _still_disputed(db, s["payment_id"])
    # The payment's page, which asks the same policy, offers them no resolve form.
    await sign_in(api.client, s["winner"])
    page = await api.client.get(f"/payments/{s['payment_id']}")
    assert (
        page.status_code == 200 and f'action="/payments/{s["payment_id"]}/resolve"' not in page.text
    )
    finance = await api.user("finance")
    await sign_in(api.client, finance)
    page = await api.client.get(f"/payments/{s['payment_id']}")
    assert f'action="/payments/{s["payment_id"]}/resolve"' in page.text
    # An admin who is the payee is refused the same way.
    await db.execute("UPDATE users SET roles = roles || '{admin}' WHERE id = $1", s["winner"].id)
    assert_conflict(
        await _resolve(api, s["payment_id"], s["winner"]), Decision.RESOLVE_DISPUTE, Relation.PAYEE
    )
    await _still_disputed(db, s["payment_id"])


@scene(Decision.RESOLVE_DISPUTE, Relation.DISPUTE_OPENER)
async def _opener_with_finance_resolves(api: Api, db: asyncpg.Connection, pool: Any) -> None:
    """The finding: one user with buyer + finance opened a dispute and resolved it."""
    s = await _accepted_payment(api, db, pool)
    both = await api.user("buyer", "finance", department_id=s["dept"])
    await _dispute(api, s["payment_id"], both)
    assert_conflict(
        await _resolve(api, s["payment_id"], both),
        Decision.RESOLVE_DISPUTE,
        Relation.DISPUTE_OPENER,
    )
    await _still_disputed(db, s["payment_id"])
    # Someone else in finance decides it.
    finance = await api.user("finance", department_id=s["dept"])
    r = await _resolve(api, s["payment_id"], finance)
    assert r.status_code == 200 and r.json()["disputed"] is False, r.text


@scene(Decision.RECORD_EXECUTION, Relation.PAYEE)
async def _payee_with_finance_records_own_payout(
    api: Api, db: asyncpg.Connection, pool: Any
) -> None:
    s = await _accepted_payment(api, db, pool)
    await db.execute("UPDATE payments SET missing_details = false WHERE id = $1", s["payment_id"])
    assert await payments.release(pool, s["payment_id"], LedgerProvider()) == "released"
    await db.execute("UPDATE users SET roles = roles || '{finance}' WHERE id = $1", s["winner"].id)
    r = await api.client.post(
        f"/api/payments/{s['payment_id']}/executed",
        json={"reference": "TRX-SELF"},
        headers=s["winner"].headers,
    )
    assert_conflict(r, Decision.RECORD_EXECUTION, Relation.PAYEE)
    executed = await db.fetchval("SELECT executed_at FROM payments WHERE id = $1", s["payment_id"])
    assert executed is None


async def _review_refused(
    api: Api, db: asyncpg.Connection, s: dict[str, Any], who: User, relation: Relation
) -> None:
    assert_conflict(await accept(api, who, s["auction_id"]), Decision.REVIEW, relation)
    status = await db.fetchval("SELECT status FROM auctions WHERE id = $1", s["auction_id"])
    assert status == "pending_review"
    assert await db.fetchval("SELECT count(*) FROM reviews") == 0


@scene(Decision.REVIEW, Relation.WINNER)
async def _winner_reviews(api: Api, db: asyncpg.Connection, pool: Any) -> None:
    s = await delivered_for_review(api, db, pool)
    await db.execute("UPDATE users SET roles = roles || '{reviewer}' WHERE id = $1", s["winner"].id)
    await _review_refused(api, db, s, s["winner"], Relation.WINNER)


@scene(Decision.REVIEW, Relation.DEPARTMENT_BUYER)
async def _department_buyer_reviews(api: Api, db: asyncpg.Connection, pool: Any) -> None:
    s = await delivered_for_review(api, db, pool)
    both = await api.user("buyer", "reviewer", department_id=s["dept"])
    await _review_refused(api, db, s, both, Relation.DEPARTMENT_BUYER)


@scene(Decision.REVIEW, Relation.BIDDER)
async def _bidder_reviews(api: Api, db: asyncpg.Connection, pool: Any) -> None:
    s = await delivered_for_review(api, db, pool)
    await db.execute("UPDATE users SET roles = roles || '{reviewer}' WHERE id = $1", s["loser"].id)
    await _review_refused(api, db, s, s["loser"], Relation.BIDDER)


def test_every_conflict_has_a_scene() -> None:
    table = {(d, r) for d, relations in policy.CONFLICTS.items() for r in relations}
    assert table == set(SCENES), table ^ set(SCENES)


@pytest.mark.parametrize("pair", sorted(SCENES), ids=lambda p: f"{p[0]}-{p[1]}")
async def test_a_party_cannot_decide(
    pair: tuple[Decision, Relation], api: Api, db: asyncpg.Connection, pool: Any
) -> None:
    await SCENES[pair](api, db, pool)
