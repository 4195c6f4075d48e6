"""Signed GitHub webhook -> payment released, through a real API and a real worker process.

    python bench/webhook.py [--count 50]

Standalone it starts embedded PostgreSQL and Redis (as bench/bids.py does), the fake GitHub of
tests/fakes/github.py, `marketplace serve` and `marketplace worker` on a scratch database, with
no payment hold. The suite calls ``webhook_to_paid`` with its own processes instead: start a
``TimedGitHub`` (the fake, plus answer times) first and the processes with ``github_env(fake)``
in their environment.

Per auction (``--count`` of them, all in flight together): a buyer publishes it, a verified
vendor with a linked GitHub account bids, the worker closes it, the winner submits a pull
request that is not merged yet (the first verification fails; the auction stays
``delivered``). Then the fake merges the PR with a passing check run and the bench posts a
signed ``pull_request`` (closed, merged) webhook: that moment is T0. The worker re-verifies
(-> ``pending_review``); a bench reviewer polling ``GET /api/reviews`` every 20 ms accepts at
once; the worker releases the payment. Reported: ``released_at - T0`` and its parts, from the
database's own timestamps (``awards.verified_at``, ``reviews.created_at``,
``payments.released_at``: each is the start of the transaction that wrote it, so a commit of a
few ms follows) and arq's job records (enqueue/start/finish of the webhook and release jobs).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import hashlib
import hmac
import os
import secrets
import sys
import time
import uuid
from typing import Any

import asyncpg
import httpx
import msgspec
from arq.connections import RedisSettings, create_pool
from arq.jobs import Job

from bench.bids import free_port, scratch_dir, server
from bench.scratch import scratch_database
from marketplace.github.webhook import event_job_id
from marketplace.jobs import release_job_id
from tests.fakes.github import FakeGitHub, Recorded

SECRET = "bench-webhook-secret"
CAP = 100_000
MERGER = "bench-maintainer"
REVIEWER_POLL = 0.02  # seconds between two looks at the review queue
VENDORS = 10  # winners, each with its own linked GitHub account; auctions go round-robin


class TimedGitHub(FakeGitHub):
    """The fake GitHub, noting when it answered each API path (to split the verify job)."""

    def __init__(self) -> None:
        super().__init__()
        self.answered: list[tuple[float, str]] = []

    def _route(self, rec: Recorded, body: bytes) -> tuple[int, Any, dict[str, str]]:
        answer = super()._route(rec, body)
        with self._lock:
            self.answered.append((time.time(), rec.path))
        return answer

    def first(self, suffix: str, after: float) -> float | None:
        with self._lock:
            return next((t for t, p in self.answered if t >= after and p.endswith(suffix)), None)

    def count_after(self, after: float) -> int:
        with self._lock:
            return sum(1 for t, _ in self.answered if t >= after)

    def last(self, suffix: str, after: float) -> float | None:
        with self._lock:
            times = [t for t, p in self.answered if t >= after and p.endswith(suffix)]
        return max(times, default=None)


def github_env(fake: FakeGitHub, secret: str = SECRET) -> dict[str, str]:
    """The variables that point `marketplace serve` and `marketplace worker` at the fake."""
    return {
        "MARKETPLACE_GITHUB_API_URL": fake.api_url,
        "MARKETPLACE_GITHUB_URL": fake.web_url,
        "MARKETPLACE_GITHUB_TOKEN": "bench-token",
        "MARKETPLACE_GITHUB_WEBHOOK_SECRET": secret,
    }


class Sample(msgspec.Struct, kw_only=True):
    """One auction's path, in epoch seconds (None where a record was not found)."""

    auction_id: int
    t0: float  # the bench is about to POST the webhook
    received: float | None = None  # github_events.received_at
    hook_enqueued: float | None = None  # the API enqueues github_event_received
    hook_start: float | None = None  # the worker starts github_event_received
    hook_finish: float | None = None  # ... which has enqueued verify_delivery
    pull_fetched: float | None = None  # the fake answers the verify job's GET of the PR
    checks_fetched: float | None = None  # ... and its last GET of the head commit's checks
    verified: float | None = None  # awards.verified_at: the passing record's transaction
    accept_sent: float | None = None  # the bench reviewer POSTs accept
    decided: float | None = None  # reviews.created_at
    release_enqueued: float | None = None  # the API enqueues release_payment after commit
    release_start: float | None = None  # the worker starts release_payment
    released: float | None = None  # payments.released_at
    trigger: str | None = None  # verifications.trigger of the passing record


