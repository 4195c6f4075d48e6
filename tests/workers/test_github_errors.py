"""GitHub answers the product did not expect (issue 25, findings 1-4): each is either a
verdict or an error attempt a person can act on, never a silent crash loop; webhooks
GitHub redelivers late, or sends form-encoded, are taken."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import urllib.parse
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from arq import Retry

from marketplace.github.client import GithubClient
from marketplace.redis import ARQ_QUEUE
from marketplace.settings import Settings
from marketplace.transparency import prom
from tests.fakes.github import FakeGitHub
from tests.github_scene import REPO, WEBHOOK_SECRET, WINNER_LOGIN, awarded, submit
from tests.helpers import Api, sign_in
from workers.deadlines import sweep_deadlines_once
from workers.verification import recheck_once, verify_delivery

HEAD = "d" * 40


@pytest.fixture
async def ctx(
    pool: Any, gh_settings: Settings, fake_github: FakeGitHub, redis: Any
) -> AsyncIterator[dict[str, Any]]:
    client = GithubClient(fake_github.api_url, "worker-token", timeout=2, retries=0)
    yield {"pool": pool, "settings": gh_settings, "redis_client": redis, "github": client}
    client.close()


async def delivered(api: Api, db: Any, pool: Any, settings: Settings, fake: FakeGitHub) -> Any:
    s = await awarded(api, db, pool, settings, fake)
    awarded_at = await db.fetchval(
        "SELECT awarded_at FROM awards WHERE auction_id = $1", s.auction_id
    )
    fake.add_pull(
        REPO,
        7,
        author=WINNER_LOGIN,
        body="Fixes #12",
        head_sha=HEAD,
        merged_at=awarded_at + dt.timedelta(hours=1),
        merged_by="bob",
    )
    r = await submit(api, s.winner, s.auction_id, s.pr_url(fake))
    assert r.status_code == 201, r.text
    return s, r.json()["id"]


async def test_an_unexpected_answer_is_an_error_attempt_retried_and_counted(
    gh_api: Api,
    db: Any,
    pool: Any,
    gh_settings: Settings,
    fake_github: FakeGitHub,
    ctx: dict[str, Any],
) -> None:
    s, delivery_id = await delivered(gh_api, db, pool, gh_settings, fake_github)
    status = fake_github.add_status(REPO, HEAD, "ci/lint", state="failure")
    del status["id"]  # a combined-status item lacking a field we read
    for attempt in (1, 2):
        with pytest.raises(Retry) as raised:
            await verify_delivery({**ctx, "job_try": attempt}, delivery_id)
        assert raised.value.defer_score is not None and raised.value.defer_score >= 5_000
    report = (
        await gh_api.client.get(
            f"/api/auctions/{s.auction_id}/verification", headers=s.winner.headers
        )
    ).json()
    [record] = report["items"]  # the same reason twice is one record
    assert record["outcome"] == "error" and record["passed"] is False
    assert "unexpected" in record["error"] and "status" in record["error"]
    assert report["auction_status"] == "delivered"
    assert (
        await db.fetchval("SELECT count(*) FROM outbox WHERE type = 'delivery.verification_failed'")
        == 0
    )
    # The winner's delivery page says it in plain words, and that nothing was decided.
    await sign_in(gh_api.client, s.winner)
    page = (await gh_api.client.get(f"/auctions/{s.auction_id}/delivery")).text
    assert "Could not check" in page and "GitHub could not be read, so nothing was decided" in page
    assert "Waiting: GitHub could not be read" in page and "rules failed" not in page
    metrics = await prom.scrape(pool, ctx["redis_client"], 0)  # what /metrics answers
    assert "marketplace_verification_errors_total 1" in metrics

    status["id"] = 77  # GitHub answers as documented again
    assert (
        await verify_delivery({**ctx, "job_try": 3}, delivery_id) == "failed"
    )  # a failing status: a verdict
    report = (
        await gh_api.client.get(
            f"/api/auctions/{s.auction_id}/verification", headers=s.buyer.headers
        )
    ).json()
    assert [r["outcome"] for r in report["items"]] == ["failed", "error"]


async def test_unknown_head_commit_422_is_a_verdict_not_a_retry(
    gh_api: Api,
    db: Any,
    pool: Any,
    gh_settings: Settings,
    fake_github: FakeGitHub,
    ctx: dict[str, Any],
) -> None:
    _, delivery_id = await delivered(gh_api, db, pool, gh_settings, fake_github)
    fake_github.forget_commit(REPO, HEAD)  # force-pushed away
    assert await verify_delivery({**ctx, "job_try": 1}, delivery_id) == "failed"
    [row] = await db.fetch(
        "SELECT passed, error, checks FROM verifications WHERE delivery_id = $1", delivery_id
    )
    assert row["error"] is None and row["passed"] is False
    checks = {c["name"]: c for c in json.loads(row["checks"])}
    assert checks["checks_succeeded"]["passed"] is False


async def test_an_error_attempt_after_the_deadline_does_not_decide_a_missed_delivery(
    gh_api: Api,
    db: Any,
    pool: Any,
    gh_settings: Settings,
    fake_github: FakeGitHub,
    ctx: dict[str, Any],
) -> None:
    """Missed delivery waits for GitHub to be read after the deadline: an attempt that could
    not read it (an error record) is no such reading."""
    s, delivery_id = await delivered(gh_api, db, pool, gh_settings, fake_github)
    await db.execute(
        "UPDATE awards SET delivery_due_at = now() - interval '1 second' WHERE auction_id = $1",
        s.auction_id,
    )
    del fake_github.add_status(REPO, HEAD, "ci/lint")["id"]  # GitHub unreadable to us
    with pytest.raises(Retry):
        await verify_delivery({**ctx, "job_try": 1}, delivery_id)
    assert await sweep_deadlines_once(ctx) == 0
    status = await db.fetchval("SELECT status FROM auctions WHERE id = $1", s.auction_id)
    assert status == "delivered"


async def test_a_recheck_during_an_error_attempts_retries_starts_no_second_job(
    gh_api: Api,
    db: Any,
    pool: Any,
    gh_settings: Settings,
    fake_github: FakeGitHub,
    ctx: dict[str, Any],
    redis: Any,
) -> None:
    """An error record is not a new state of the delivery: triggers arriving while its job
    waits for a retry share that job's id, as they do before any record."""
    _, delivery_id = await delivered(gh_api, db, pool, gh_settings, fake_github)
    del fake_github.add_status(REPO, HEAD, "ci/lint")["id"]
    with pytest.raises(Retry):
        await verify_delivery({**ctx, "job_try": 1}, delivery_id)
    await recheck_once(ctx)
    queued = [j.decode() for j in await redis.zrange(ARQ_QUEUE, 0, -1)]
    assert [j for j in queued if j.startswith(f"verify:{delivery_id}:")] == [
        f"verify:{delivery_id}:0"
    ]


