"""Verifying a delivered pull request against the fake GitHub (DESIGN §5): every rule,
outages, duplicated webhooks, the periodic re-check, and the path on to payment."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from arq import Retry

from marketplace import jobs
from marketplace.redis import ARQ_QUEUE, create_redis
from marketplace.settings import Settings
from tests.fakes.github import FakeGitHub
from tests.github_scene import (
    HEAD,
    REPO,
    REPO_ID,
    WEBHOOK_SECRET,
    WINNER_LOGIN,
    awarded,
    errors,
    events,
    good_pull,
    queued_job_ids,
    records,
    setup,
    status,
    submit,
)
from tests.helpers import Api
from workers.github import github_event_received
from workers.main import build_worker
from workers.verification import recheck_once, verify_delivery


def failed(record: Any) -> set[str]:
    return {c["name"] for c in record["checks"] if not c["passed"]}


async def run_worker(settings: Settings) -> Any:
    """Run an arq worker in burst mode until the queue is empty."""
    assert settings.database_url and settings.redis_url
    # A burst worker waits for deferred jobs too: drop the auction's open/close jobs (the
    # test closed it already), which are due an hour from now.
    redis = create_redis(settings.redis_url)
    try:
        stale = [j for j in await redis.zrange(ARQ_QUEUE, 0, -1) if j.startswith(b"auction:")]
        if stale:
            await redis.zrem(ARQ_QUEUE, *stale)
    finally:
        await redis.aclose()
    worker = build_worker(
        settings, settings.database_url, settings.redis_url, handle_signals=False, burst=True
    )
    try:
        await worker.main()
    finally:
        await worker.close()
    return worker


async def test_happy_path_to_payment(
    gh_api: Api, db: Any, pool: Any, gh_settings: Settings, fake_github: FakeGitHub
) -> None:
    s = await awarded(gh_api, db, pool, gh_settings, fake_github)
    awarded_at = await db.fetchval(
        "SELECT awarded_at FROM awards WHERE auction_id = $1", s.auction_id
    )
    good_pull(fake_github, awarded_at)
    fake_github.add_check_run(REPO, HEAD, "tests")
    fake_github.add_status(REPO, HEAD, "ci/lint")
    r = await submit(gh_api, s.winner, s.auction_id, s.pr_url(fake_github))
    assert r.status_code == 201, r.text

    worker = await run_worker(gh_settings)  # the job the submission enqueued
    assert worker.jobs_failed == 0
    assert await status(db, s.auction_id) == "pending_review"
    assert await db.fetchval(
        "SELECT verified_at IS NOT NULL FROM awards WHERE auction_id = $1", s.auction_id
    )
    assert await db.fetchval("SELECT repo_id FROM auctions WHERE id = $1", s.auction_id) == REPO_ID
    assert [e["delivery_id"] for e in await events(db, "delivery.verified")] == [r.json()["id"]]

    report = (
        await gh_api.client.get(
            f"/api/auctions/{s.auction_id}/verification", headers=s.winner.headers
        )
    ).json()
    assert report["auction_status"] == "pending_review"
    assert report["delivery"]["status"] == "verified" and report["delivery"]["head_sha"] == HEAD
    [record] = report["items"]
    assert record["passed"] is True and record["trigger"] == "submission"
    assert [c["name"] for c in record["checks"]] == [
        "repository",
        "pull_request_exists",
        "author",
        "merged",
        "target_branch",
        "merged_in_window",
        "merged_by_other",
        "checks_succeeded",
        "references_issue",
    ]
    assert all(c["passed"] for c in record["checks"])
    by_name = {c["name"]: c for c in record["checks"]}
    assert by_name["author"]["evidence"]["author_id"] == 501
    assert by_name["repository"]["evidence"]["pr_base_repo_id"] == REPO_ID
    assert len(by_name["checks_succeeded"]["evidence"]["results"]) == 2
    assert by_name["merged"]["evidence"]["merge_commit_sha"]

    reviewer = await gh_api.user("reviewer")
    queue = (await gh_api.client.get("/api/reviews", headers=reviewer.headers)).json()["items"]
    assert [q["auction_id"] for q in queue] == [s.auction_id]
    r = await gh_api.client.post(
        f"/api/auctions/{s.auction_id}/review",
        json={"decision": "accept", "reason": "works in Safari 17"},
        headers=reviewer.headers,
    )
    assert r.status_code == 200, r.text
    payment_id = r.json()["payment_id"]
    await run_worker(gh_settings)  # the release job
    assert await status(db, s.auction_id) == "paid"
    assert await db.fetchval("SELECT status FROM payments WHERE id = $1", payment_id) == (
        "released"
    )


SCENARIOS: dict[str, tuple[Callable[[FakeGitHub, dt.datetime, dt.datetime], None], set[str]]] = {
    "wrong author": (
        lambda f, at, due: (f.add_user("eve", id=666), good_pull(f, at, author="eve"))[-1],
        {"author"},
    ),
    "not merged": (
        lambda f, at, due: good_pull(f, at, merged_at=None, merged_by=None),
        {"merged", "merged_in_window", "merged_by_other"},
    ),
    "merged by its author": (
        lambda f, at, due: good_pull(f, at, merged_by=WINNER_LOGIN),
        {"merged_by_other"},
    ),
    "merged after the deadline": (
        lambda f, at, due: good_pull(f, at, merged_at=due + dt.timedelta(minutes=1)),
        {"merged_in_window"},
    ),
    "merged before the award": (
        lambda f, at, due: good_pull(f, at, merged_at=at - dt.timedelta(days=1)),
        {"merged_in_window"},
    ),
    "a failing check": (
        lambda f, at, due: (
            good_pull(f, at),
            f.add_check_run(REPO, HEAD, "lint", conclusion="failure"),
        )[0],
        {"checks_succeeded"},
    ),
    "a pending status": (
        lambda f, at, due: (good_pull(f, at), f.add_status(REPO, HEAD, "ci/e2e", state="pending"))[
            0
        ],
        {"checks_succeeded"},
    ),
    "no checks at all": (lambda f, at, due: good_pull(f, at), {"checks_succeeded"}),
    "wrong base branch": (
        lambda f, at, due: good_pull(f, at, base="develop"),
        {"target_branch"},
    ),
    "no issue reference": (
        lambda f, at, due: good_pull(f, at, body="Closes #123, see #1"),
        {"references_issue"},
    ),
    "no such pull request": (lambda f, at, due: None, {"pull_request_exists", "repository"}),
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
async def test_each_rule_fails_on_its_own(
    scenario: str,
    gh_api: Api,
    db: Any,
    pool: Any,
    gh_settings: Settings,
    fake_github: FakeGitHub,
    ctx: dict[str, Any],
) -> None:
    s, delivery_id, awarded_at = await setup(gh_api, db, pool, gh_settings, fake_github)
    due = await db.fetchval(
        "SELECT delivery_due_at FROM awards WHERE auction_id = $1", s.auction_id
    )
    make, expected = SCENARIOS[scenario]
    make(fake_github, awarded_at, due)
    if scenario not in ("no checks at all", "no such pull request"):
        fake_github.add_check_run(REPO, HEAD, "tests")
    assert await verify_delivery(ctx, delivery_id, "submission") == "failed"
    [record] = await records(db, delivery_id)
    assert record["passed"] is False and failed(record) == expected
    assert await status(db, s.auction_id) == "delivered"
    [event] = await events(db, "delivery.verification_failed")
    assert set(event["failed_checks"]) == expected and event["reasons"]
    # the same state seen again (re-check, duplicate webhook) stores nothing new
    assert await verify_delivery(ctx, delivery_id, "recheck") == "unchanged"
    assert len(await records(db, delivery_id)) == 1
    # the reasons are visible to the winner
    report = (
        await gh_api.client.get(
            f"/api/auctions/{s.auction_id}/verification", headers=s.winner.headers
        )
    ).json()
    assert {c["name"] for c in report["items"][0]["checks"] if not c["passed"]} == expected


async def test_repo_matched_by_id_rename_passes_same_name_other_repo_fails(
    gh_api: Api,
    db: Any,
    pool: Any,
    gh_settings: Settings,
    fake_github: FakeGitHub,
    ctx: dict[str, Any],
) -> None:
    s, delivery_id, awarded_at = await setup(gh_api, db, pool, gh_settings, fake_github)
    good_pull(fake_github, awarded_at, merged_at=None, merged_by=None)
    assert await verify_delivery(ctx, delivery_id) == "failed"  # not merged yet
    assert await db.fetchval("SELECT repo_id FROM auctions WHERE id = $1", s.auction_id) == REPO_ID

    # The repo moves to a new name and an impostor takes the old one, with a perfect PR #7:
    # the auction's repository (by id) is read under its new name, whose PR #7 is unmerged.
    fake_github.rename_repo(REPO, "city-of-x/permits-archive")
    fake_github.add_repo(REPO, id=9999)
    fake_github.add_issue(REPO, 12)
    good_pull(fake_github, awarded_at)
    fake_github.add_check_run(REPO, HEAD, "tests")
    assert await verify_delivery(ctx, delivery_id, "recheck") == "failed"
    latest = (await records(db, delivery_id))[-1]
    assert failed(latest) == {"merged", "merged_in_window", "merged_by_other", "checks_succeeded"}
    assert await status(db, s.auction_id) == "delivered"

    # The impostor goes away (GitHub now redirects the old name to it); the renamed original
    # now has the merged PR: it still matches.
    fake_github.rename_repo(REPO, "someone-else/permits")
    fake_github.update_pull(
        "city-of-x/permits-archive", 7, merged_at=awarded_at + dt.timedelta(hours=2)
    )
    fake_github.update_pull("city-of-x/permits-archive", 7, merged_by="bob")
    fake_github.add_check_run("city-of-x/permits-archive", HEAD, "tests")
    assert await verify_delivery(ctx, delivery_id, "recheck") == "verified"
    assert await status(db, s.auction_id) == "pending_review"


async def test_a_repository_renamed_before_its_first_check_passes_through_githubs_redirect(
    gh_api: Api,
    db: Any,
    pool: Any,
    gh_settings: Settings,
    fake_github: FakeGitHub,
    ctx: dict[str, Any],
) -> None:
    """The auction and the PR URL name the old repository; GitHub redirects the old name
    (301 to /repositories/{id}), so the first verification finds repository and PR."""
    s, delivery_id, awarded_at = await setup(gh_api, db, pool, gh_settings, fake_github)
    good_pull(fake_github, awarded_at)
    fake_github.add_check_run(REPO, HEAD, "tests")
    assert await db.fetchval("SELECT repo_id FROM auctions WHERE id = $1", s.auction_id) is None
    fake_github.rename_repo(REPO, "city-of-x/permits-archive")
    assert await verify_delivery(ctx, delivery_id) == "verified"
    assert await status(db, s.auction_id) == "pending_review"
    assert await db.fetchval("SELECT repo_id FROM auctions WHERE id = $1", s.auction_id) == REPO_ID
    assert 301 in {r.status for r in fake_github.api_requests(f"/repos/{REPO}/")}


@pytest.mark.parametrize("fault", ["502", "rate_limit"])
async def test_github_outage_retries_and_never_fails_the_delivery(
    fault: str,
    gh_api: Api,
    db: Any,
    pool: Any,
    gh_settings: Settings,
    fake_github: FakeGitHub,
    ctx: dict[str, Any],
) -> None:
    s, delivery_id, awarded_at = await setup(gh_api, db, pool, gh_settings, fake_github)
    good_pull(fake_github, awarded_at)
    fake_github.add_check_run(REPO, HEAD, "tests")
    times = 2 if fault == "502" else 1
    # An attempt reads the repository and the pull request at once: both meet the 502s.
    fake_github.set_fault(fault, times=2 * times if fault == "502" else times, retry_after=90)
    for attempt in range(1, times + 1):
        with pytest.raises(Retry) as raised:
            await verify_delivery({**ctx, "job_try": attempt}, delivery_id)
        # later tries wait longer (exponential backoff)
        assert raised.value.defer_score is not None
        assert raised.value.defer_score >= 5_000 * attempt
        if fault == "rate_limit":  # GitHub's Retry-After, longer than the backoff, is kept
            assert raised.value.defer_score >= 90_000
        assert await records(db, delivery_id) == []
        assert await status(db, s.auction_id) == "delivered"
        assert await events(db, "delivery.verification_failed") == []
    # Each attempt left why it could not read GitHub (once per reason in a row).
    found = await errors(db, delivery_id)
    assert found and all(("502" in e) if fault == "502" else ("rate limit" in e) for e in found)
    assert await verify_delivery({**ctx, "job_try": times + 1}, delivery_id) == "verified"
    [record] = await records(db, delivery_id)
    assert record["passed"] is True
    assert await status(db, s.auction_id) == "pending_review"


def signed(payload: dict[str, Any], event: str) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload).encode()
    mac = hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return body, {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": "sha256=" + mac,
        "Content-Type": "application/json",
    }


async def test_five_duplicate_webhooks_one_transition(
    gh_api: Api,
    db: Any,
    pool: Any,
    gh_settings: Settings,
    fake_github: FakeGitHub,
    ctx: dict[str, Any],
    redis: Any,
) -> None:
    s, delivery_id, awarded_at = await setup(gh_api, db, pool, gh_settings, fake_github)
    good_pull(fake_github, awarded_at, merged_at=None, merged_by=None)
    fake_github.add_check_run(REPO, HEAD, "tests")
    await run_worker(gh_settings)  # the submission's attempt: not merged yet
    assert [r["passed"] for r in await records(db, delivery_id)] == [False]

    fake_github.update_pull(REPO, 7, merged_at=awarded_at + dt.timedelta(hours=1))
    fake_github.update_pull(REPO, 7, merged_by="bob")
    payload = {
        "action": "closed",
        "number": 7,
        "pull_request": {"number": 7, "merged": True, "head": {"sha": HEAD}},
        "repository": {"id": REPO_ID, "full_name": REPO},
    }
    await redis.flushdb()
    for _ in range(5):  # GitHub redelivers the same event under new delivery ids
        body, headers = signed(payload, "pull_request")
        r = await gh_api.client.post("/api/github/webhook", content=body, headers=headers)
        assert r.status_code == 202, r.text
        concerns = await github_event_received(ctx, headers["X-GitHub-Delivery"])
        assert concerns is not None and concerns["verifications"] == [delivery_id]
    # the five triggers share one job id: one verification job is queued
    assert [j for j in await queued_job_ids(redis) if j.startswith("verify:")] == [
        f"verify:{delivery_id}:1"
    ]
    worker = await run_worker(gh_settings)  # runs it, and the five webhook jobs again
    assert worker.jobs_failed == 0
    assert await status(db, s.auction_id) == "pending_review"
    assert [r["passed"] for r in await records(db, delivery_id)] == [False, True]
    assert (await records(db, delivery_id))[-1]["trigger"] == "webhook:pull_request"
    assert len(await events(db, "delivery.verified")) == 1

    # more webhooks after the transition change nothing
    body, headers = signed(payload, "pull_request")
    await gh_api.client.post("/api/github/webhook", content=body, headers=headers)
    await run_worker(gh_settings)
    assert len(await records(db, delivery_id)) == 2
    assert len(await events(db, "delivery.verified")) == 1
    assert await verify_delivery(ctx, delivery_id) == "skipped"


async def test_one_worker_revalidates_with_etags_across_its_jobs(
    gh_api: Api,
    db: Any,
    pool: Any,
    gh_settings: Settings,
    fake_github: FakeGitHub,
    redis: Any,
) -> None:
    """Every job of a worker shares its GitHub client: a later attempt on an unchanged pull
    request asks with If-None-Match, is answered 304 (free of the rate limit) and stores
    nothing. (arq hands each job a copy of the worker's context, so a client made inside a
    job served that job only and each attempt fetched everything afresh.)"""
    _, delivery_id, awarded_at = await setup(gh_api, db, pool, gh_settings, fake_github)
    good_pull(fake_github, awarded_at, merged_at=None, merged_by=None)
    fake_github.add_check_run(REPO, HEAD, "tests")
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
    await jobs.schedule_verification(redis, delivery_id, 1, "recheck", at=later)
    worker = await run_worker(gh_settings)  # the submission's attempt, then the re-check
    assert worker.jobs_complete == 2 and worker.jobs_failed == 0
    assert [r["trigger"] for r in await records(db, delivery_id)] == ["submission"]
    pulls = fake_github.api_requests(f"/repos/{REPO}/pulls/7")
    assert [r.status for r in pulls] == [200, 304]
    assert pulls[1].headers.get("if-none-match", "").startswith('W/"')


async def test_status_webhook_matched_by_head_sha(
    gh_api: Api,
    db: Any,
    pool: Any,
    gh_settings: Settings,
    fake_github: FakeGitHub,
    ctx: dict[str, Any],
    redis: Any,
) -> None:
    _, delivery_id, awarded_at = await setup(gh_api, db, pool, gh_settings, fake_github)
    good_pull(fake_github, awarded_at)
    fake_github.add_check_run(REPO, HEAD, "tests", status="in_progress")
    assert await verify_delivery(ctx, delivery_id) == "failed"
    await redis.flushdb()
    body, headers = signed(
        {"sha": HEAD, "state": "success", "repository": {"id": REPO_ID, "full_name": REPO}},
        "status",
    )
    r = await gh_api.client.post("/api/github/webhook", content=body, headers=headers)
    assert r.status_code == 202
    concerns = await github_event_received(ctx, headers["X-GitHub-Delivery"])
    assert concerns is not None and concerns["verifications"] == [delivery_id]
    assert f"verify:{delivery_id}:1" in await queued_job_ids(redis)
    other_sha, other_headers = signed({"sha": "f" * 40, "repository": {"id": 1}}, "status")
    await gh_api.client.post("/api/github/webhook", content=other_sha, headers=other_headers)
    concerns = await github_event_received(ctx, other_headers["X-GitHub-Delivery"])
    assert concerns is not None and concerns["verifications"] == []


async def test_recheck_enqueues_waiting_deliveries_and_stranded_webhooks(
    gh_api: Api,
    db: Any,
    pool: Any,
    gh_settings: Settings,
    fake_github: FakeGitHub,
    ctx: dict[str, Any],
    redis: Any,
) -> None:
    s, delivery_id, awarded_at = await setup(gh_api, db, pool, gh_settings, fake_github)
    good_pull(fake_github, awarded_at, merged_at=None, merged_by=None)
    assert await verify_delivery(ctx, delivery_id) == "failed"
    # A webhook stored while Redis was down: its job never reached the queue.
    await db.execute(
        """INSERT INTO github_events (delivery_id, event, repo_id, pr_number, payload,
                                          received_at)
           VALUES ('lost-1', 'pull_request', $1, 7, '{}', now() - interval '1 hour')""",
        REPO_ID,
    )
    await redis.flushdb()
    assert await recheck_once(ctx) == 1
    assert await queued_job_ids(redis) == ["gh-delivery:lost-1", f"verify:{delivery_id}:1"]
    assert await db.fetchval(
        "SELECT enqueued_at IS NOT NULL FROM github_events WHERE delivery_id = 'lost-1'"
    )
    # The missed merge is found by the re-check's job.
    fake_github.update_pull(REPO, 7, merged_at=awarded_at + dt.timedelta(hours=1))
    fake_github.update_pull(REPO, 7, merged_by="bob")
    fake_github.add_check_run(REPO, HEAD, "tests")
    await run_worker(gh_settings)
    assert await status(db, s.auction_id) == "pending_review"
    assert (await records(db, delivery_id))[-1]["trigger"] == "recheck"
    await redis.flushdb()
    assert await recheck_once(ctx) == 0