class WebhookFigures(msgspec.Struct, kw_only=True):
    count: int
    samples: list[Sample]
    load: tuple[float, float, float]
    seconds: float  # wall time of the measured part (webhooks sent -> last payment released)
    github_requests: int | None = None  # API requests the fake answered after the first T0
    github_not_modified: int | None = None  # ... of which 304s (If-None-Match, no rate cost)

    @property
    def paid(self) -> int:
        return sum(1 for s in self.samples if s.released is not None)

    def part(self, start: str, end: str) -> list[float]:
        """Milliseconds from one moment of a Sample to another, where both are known."""
        out = []
        for s in self.samples:
            a, b = getattr(s, start), getattr(s, end)
            if a is not None and b is not None:
                out.append((b - a) * 1000)
        return out

    def total(self) -> list[float]:
        return self.part("t0", "released")

    def line(self) -> str:
        """One figure for the suite's table."""
        total = self.total()
        return (
            f"p50 {_pct(total, 0.5):.0f} ms, p99 {_pct(total, 0.99):.0f} ms"
            f" ({self.paid}/{self.count} paid, 1 worker; reviewer polls every"
            f" {REVIEWER_POLL * 1000:.0f} ms, included)"
        )

    def report(self) -> str:
        rows: list[tuple[str, list[float]]] = [
            ("T0 -> payments.released_at (total)", self.total()),
            ("T0 -> pending_review (awards.verified_at)", self.part("t0", "verified")),
            ("  T0 -> webhook stored (received_at)", self.part("t0", "received")),
            ("  T0 -> webhook job enqueued (arq)", self.part("t0", "hook_enqueued")),
            ("  webhook job enqueued -> started", self.part("hook_enqueued", "hook_start")),
            ("  webhook job start -> finish", self.part("hook_start", "hook_finish")),
            ("  webhook job finish -> verified_at", self.part("hook_finish", "verified")),
            ("    webhook job finish -> PR fetched", self.part("hook_finish", "pull_fetched")),
            ("    PR fetched -> checks fetched", self.part("pull_fetched", "checks_fetched")),
            ("    checks fetched -> verified_at", self.part("checks_fetched", "verified")),
            ("pending_review -> accept decided", self.part("verified", "decided")),
            ("  verified_at -> reviewer POSTs accept", self.part("verified", "accept_sent")),
            (
                "accept -> released (reviews.created_at -> released_at)",
                self.part("decided", "released"),
            ),
            ("  accept -> release job enqueued (arq)", self.part("decided", "release_enqueued")),
            ("  release job enqueued -> started", self.part("release_enqueued", "release_start")),
            ("  release job start -> released_at", self.part("release_start", "released")),
        ]
        width = max(len(name) for name, _ in rows)
        head = f"{'part':<{width}}{'n':>5}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}"
        lines = [head, "-" * len(head)]
        for name, values in rows:
            lines.append(
                f"{name:<{width}}{len(values):>5}{_pct(values, 0.5):>9.0f}"
                f"{_pct(values, 0.99):>9.0f}{max(values or [0.0]):>9.0f}"
            )
        triggers: dict[str, int] = {}
        for s in self.samples:
            key = s.trigger or "none"
            triggers[key] = triggers.get(key, 0) + 1
        load = ", ".join(f"{x:.2f}" for x in self.load)
        if self.github_requests is not None:
            lines.append(
                f"GitHub API requests after T0: {self.github_requests}"
                f" ({self.github_requests / max(1, self.count):.1f} per delivery;"
                f" {self.github_not_modified} answered 304 Not Modified)"
            )
        lines.append(
            f"{self.paid}/{self.count} paid in {self.seconds:.1f} s; passing verifications by"
            f" trigger: {triggers}; load average {load} ({os.cpu_count()} CPUs)"
        )
        return "\n".join(lines)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values) or [0.0]
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def _epoch(moment: dt.datetime | None) -> float | None:
    return None if moment is None else moment.timestamp()


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class Case(msgspec.Struct, kw_only=True):
    auction_id: int
    pr_number: int
    head_sha: str
    winner: dict[str, str]  # the winner's auth headers
    login: str
    delivery_id: str = ""  # X-GitHub-Delivery of the webhook


