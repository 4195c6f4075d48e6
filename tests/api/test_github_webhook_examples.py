"""octokit's real webhook payloads of every event the product takes, fed to the receiver as
GitHub sends them (signed, as JSON and form-encoded): each is stored once and enqueues what
its kind should (tests/github_schema/webhook_examples.json)."""

from __future__ import annotations

import hashlib
import hmac
import json
import pathlib
import urllib.parse
import uuid
from typing import Any

import msgspec
import pytest
from litestar.testing import AsyncTestClient

from marketplace.github.webhook import event_job_id
from marketplace.redis import ARQ_QUEUE
from marketplace.settings import Settings
from workers.github import github_event_received

SECRET = "webhook-secret-for-the-examples"
EXAMPLES = json.loads(
    (pathlib.Path(__file__).parents[1] / "github_schema" / "webhook_examples.json").read_text()
)["examples"]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The receiver's secret: conftest's ``client`` is built from these settings."""
    return msgspec.structs.replace(settings, github_webhook_secret=SECRET)


def sent(event: str, payload: Any, form: bool) -> tuple[bytes, dict[str, str]]:
    """The body and headers GitHub sends for a webhook of either content type."""
    body = json.dumps(payload).encode()
    content_type = "application/json"
    if form:
        body = urllib.parse.urlencode({"payload": body.decode()}).encode()
        content_type = "application/x-www-form-urlencoded"
    mac = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return body, {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-GitHub-Hook-ID": "1",
        "X-Hub-Signature-256": "sha256=" + mac,
        "Content-Type": content_type,
        "User-Agent": "GitHub-Hookshot/044aadd",
    }


def expected_index(event: str, payload: dict[str, Any]) -> tuple[Any, ...]:
    """(repo id, PR number, head SHA) as GitHub's documentation places them per event."""
    repo_id = payload.get("repository", {}).get("id")
    if event == "pull_request":
        return repo_id, payload["number"], payload["pull_request"]["head"]["sha"]
    if event in ("check_run", "check_suite"):
        pulls = payload[event]["pull_requests"]
        return repo_id, pulls[0]["number"] if pulls else None, payload[event]["head_sha"]
    if event == "status":
        return repo_id, None, payload["sha"]
    return repo_id, None, None


def test_the_vendored_examples_cover_every_event() -> None:
    counts = {e: sum(x["event"] == e for x in EXAMPLES) for e in {x["event"] for x in EXAMPLES}}
    assert counts == {
        "pull_request": 29,
        "check_run": 9,
        "check_suite": 9,
        "status": 4,
        "ping": 4,
    }


@pytest.mark.parametrize("form", [False, True], ids=["json", "form"])
async def test_every_example_is_taken_stored_once_and_enqueued_by_its_kind(
    form: bool, client: AsyncTestClient[Any], db: Any, redis: Any, pool: Any
) -> None:
    for n, example in enumerate(EXAMPLES):
        event, payload = example["event"], example["payload"]
        body, headers = sent(event, payload, form)
        delivery = headers["X-GitHub-Delivery"]
        for _ in range(2):  # GitHub's redelivery of the same delivery changes nothing
            r = await client.post("/api/github/webhook", content=body, headers=headers)
            assert r.status_code == 202, (n, event, r.text)
            assert r.json()["event"] == event and not r.json().get("ignored"), (n, event)
        row = await db.fetchrow(
            """SELECT event, repo_id, pr_number, head_sha, enqueued_at
               FROM github_events WHERE delivery_id = $1""",
            delivery,
        )
        assert row is not None, (n, event)
        index = (row["repo_id"], row["pr_number"], row["head_sha"])
        assert index == expected_index(event, payload), (n, event)
        queued = {m.decode() for m in await redis.zrange(ARQ_QUEUE, 0, -1)}
        assert (event_job_id(delivery) in queued) == (event != "ping"), (n, event)
        assert (row["enqueued_at"] is not None) == (event != "ping"), (n, event)
        concerns = await github_event_received({"pool": pool}, delivery)
        assert concerns is not None and concerns["event"] == event
        assert concerns["verifications"] == []  # no auction awaits any of these
    assert await db.fetchval("SELECT count(*) FROM github_events") == len(EXAMPLES)
