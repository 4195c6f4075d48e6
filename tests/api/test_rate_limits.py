"""Request limits (DESIGN §10): sign-up and sign-in per client address, bids per user, each
answering 429 with Retry-After; and what they do while Redis is unreachable."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
from litestar.testing import AsyncTestClient

from marketplace import ratelimit
from marketplace.app import create_app
from marketplace.errors import TooManyRequests
from marketplace.ratelimit import BatchedCounts
from marketplace.settings import Settings
from tests.fakes.github import FakeGitHub
from tests.helpers import Api, form_post, free_port, published_auction, sign_in

LIMIT = 3
TRIES = 2 * LIMIT + 1  # bids keep clock minutes: a refusal even if the minute turns mid-test


@pytest.fixture
async def strict(settings: Settings) -> AsyncIterator[tuple[AsyncTestClient[Any], Api]]:
    limited = msgspec.structs.replace(
        settings, bid_limit_per_minute=LIMIT, signup_limit_per_minute=LIMIT
    )
    assert limited.database_url and limited.redis_url
    app = create_app(limited, limited.database_url, limited.redis_url)
    async with AsyncTestClient(app=app) as client:
        yield client, await Api.start(client, limited.database_url)


def assert_limited(r: Any) -> None:
    assert r.status_code == 429, r.text
    if r.headers["content-type"].startswith("application/json"):
        assert r.json()["code"] == "rate_limited"
    else:  # a web page says it in words
        assert "too many requests" in r.text.lower()
    assert 0 < int(r.headers["retry-after"]) <= 60


async def test_bids_are_limited_per_user_with_retry_after(
    strict: tuple[AsyncTestClient[Any], Api], db: Any
) -> None:
    client, api = strict
    buyer = await api.buyer()
    eager, other = await api.verified_vendor(), await api.verified_vendor()
    aid = (await published_auction(api, buyer, price_cap_cents=1_000_000))["id"]
    answers = []
    for n in range(TRIES):
        r = await client.post(
            f"/api/auctions/{aid}/bids",
            json={"amount_cents": 900_000 - 1000 * n},
            headers=eager.headers,
        )
        answers.append(r)
    codes = [r.status_code for r in answers]
    assert codes[0] == 201 and 429 in codes, codes
    for r in answers:
        if r.status_code == 429:
            assert_limited(r)
    # A refused request stored nothing: one bid per 201 (the others were 409 low bidder).
    stored = await db.fetchval("SELECT count(*) FROM bids WHERE bidder_id = $1", eager.id)
    assert stored == codes.count(201)
    # The limit is the user's own: another vendor still bids.
    r = await client.post(
        f"/api/auctions/{aid}/bids", json={"amount_cents": 100_000}, headers=other.headers
    )
    assert r.status_code == 201, r.text


async def test_web_sign_in_is_limited_per_address(
    strict: tuple[AsyncTestClient[Any], Api],
) -> None:
    client, _ = strict
    answers = []
    for _ in range(TRIES):
        page = await client.get("/signin")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert csrf, page.text[:500]
        answers.append(
            await client.post("/signin", data={"token": "mp_guess", "csrf_token": csrf.group(1)})
        )
    codes = [r.status_code for r in answers]
    assert codes[0] == 401 and 429 in codes, codes
    assert_limited(next(r for r in answers if r.status_code == 429))


async def test_github_sign_in_is_limited_per_address(
    settings: Settings, fake_github: FakeGitHub
) -> None:
    limited = msgspec.structs.replace(
        settings,
        signup_limit_per_minute=LIMIT,
        secret_key="test-secret",
        github_url=fake_github.web_url,
        github_api_url=fake_github.api_url,
        github_client_id=fake_github.client_id,
        github_client_secret=fake_github.client_secret,
    )
    assert limited.database_url and limited.redis_url
    app = create_app(limited, limited.database_url, limited.redis_url)
    async with AsyncTestClient(app=app) as client:
        answers = [
            await client.get("/auth/github/login", follow_redirects=False) for _ in range(TRIES)
        ]
    codes = [r.status_code for r in answers]
    assert codes[0] == 302 and 429 in codes, codes
    assert_limited(next(r for r in answers if r.status_code == 429))


async def test_with_redis_unreachable_signup_is_503_and_bids_go_through(
    settings: Settings, api: Api
) -> None:
    """Limits on accounts and credentials cannot be checked: 503 with Retry-After, nothing
    created. Bids need no Redis: accepted (PostgreSQL decides), never a 500."""
    buyer = await api.buyer()
    vendor = await api.verified_vendor()
    aid = (await published_auction(api, buyer))["id"]
    assert settings.database_url
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    app = create_app(settings, settings.database_url, nowhere)
    async with AsyncTestClient(app=app) as client:
        r = await client.post("/api/signup", json={"email": "new@example.com", "name": "New"})
        assert r.status_code == 503, r.text
        assert r.json()["code"] == "rate_limit_unavailable"
        assert int(r.headers["retry-after"]) > 0
        r = await client.post(
            f"/api/auctions/{aid}/bids", json={"amount_cents": 300_000}, headers=vendor.headers
        )
        assert r.status_code == 201, r.text
        r = await client.get("/health/ready")
        assert r.status_code == 503 and r.json()["checks"]["redis"].startswith("down")
    users = await api.client.get("/api/users?limit=100", headers=api.admin.headers)
    assert "new@example.com" not in users.text


async def test_the_web_bid_form_counts_against_the_same_limit(
    strict: tuple[AsyncTestClient[Any], Api], db: Any
) -> None:
    client, api = strict
    buyer = await api.buyer()
    vendor = await api.verified_vendor()
    aid = (await published_auction(api, buyer, price_cap_cents=1_000_000))["id"]
    await sign_in(client, vendor)
    page = f"/auctions/{aid}"
    answers = [
        await form_post(client, page, f"{page}/bid", {"amount": f"{9000 - 10 * n}"})
        for n in range(TRIES)
    ]
    codes = [r.status_code for r in answers]
    assert codes[0] == 303 and 429 in codes, codes
    assert_limited(next(r for r in answers if r.status_code == 429))
    stored = await db.fetchval("SELECT count(*) FROM bids WHERE bidder_id = $1", vendor.id)
    assert stored == 1  # the rest were 409 (low bidder) or 429


async def _passed(counts: BatchedCounts, bucket: str, per_minute: int) -> bool:
    try:
        await counts.limit(bucket, per_minute)
    except TooManyRequests as refused:
        assert 0 < refused.extra["retry_after"] <= 60
        return False
    return True


async def test_batched_bid_counts_are_exact_in_one_process_and_bounded_across_two(
    redis: Any,
) -> None:
    """Counted mostly in batches: one process still lets exactly the limit through in a
    minute; two sharing Redis at most the limit plus each one's unsent share (limit // 20),
    and once a batch has gone both refuse."""
    per_minute = 100
    one = BatchedCounts(redis)
    passed = [await _passed(one, "bid:1", per_minute) for _ in range(per_minute + 30)]
    if passed.count(True) < per_minute:  # the minute turned over during the loop: again
        passed = [await _passed(one, "bid:1", per_minute) for _ in range(per_minute + 30)]
    assert passed.count(True) == per_minute and not any(passed[per_minute:]), passed

    a, b = BatchedCounts(redis), BatchedCounts(redis)
    tries = [await _passed(a if n % 2 else b, "bid:2", per_minute) for n in range(300)]
    if tries.count(True) < per_minute:
        tries = [await _passed(a if n % 2 else b, "bid:2", per_minute) for n in range(300)]
    assert per_minute <= tries.count(True) <= per_minute + 2 * (per_minute // 20), tries
    await a.flush()
    await b.flush()
    assert not await _passed(a, "bid:2", per_minute)
    assert not await _passed(b, "bid:2", per_minute)


async def _seed_window(redis: Any, key: str, seconds_ago: list[float]) -> None:
    """Requests let through ``seconds_ago`` by Redis's clock, as ``limit`` stores them."""
    seconds, micros = await redis.time()
    now = seconds * 1_000_000 + micros
    await redis.zadd(key, {f"seeded-{n}": now - s * 1e6 for n, s in enumerate(seconds_ago)})