async def _wait(
    conn: Any, what: str, sql: str, args: list[Any], want: int, within: float, step: float = 0.1
) -> None:
    deadline = time.monotonic() + within
    while True:
        got = await conn.fetchval(sql, *args)
        if got >= want:
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"webhook bench: {what}: {got}/{want} after {within:.0f} s")
        await asyncio.sleep(step)


async def _prepare(
    client: httpx.AsyncClient, conn: Any, database_url: str, fake: FakeGitHub, count: int
) -> tuple[list[Case], dict[str, str], str, int]:
    """Users, auctions closed by the worker, deliveries whose first verification failed.

    Returns the cases, the reviewer's headers, the repository and its numeric id."""
    from marketplace.accounts.admin import create_user_with_token

    tag = secrets.token_hex(3)  # the suite may call this more than once on one database
    _, admin_token = await create_user_with_token(
        database_url, f"admin-webhook-{tag}@bench.example.gov", "Webhook Admin", ["admin"], None
    )
    admin = {"Authorization": f"Bearer {admin_token}"}
    gate = asyncio.Semaphore(16)

    async def call(method: str, path: str, headers: dict[str, str], body: Any = None) -> Any:
        async with gate:
            r = await client.request(method, path, json=body, headers=headers)
        if r.status_code >= 300:
            raise SystemExit(f"webhook bench: {method} {path}: {r.status_code} {r.text}")
        return r.json()

    async def user(
        name: str, roles: list[str], dep: int | None = None
    ) -> tuple[int, dict[str, str]]:
        body = {
            "email": f"{name}-{tag}@bench.example.gov",
            "name": name,
            "roles": roles,
            "department_id": dep,
        }
        uid: int = (await call("POST", "/api/users", admin, body))["id"]
        token = (await call("POST", f"/api/users/{uid}/tokens", admin))["token"]
        return uid, {"Authorization": f"Bearer {token}"}

    repo = f"bench/webhook-{tag}"
    repo_id: int = fake.add_repo(repo, default_branch="main")["id"]
    fake.add_user(MERGER)
    dep = (await call("POST", "/api/departments", admin, {"name": f"Webhook Dept {tag}"}))["id"]
    _, buyer = await user("webhook-buyer", ["buyer"], dep)
    _, reviewer = await user("webhook-reviewer", ["reviewer"], dep)

    links: list[tuple[int, int, str]] = []

    async def vendor(n: int) -> tuple[dict[str, str], str]:
        uid, headers = await user(f"webhook-vendor{n}", ["vendor"])
        decision = {"status": "verified", "reason": "bench"}
        await call("POST", f"/api/vendors/{uid}/verification", admin, decision)
        login = f"bench-dev{n}-{tag}"
        links.append((uid, fake.add_user(login)["id"], login))
        return headers, login

    vendors = list(await asyncio.gather(*(vendor(n) for n in range(min(VENDORS, count)))))
    # Linking by OAuth is not what is measured: store the links as the callback would.
    await conn.executemany(
        "UPDATE users SET github_id = $2, github_login = $3 WHERE id = $1", links
    )
    # Long enough to publish and bid on every auction first; the worker closes them.
    ends = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=4 + count * 0.08)

    async def auction(n: int) -> Case:
        body = {
            "title": f"Webhook task {n}",
            "summary": "Delivered by pull request.",
            "description": "Acceptance: the pull request is merged with green checks.",
            "repo": repo,
            "price_cap_cents": CAP,
            "starts_at": dt.datetime.now(dt.UTC).isoformat(),
            "ends_at": ends.isoformat(),
            "soft_close_seconds": 0,
            "delivery_business_days": 10,
        }
        aid: int = (await call("POST", "/api/auctions", buyer, body))["id"]
        await call("POST", f"/api/auctions/{aid}/publish", buyer)
        headers, login = vendors[n % len(vendors)]
        await call("POST", f"/api/auctions/{aid}/bids", headers, {"amount_cents": CAP - 1000})
        number = n + 1
        head = secrets.token_hex(20)
        fake.add_pull(repo, number, author=login, title=f"Webhook task {n}", head_sha=head)
        return Case(auction_id=aid, pr_number=number, head_sha=head, winner=headers, login=login)

    cases = list(await asyncio.gather(*(auction(n) for n in range(count))))
    if dt.datetime.now(dt.UTC) >= ends:
        raise SystemExit("webhook bench: setup ran past ends_at; raise the lead time")
    ids = [c.auction_id for c in cases]
    await asyncio.sleep(max(0.0, (ends - dt.datetime.now(dt.UTC)).total_seconds()))
    await _wait(
        conn,
        "auctions awarded by the worker",
        "SELECT count(*) FROM auctions WHERE id = ANY($1) AND status = 'awarded'",
        [ids],
        count,
        60,
    )

    async def deliver(c: Case) -> None:
        url = f"{fake.web_url}/{repo}/pull/{c.pr_number}"
        await call(
            "POST", f"/api/auctions/{c.auction_id}/delivery", c.winner, {"pull_request_url": url}
        )

    await asyncio.gather(*(deliver(c) for c in cases))
    await _wait(
        conn,
        "failing first verifications (PR not merged yet)",
        """SELECT count(DISTINCT v.auction_id) FROM verifications v
                   JOIN auctions a ON a.id = v.auction_id
                   WHERE v.auction_id = ANY($1) AND NOT v.passed AND a.status = 'delivered'""",
        [ids],
        count,
        60,
    )
    return cases, reviewer, repo, repo_id