def _signed(body: bytes, event: str, delivery: str, content_type: str) -> dict[str, str]:
    mac = hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": "sha256=" + mac,
        "Content-Type": content_type,
    }


OLD_PULL = {
    "action": "closed",
    "number": 7,
    "pull_request": {"number": 7, "head": {"sha": HEAD}, "updated_at": "2020-01-01T00:00:00Z"},
    "repository": {"id": 4242, "full_name": REPO},
}


async def test_a_redelivery_days_later_is_taken_once(gh_api: Api, db: Any) -> None:
    body = json.dumps(OLD_PULL).encode()
    delivery = str(uuid.uuid4())
    for _ in range(2):
        r = await gh_api.client.post(
            "/api/github/webhook",
            content=body,
            headers=_signed(body, "pull_request", delivery, "application/json"),
        )
        assert r.status_code == 202, r.text
    assert await db.fetchval("SELECT count(*) FROM github_events") == 1


async def test_form_encoded_deliveries_and_ping_are_taken(gh_api: Api, db: Any) -> None:
    body = urllib.parse.urlencode({"payload": json.dumps(OLD_PULL)}).encode()
    delivery = str(uuid.uuid4())
    r = await gh_api.client.post(
        "/api/github/webhook",
        content=body,
        headers=_signed(body, "pull_request", delivery, "application/x-www-form-urlencoded"),
    )
    assert r.status_code == 202, r.text
    row = await db.fetchrow(
        "SELECT pr_number, head_sha FROM github_events WHERE delivery_id = $1", delivery
    )
    assert (row["pr_number"], row["head_sha"]) == (7, HEAD)
    ping = urllib.parse.urlencode(
        {"payload": json.dumps({"zen": "Keep it logically awesome.", "hook_id": 1})}
    ).encode()
    r = await gh_api.client.post(
        "/api/github/webhook",
        content=ping,
        headers=_signed(ping, "ping", str(uuid.uuid4()), "application/x-www-form-urlencoded"),
    )
    assert r.status_code == 202 and r.json()["event"] == "ping", r.text
    bad = b"payload=%7Bnot-json"
    r = await gh_api.client.post(
        "/api/github/webhook",
        content=bad,
        headers=_signed(
            bad, "pull_request", str(uuid.uuid4()), "application/x-www-form-urlencoded"
        ),
    )
    assert r.status_code == 400, r.text


async def test_a_rate_limit_counting_down_is_one_error_record(
    gh_api: Api,
    db: Any,
    pool: Any,
    gh_settings: Settings,
    fake_github: FakeGitHub,
    ctx: dict[str, Any],
) -> None:
    """GitHub's Retry-After shrinks from one retry to the next; the reason stays the same."""
    _, delivery_id = await delivered(gh_api, db, pool, gh_settings, fake_github)
    client = GithubClient(fake_github.api_url, "worker-token", timeout=2, retries=1)
    client_ctx = {**ctx, "github": client}
    try:
        for attempt, wait in ((1, 120), (2, 90)):
            fake_github.clear_faults()
            fake_github.set_fault("rate_limit", times=10, retry_after=wait)
            with pytest.raises(Retry) as raised:
                await verify_delivery({**client_ctx, "job_try": attempt}, delivery_id)
            assert raised.value.defer_score is not None and raised.value.defer_score >= wait * 1000
    finally:
        client.close()
    [reason] = await db.fetch("SELECT error FROM verifications WHERE delivery_id = $1", delivery_id)
    assert "rate limit" in reason["error"]
