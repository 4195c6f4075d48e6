"""GitHub webhook deliveries: verified, stored once, then handed to a worker.

Deliveries are triggers only: the worker re-fetches from GitHub instead of trusting the
payload (DESIGN §5). Accepted events are stored in ``github_events``; any other event
is answered 202 and dropped (``ignored``). ``ping`` is stored but enqueues nothing.

Refused with 401, nothing stored: no signature, or a wrong one (forged or altered).
Deliveries are deduplicated by ``X-GitHub-Delivery`` only: GitHub's redeliveries resend the
original payload under the original id, however late, and are taken (a replay under a
stored id is answered 202 and changes nothing). An old trigger is harmless, since the
worker re-fetches everything from GitHub. JSON and form-encoded (``payload=<json>``) bodies
are both accepted.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import urllib.parse
from typing import Any

import msgspec
from arq.connections import ArqRedis

from marketplace import jobs
from marketplace.bodies import decode_any
from marketplace.db import Pool
from marketplace.errors import BadRequest, ServiceUnavailable, Unauthorized
from marketplace.github import queries
from marketplace.settings import Settings
from marketplace.structs import Response

log = logging.getLogger(__name__)

ACCEPTED_EVENTS = frozenset(
    {
        "pull_request",
        "check_run",
        "check_suite",
        "status",
        "ping",
        # GitHub App mode: the App gained or lost repositories (marketplace/github/access.py).
        "installation",
        "installation_repositories",
    }
)


def event_job_id(delivery_id: str) -> str:
    """The job of one GitHub event, by its X-GitHub-Delivery: a redelivery queues nothing new."""
    return f"gh-delivery:{delivery_id}"


class WebhookReceived(Response, frozen=True, kw_only=True):
    delivery_id: str
    event: str
    stored: bool
    ignored: bool = False


class DeliverySummary(msgspec.Struct, frozen=True, kw_only=True):
    """What a delivery concerns, read from its payload to index it (never to decide)."""

    action: str | None = None
    repo_id: int | None = None
    repo_full_name: str | None = None
    pr_number: int | None = None
    head_sha: str | None = None


def verify_signature(secret: str | None, body: bytes, header: str | None) -> None:
    """Refuse unless ``X-Hub-Signature-256`` is HMAC-SHA256 of the body with our secret."""
    if not secret:
        raise ServiceUnavailable(
            "github_webhook_not_configured",
            "webhooks are refused: MARKETPLACE_GITHUB_WEBHOOK_SECRET is not set",
        )
    if not header:
        raise Unauthorized("missing_signature", "the X-Hub-Signature-256 header is missing")
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), header.strip().encode()):
        raise Unauthorized("invalid_signature", "X-Hub-Signature-256 does not match the body")


def _dig(data: Any, *path: str | int) -> Any:
    for key in path:
        if isinstance(key, int):
            if not isinstance(data, list) or len(data) <= key:
                return None
        elif not isinstance(data, dict):
            return None
        data = data[key] if isinstance(key, int) else data.get(key)
    return data


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def summarize(event: str, payload: Any) -> DeliverySummary:
    """The repo, pull request and commit a delivery is about, as far as its payload says."""
    pr_number = head_sha = None
    if event == "pull_request":
        pr_number = _int(_dig(payload, "pull_request", "number")) or _int(_dig(payload, "number"))
        head_sha = _str(_dig(payload, "pull_request", "head", "sha"))
    elif event in ("check_run", "check_suite"):
        pr_number = _int(_dig(payload, event, "pull_requests", 0, "number"))
        head_sha = _str(_dig(payload, event, "head_sha"))
    elif event == "status":
        head_sha = _str(_dig(payload, "sha"))
    return DeliverySummary(
        action=_str(_dig(payload, "action")) or _str(_dig(payload, "state")),
        repo_id=_int(_dig(payload, "repository", "id")),
        repo_full_name=_str(_dig(payload, "repository", "full_name")),
        pr_number=pr_number,
        head_sha=head_sha,
    )


def _json_of(headers: Any, body: bytes) -> bytes:
    """The JSON of a delivery: the body, or its ``payload`` field when the webhook's content
    type is ``application/x-www-form-urlencoded`` (GitHub's other option)."""
    content_type = str(headers.get("content-type") or "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        return body
    try:
        form = urllib.parse.parse_qs(body.decode(), strict_parsing=True, max_num_fields=10)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequest("malformed_form", "the form-encoded delivery cannot be read") from exc
    values = form.get("payload")
    if not values or len(values) != 1:
        raise BadRequest("malformed_form", "the form-encoded delivery has no payload field")
    return values[0].encode()


def _header(headers: Any, name: str) -> str:
    value = headers.get(name)
    if not value or len(value) > 100 or not value.isprintable():
        raise BadRequest("missing_header", f"the {name} header is missing or malformed")
    return str(value)


async def receive(
    pool: Pool, redis: ArqRedis, settings: Settings, headers: Any, body: bytes
) -> WebhookReceived:
    """Verify, store once, and enqueue the worker job after commit."""
    verify_signature(settings.github_webhook_secret, body, headers.get("x-hub-signature-256"))
    event = _header(headers, "x-github-event")
    delivery_id = _header(headers, "x-github-delivery")
    if event not in ACCEPTED_EVENTS:
        return WebhookReceived(delivery_id=delivery_id, event=event, stored=False, ignored=True)
    payload = decode_any(_json_of(headers, body))  # 400 if not JSON or nested too deep
    if not isinstance(payload, dict):
        raise BadRequest("malformed_json", "the delivery's body is not a JSON object")
    s = summarize(event, payload)
    async with pool.acquire() as conn:
        row_id = await queries.insert_github_event(
            conn,
            delivery_id,
            event,
            s.action,
            s.repo_id,
            s.repo_full_name,
            s.pr_number,
            s.head_sha,
            payload,
        )
        stored = row_id is not None
        if not stored:
            # A redelivery: enqueue again only if the first attempt never reached the queue.
            earlier = await queries.get_github_event(conn, delivery_id)
            pending = earlier is not None and earlier["enqueued_at"] is None
        else:
            pending = True
        if pending and event != "ping" and await enqueue(redis, delivery_id):
            await queries.mark_delivery_enqueued(conn, delivery_id)
    return WebhookReceived(delivery_id=delivery_id, event=event, stored=stored)


async def enqueue(redis: ArqRedis, delivery_id: str) -> bool:
    """Queue the delivery's job (deterministic id); False if Redis is unreachable."""
    arq = ArqRedis(connection_pool=redis.connection_pool)  # shares the app's connections
    try:
        await arq.enqueue_job(jobs.GITHUB_EVENT, delivery_id, _job_id=event_job_id(delivery_id))
    except Exception as exc:  # Redis down: the row stays un-enqueued; a redelivery retries
        log.warning("could not enqueue GitHub delivery %s: %s", delivery_id, exc)
        return False
    return True