async def _reviewer(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    mine: set[int],
    sent: dict[int, float],
    stop: asyncio.Event,
) -> None:
    """Accept every delivery of ours as soon as the review queue shows it."""
    posts: list[asyncio.Task[None]] = []

    async def accept(aid: int) -> None:
        body = {"decision": "accept", "reason": "bench: verified"}
        r = await client.post(f"/api/auctions/{aid}/review", json=body, headers=headers)
        if r.status_code != 200:
            raise SystemExit(f"webhook bench: review of {aid}: {r.status_code} {r.text}")

    while not stop.is_set():
        r = await client.get("/api/reviews", params={"limit": 200}, headers=headers)
        r.raise_for_status()
        for item in r.json()["items"]:
            aid = item["auction_id"]
            if aid in mine and aid not in sent:
                sent[aid] = time.time()
                posts.append(asyncio.create_task(accept(aid)))
        if len(sent) == len(mine):
            break
        await asyncio.sleep(REVIEWER_POLL)
    await asyncio.gather(*posts)


async def _job_times(redis: Any, job_id: str) -> tuple[float | None, float | None, float | None]:
    """arq's enqueue, start and finish times of a finished job whose result is still kept
    (``keep_result``, 60 s in workers/main.py)."""
    info = await Job(job_id, redis).result_info()
    if info is None:
        return None, None, None
    return (
        info.enqueue_time.timestamp(),
        info.start_time.timestamp(),
        info.finish_time.timestamp(),
    )