async def test_the_limit_is_a_sliding_minute_whatever_the_clock_minute(redis: Any) -> None:
    """Three let through 59 s ago fill a limit of three until the first of them is a minute
    old (Retry-After 1 s), though the clock minute has turned since; requests older than a
    minute no longer count."""
    await _seed_window(redis, "mp:rate:signup:203.0.113.5", [59.2, 30, 10])
    with pytest.raises(TooManyRequests) as refused:
        await ratelimit.limit(redis, "signup:203.0.113.5", 3)
    assert refused.value.extra["retry_after"] == 1
    await _seed_window(redis, "mp:rate:signup:203.0.113.6", [61, 75, 30])
    await ratelimit.limit(redis, "signup:203.0.113.6", 3)  # one of three in the window
    await ratelimit.limit(redis, "signup:203.0.113.6", 3)
    with pytest.raises(TooManyRequests) as refused:
        await ratelimit.limit(redis, "signup:203.0.113.6", 3)
    assert 29 <= refused.value.extra["retry_after"] <= 31
    # Refused requests are not counted: the window still holds three, not four.
    assert await redis.zcard("mp:rate:signup:203.0.113.6") == 3
    # A Redis that lost its scripts (restarted) is sent it again: the limit still holds.
    await redis.script_flush()
    with pytest.raises(TooManyRequests):
        await ratelimit.limit(redis, "signup:203.0.113.6", 3)
    await ratelimit.limit(redis, "signup:203.0.113.7", 3)


async def test_batched_counts_send_what_is_left_and_forget_past_minutes(
    redis: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Counts held in the process reach Redis with the next request after the interval, even
    one over its limit's half; a new minute drops the last minute's buckets from memory."""
    now = [29_000_000 * 60.0 + 1]  # a second into a minute

    class Clock:
        @staticmethod
        def time() -> float:
            return now[0]

        @staticmethod
        def monotonic() -> float:
            return now[0]

    monkeypatch.setattr(ratelimit, "time", Clock)
    counts = BatchedCounts(redis)
    for user in range(5):
        for _ in range(3):  # the first goes to Redis, the next two are held here
            await counts.limit(f"bid:{user}", 1000)
    assert len(counts) == 5
    key = f"mp:rate:bid:0:{int(now[0] // 60)}"
    assert int(await redis.get(key)) == 1
    now[0] += 1  # past the flush interval: this request sends the held ones, then is held
    await counts.limit("bid:0", 1000)
    assert int(await redis.get(key)) == 3
    now[0] += 60  # the next minute: bid:1-4 are settled and forgotten; bid:0's last is sent
    await counts.limit("bid:9", 1000)
    assert int(await redis.get(key)) == 4
    assert len(counts) == 2  # bid:0 (forgotten at the next turn of the minute) and bid:9
