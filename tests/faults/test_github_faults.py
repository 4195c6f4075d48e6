"""GitHub failing under a real ``marketplace worker`` process (DESIGN §5): 502s, rate limits
(429 with Retry-After) and timeouts postpone a delivery's verification, never fail it, and
it completes once the fake GitHub recovers.

The worker's GitHub client is set to give up quickly inside one call (timeout 1 s, one
retry, rate-limit waits over 1 s not slept), so each fault reaches the verification job,
which arq retries later with backoff or GitHub's own Retry-After when that is longer.
"""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from marketplace.settings import Settings
from tests.fakes.github import FakeGitHub
from tests.github_scene import HEAD, errors, events, good_pull, records, setup, status
from tests.helpers import Api, eventually
from tests.processes import processes

RATE_LIMIT_WAIT = 8  # seconds; longer than the first retry's backoff (5 s)


def _worker_env(settings: Settings, fake: FakeGitHub) -> dict[str, str]:
    return {
        "MARKETPLACE_GITHUB_API_URL": fake.api_url,
        "MARKETPLACE_GITHUB_URL": fake.web_url,
        "MARKETPLACE_GITHUB_TOKEN": "worker-token",
        "MARKETPLACE_GITHUB_WEBHOOK_SECRET": settings.github_webhook_secret or "",
        "MARKETPLACE_GITHUB_TIMEOUT_SECONDS": "1",
        "MARKETPLACE_GITHUB_RETRIES": "1",
        "MARKETPLACE_GITHUB_MAX_WAIT_SECONDS": "1",
    }


async def _faults_then_recovery(
    api: Api,
    db: asyncpg.Connection,
    pool: Any,
    settings: Settings,
    fake: FakeGitHub,
    faults: list[tuple[str, dict[str, Any]]],
) -> None:
    s, delivery_id, awarded_at = await setup(api, db, pool, settings, fake)
    good_pull(fake, awarded_at)
    fake.add_check_run("city-of-x/permits", HEAD, "tests")
    for kind, options in faults:
        fake.set_fault(kind, **options)
    assert settings.database_url and settings.redis_url
    with processes(settings.database_url, settings.redis_url) as procs:
        procs.env.update(_worker_env(settings, fake))
        worker = procs.start("worker")
        try:

            async def verified() -> bool:
                assert worker.poll() is None, "the worker must not die of GitHub's faults"
                found = await records(db, delivery_id)
                # While GitHub fails no verdict is recorded (only why it could not be read)
                # and the delivery stays delivered.
                assert all(r["passed"] for r in found), found
                return bool(found)

            await eventually(verified, "verification once GitHub recovers", within=180)
        except BaseException:
            print(procs.logs())
            raise
    [record] = await records(db, delivery_id)
    assert record["passed"] is True
    assert await errors(db, delivery_id), "each fault that outlasted an attempt is on record"
    assert await status(db, s.auction_id) == "pending_review"
    assert await events(db, "delivery.verification_failed") == []
    left = [f for f in fake._faults if f.times > 0]
    assert not left, f"every fault was met: {left}"

    api_calls = fake.api_requests()
    answers = [r.status for r in api_calls]
    print(f"GitHub answers until verified ({api_calls[-1].at - api_calls[0].at:.0f} s): {answers}")
    for kind, status_code in (("502", 502), ("rate_limit", 429), ("rate_limit", 403)):
        if any(k == kind and o.get("status", 502) == status_code for k, o in faults):
            assert status_code in answers
    # The job came back no sooner than GitHub's Retry-After asked: after the 429 only the
    # requests of the same attempt (made together with it, or its in-call retries) come
    # before the wait is over.
    limited = [r.at for r in api_calls if r.status == 429]
    if limited:
        gaps = [r.at - limited[-1] for r in api_calls if r.at > limited[-1]]
        assert any(g >= RATE_LIMIT_WAIT - 0.5 for g in gaps), gaps
        assert not [g for g in gaps if 2.5 < g < RATE_LIMIT_WAIT - 0.5], gaps


async def test_verification_outlives_github_faults_on_a_real_worker(
    gh_api: Api, db: asyncpg.Connection, pool: Any, gh_settings: Settings, fake_github: FakeGitHub
) -> None:
    """A 429 with Retry-After (the job waits 8 s, not its 5 s backoff), then 502s that outlast
    the call's retry (backoff), then a timeout that the call's retry absorbs: verified."""
    await _faults_then_recovery(
        gh_api,
        db,
        pool,
        gh_settings,
        fake_github,
        [
            ("rate_limit", {"times": 1, "status": 429, "retry_after": RATE_LIMIT_WAIT}),
            ("502", {"times": 2}),
            ("timeout", {"times": 1, "delay": 3.0}),
        ],
    )


@pytest.mark.slow
async def test_verification_outlives_a_long_github_outage_on_a_real_worker(
    gh_api: Api, db: asyncpg.Connection, pool: Any, gh_settings: Settings, fake_github: FakeGitHub
) -> None:
    """Every kind of fault, each outlasting a whole attempt: 502s, a secondary rate limit
    (403 + Retry-After), timeouts, a primary rate limit (403, X-RateLimit-Reset only)."""
    await _faults_then_recovery(
        gh_api,
        db,
        pool,
        gh_settings,
        fake_github,
        [
            ("502", {"times": 2}),
            ("rate_limit", {"times": 1, "status": 403, "retry_after": 3}),
            ("timeout", {"times": 2, "delay": 3.0}),
            ("rate_limit", {"times": 1, "status": 403, "retry_after": None, "reset_in": 4}),
            ("502", {"times": 3}),
        ],
    )