async def _collect(
    conn: Any,
    redis_url: str,
    fake: FakeGitHub,
    cases: list[Case],
    t0: dict[int, float],
    sent: dict[int, float],
) -> list[Sample]:
    """Each auction's moments, from the database, arq's job records and the fake."""
    ids = [c.auction_id for c in cases]
    rows = await conn.fetch(
        """SELECT a.id, w.verified_at, r.created_at AS decided_at, p.id AS payment_id,
                  p.released_at,
                  (SELECT v.trigger FROM verifications v WHERE v.auction_id = a.id
                   AND v.passed ORDER BY v.id DESC LIMIT 1) AS trigger
           FROM auctions a
           JOIN reviews r ON r.auction_id = a.id
           JOIN awards w ON w.id = r.award_id
           LEFT JOIN payments p ON p.award_id = w.id
           WHERE a.id = ANY($1)""",
        ids,
    )
    received = {
        r["delivery_id"]: r["received_at"]
        for r in await conn.fetch(
            "SELECT delivery_id, received_at FROM github_events WHERE delivery_id = ANY($1)",
            [c.delivery_id for c in cases],
        )
    }
    redis = await create_pool(RedisSettings.from_dsn(redis_url))
    try:
        by_id = {r["id"]: r for r in rows}
        samples = []
        for c in cases:
            s = Sample(
                auction_id=c.auction_id, t0=t0[c.auction_id], accept_sent=sent.get(c.auction_id)
            )
            s.received = _epoch(received.get(c.delivery_id))
            s.hook_enqueued, s.hook_start, s.hook_finish = await _job_times(
                redis, event_job_id(c.delivery_id)
            )
            if isinstance(fake, TimedGitHub):
                s.pull_fetched = fake.first(f"/pulls/{c.pr_number}", s.t0)
                s.checks_fetched = fake.last(f"/commits/{c.head_sha}/status", s.t0)
            row = by_id.get(c.auction_id)
            if row is not None:
                s.verified = _epoch(row["verified_at"])
                s.decided = _epoch(row["decided_at"])
                s.released = _epoch(row["released_at"])
                s.trigger = row["trigger"]
                if row["payment_id"] is not None:
                    s.release_enqueued, s.release_start, _ = await _job_times(
                        redis, release_job_id(row["payment_id"], 0)
                    )
            samples.append(s)
    finally:
        await redis.aclose()
    return samples


async def webhook_to_paid(
    base: str,
    database_url: str,
    env: dict[str, str],
    fake: FakeGitHub,
    count: int = 50,
    spacing: float = 0.0,
) -> WebhookFigures:
    """Measure signed webhook -> payment released for ``count`` auctions in flight together,
    their webhooks sent ``spacing`` seconds apart (0: all at once, a burst).

    ``base`` is a running `marketplace serve` and a `marketplace worker` runs too, both with
    ``env`` (which must hold ``github_env(fake)``, the database, Redis, a 1 s minimum auction
    and no payment hold)."""
    secret = env["MARKETPLACE_GITHUB_WEBHOOK_SECRET"]
    if env.get("MARKETPLACE_GITHUB_API_URL") != fake.api_url:
        raise SystemExit("webhook bench: the processes do not point at this fake GitHub")
    if int(env.get("MARKETPLACE_PAYMENT_HOLD_SECONDS", "0")) != 0:
        raise SystemExit("webhook bench: measure with MARKETPLACE_PAYMENT_HOLD_SECONDS=0")
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    conn = await asyncpg.connect(database_url)
    try:
        async with (
            httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as client,
            httpx.AsyncClient(base_url=base, timeout=30) as review_client,
        ):
            cases, reviewer, repo, repo_id = await _prepare(client, conn, database_url, fake, count)
            t0: dict[int, float] = {}
            sent: dict[int, float] = {}

            async def hook(n: int, c: Case) -> None:
                await asyncio.sleep(n * spacing)
                # Merged now; GitHub's times have whole seconds, so one second ahead keeps
                # merged_at after the award.
                merged_at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
                fake.update_pull(repo, c.pr_number, merged_at=merged_at, merged_by=MERGER)
                fake.add_check_run(repo, c.head_sha, "ci")
                c.delivery_id = str(uuid.uuid4())
                body = msgspec.json.encode(
                    {
                        "action": "closed",
                        "number": c.pr_number,
                        "pull_request": {
                            "number": c.pr_number,
                            "merged": True,
                            "state": "closed",
                            "head": {"sha": c.head_sha},
                            "base": {"ref": "main"},
                        },
                        "repository": {"id": repo_id, "full_name": repo},
                    }
                )
                headers = {
                    "Content-Type": "application/json",
                    "X-GitHub-Event": "pull_request",
                    "X-GitHub-Delivery": c.delivery_id,
                    "X-Hub-Signature-256": sign(secret, body),
                }
                t0[c.auction_id] = time.time()
                r = await client.post("/api/github/webhook", content=body, headers=headers)
                if r.status_code != 202:
                    raise SystemExit(f"webhook bench: webhook answered {r.status_code} {r.text}")

            stop = asyncio.Event()
            mine = {c.auction_id for c in cases}
            review = asyncio.create_task(_reviewer(review_client, reviewer, mine, sent, stop))
            began = time.time()
            await asyncio.gather(*(hook(n, c) for n, c in enumerate(cases)))
            ids = list(mine)
            try:
                await _wait(
                    conn,
                    "payments released",
                    """SELECT count(*) FROM payments
                       WHERE auction_id = ANY($1) AND status IN ('released', 'confirmed')""",
                    [ids],
                    count,
                    120,
                    step=0.05,
                )
            finally:
                stop.set()
                await review
            seconds = time.time() - began
        load = os.getloadavg()
        samples = await _collect(conn, env["MARKETPLACE_REDIS_URL"], fake, cases, t0, sent)
    finally:
        await conn.close()
    requests = not_modified = None
    if isinstance(fake, TimedGitHub):
        first = min(t0.values())
        requests = fake.count_after(first)
        not_modified = sum(1 for r in fake.api_requests() if r.at >= first and r.status == 304)
    return WebhookFigures(
        count=count,
        samples=samples,
        load=load,
        seconds=seconds,
        github_requests=requests,
        github_not_modified=not_modified,
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=50, help="auctions in flight together")
    parser.add_argument(
        "--spacing", type=float, default=0.0, help="seconds between two webhooks (0: a burst)"
    )
    args = parser.parse_args()
    from bench.__main__ import worker
    from marketplace.embedded import services
    from marketplace.settings import load_settings

    data_dir = scratch_dir()
    settings = msgspec.structs.replace(load_settings(), data_dir=data_dir)
    with (
        services(settings) as svc,
        scratch_database(svc.database_url, "mp_bench_webhook") as url,
        TimedGitHub() as fake,
    ):
        env = {
            **os.environ,
            "MARKETPLACE_DATABASE_URL": url,
            "MARKETPLACE_REDIS_URL": svc.redis_url,
            "MARKETPLACE_DATA_DIR": str(data_dir),
            "MARKETPLACE_LOG_LEVEL": "warning",
            "MARKETPLACE_MIN_AUCTION_SECONDS": "1",
            "MARKETPLACE_PAYMENT_HOLD_SECONDS": "0",
            **github_env(fake),
        }
        port = free_port()
        serve = [sys.executable, "-m", "marketplace.cli", "serve", "--port", str(port)]
        with server(serve, env, port) as api, worker(env):
            figures = asyncio.run(webhook_to_paid(api, url, env, fake, args.count, args.spacing))
    print()
    print("signed webhook -> payment released (fake GitHub, no hold; target p99 <= 2 s):")
    print(f"  {figures.line()}")
    print(figures.report())
    return 0 if figures.paid == figures.count else 1


if __name__ == "__main__":
    sys.exit(main())
