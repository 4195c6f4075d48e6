"""The demo after award: every delivery, review and payment state, against the GitHub sandbox.

Each scene is an auction won at close and then taken, through the services the API calls,
as far as its state: a delivery is verified by the running worker against the sandbox's pull
request, a payment released by the worker after its department's hold, a missed deadline
found by the worker's deadline sweep. So ``up --demo`` seeds these after its worker starts,
and a scene whose step the worker never takes stops the seeding with a message saying so.

A scene is found by its title, like every demo auction, so a second run adds nothing.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import msgspec

from marketplace.auctions import lifecycle
from marketplace.auctions import service as auctions
from marketplace.auctions.schemas import AuctionCreate
from marketplace.auth import Caller
from marketplace.awards import next_round
from marketplace.bids.service import place_bid
from marketplace.db import Pool
from marketplace.deliveries import service as deliveries
from marketplace.demo_scenes import (
    DEPARTMENT_HOLDS,
    MAINTAINERS,
    NEWCOMER_LOGIN,
    SCENES,
    VENDOR_GITHUB_ID,
    VENDOR_LOGIN,
    Scene,
    Walk,
)
from marketplace.demo_seeder import backdate, find_auction
from marketplace.github import service as github_accounts
from marketplace.github.oauth import GithubIdentity
from marketplace.payments import disputes
from marketplace.payments import service as payments
from marketplace.payments.execution import record_execution
from marketplace.reviews import service as reviews
from marketplace.sandbox.server import Sandbox

REQUEST_ID = "demo-seed"
WAIT_SECONDS = 20.0


class AfterAward:
    """Takes each scene to its state; ``seeder`` is the demo's Seeder (marketplace/demo.py)."""

    def __init__(self, seeder: Any, sandbox: Sandbox, departments: list[int]) -> None:
        self.seeder, self.sandbox, self.departments = seeder, sandbox, departments
        self.pool, self.redis, self.settings = seeder.pool, seeder.redis, seeder.settings

    async def prepare(self, vendor: Caller, repos: list[tuple[str, int]]) -> None:
        """Sandbox repositories and accounts; the vendor persona's GitHub account linked and
        payment details given (finance records a payout only to known details)."""
        for repo, issue in repos:
            if repo.lower() not in {r.lower() for r in self._repos()}:
                self.sandbox.add_repo(repo)
            self.sandbox.add_issue(repo, issue, title=f"Issue {issue}")
        self.sandbox.add_person(VENDOR_LOGIN, VENDOR_GITHUB_ID, vendor.name)
        self.sandbox.add_person(NEWCOMER_LOGIN, VENDOR_GITHUB_ID + 1, "not yet a marketplace user")
        for login in MAINTAINERS:
            self.sandbox.add_user(login)
        identity = GithubIdentity(id=VENDOR_GITHUB_ID, login=VENDOR_LOGIN, name=vendor.name)
        await github_accounts.link_account(self.pool, vendor.id, identity, REQUEST_ID)
        await payments.set_details(
            self.pool, vendor, "transfer", "ACH 021000021 / account ending 4821", REQUEST_ID
        )

    def _repos(self) -> list[str]:
        return [r["full_name"] for r in self.sandbox._state.repos.values()]

    async def run(
        self,
        buyers: dict[int, Caller],
        vendor: Caller,
        others: list[Caller],
        reviewer: Caller,
        finance: Caller,
    ) -> Walk:
        """Seed every scene; the auctions and the pull request the walk starts from."""
        found: dict[str, int] = {}
        ready_url = ""
        for scene in SCENES:
            buyer = buyers[self.departments[scene.department]]
            existing = await _find_id(self.pool, buyer, scene.title)
            if existing is not None:
                # Seeded by an earlier run: this sandbox is new and holds none of its pull
                # requests yet, so the walk's and the delivered ones are put back.
                found[scene.goal] = existing
                if scene.goal not in ("cancelled", "reawarded"):
                    url = self._merged_pull(scene, passing=scene.goal != "failing_check")
                    ready_url = url if scene.goal == "ready" else ready_url
                continue
            aid = await self._won(scene, buyer, vendor, others)
            found[scene.goal] = aid
            if scene.goal == "cancelled":
                continue
            if scene.goal == "reawarded":
                await self._missed_then_reawarded(aid, buyer)
                continue
            passing = scene.goal != "failing_check"
            url = self._merged_pull(scene, passing)
            if scene.goal == "ready":
                ready_url = url
                continue
            await deliveries.submit(
                self.pool, self.redis, self.settings, vendor, aid, url, REQUEST_ID
            )
            if not passing:
                await self._wait(aid, "a failing verification", _FAILED_VERIFICATION)
                continue
            await self._wait(aid, "pending_review", _STATUS, "pending_review")
            if scene.goal == "pending_review":
                continue
            await self._accept(aid, scene, reviewer, buyer, finance, vendor)
        return Walk(
            deliver_auction_id=found["ready"],
            pull_request_url=ready_url,
            review_auction_id=found["pending_review"],
        )

    async def _won(self, scene: Scene, buyer: Caller, winner: Caller, others: list[Caller]) -> int:
        """Created, published, bid on by two others and ``winner`` lowest, then closed; a
        ``cancelled`` scene is cancelled while open instead."""
        now = dt.datetime.now(dt.UTC)
        data = AuctionCreate(
            title=scene.title,
            summary=scene.summary,
            description=(
                f"{scene.summary}\n\nDeliver a pull request to {scene.repo} that references "
                f"#{scene.issue}, with passing checks, merged by someone other than its author."
            ),
            repo=scene.repo,
            issue_number=scene.issue,
            type="reverse",
            price_cap_cents=scene.cap,
            min_decrement_cents=100,
            starts_at=now,
            ends_at=now + dt.timedelta(days=3 if scene.goal == "cancelled" else 1),
            delivery_business_days=10,
            skills=["python"],
        )
        created = await auctions.create(self.pool, self.settings, buyer, data, REQUEST_ID)
        self.seeder.added["auctions"] += 1
        aid = created.id
        await auctions.publish(self.pool, self.redis, self.settings, buyer, aid, REQUEST_ID)
        bidders = [others[0], others[1], winner]
        if scene.goal == "reawarded":  # others[2] wins and misses; winner is the runner-up
            bidders = [others[0], winner, others[2]]
        for step, bidder in enumerate(bidders, start=1):
            amount = scene.cap - scene.cap * step // 20
            await place_bid(self.pool, self.redis, bidder, aid, amount, None, REQUEST_ID)
            self.seeder.added["bids"] += 1
        if scene.goal == "cancelled":
            reason = "The department's IT office is doing this work itself."
            await auctions.cancel(self.pool, buyer, aid, reason, REQUEST_ID)
            return aid
        await backdate(self.pool, aid, dt.timedelta(hours=2))
        await lifecycle.close_auction(self.pool, aid, self.settings)
        return aid

    def _pull_url(self, scene: Scene) -> str:
        return f"{self.sandbox.web_url}/{scene.repo}/pull/{scene.issue + 1}"

    def _merged_pull(self, scene: Scene, passing: bool) -> str:
        """The vendor's pull request for ``scene``, merged now by the department's maintainer,
        its checks passed (or its tests failed)."""
        number = scene.issue + 1
        head = self.sandbox.add_pull(
            scene.repo,
            number,
            author=VENDOR_LOGIN,
            title=scene.title,
            body=f"Fixes #{scene.issue}\n\n{scene.summary}",
            # GitHub's times have whole seconds: the next one is surely after the award.
            merged_at=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1),
            merged_by=MAINTAINERS[scene.department],
        )["head"]["sha"]
        self.sandbox.add_check_run(
            scene.repo, head, "tests", conclusion="success" if passing else "failure"
        )
        self.sandbox.add_status(scene.repo, head, "ci/lint", state="success")
        return self._pull_url(scene)

    async def _accept(
        self,
        aid: int,
        scene: Scene,
        reviewer: Caller,
        buyer: Caller,
        finance: Caller,
        vendor: Caller,
    ) -> None:
        hold = DEPARTMENT_HOLDS[scene.department]
        held = msgspec.structs.replace(self.settings, payment_hold_seconds=hold)
        reason = "Every criterion met; checks pass on the merged commit."
        review = await reviews.decide(
            self.pool, self.redis, held, reviewer, aid, "accept", reason, REQUEST_ID
        )
        assert review.payment_id is not None
        pid = review.payment_id
        if scene.goal == "disputed":
            reason = "The reminders go out in English only; the task asked for Spanish too."
            await disputes.open_dispute(self.pool, buyer, pid, reason, REQUEST_ID)
        if scene.goal in ("paid", "confirmed"):
            await self._wait(aid, "the payment's release", _STATUS, "paid")
        if scene.goal == "confirmed":
            await record_execution(self.pool, finance, pid, "ACH trace 0210000218842", REQUEST_ID)
            await payments.confirm(self.pool, vendor, pid, REQUEST_ID)

    async def _missed_then_reawarded(self, aid: int, buyer: Caller) -> None:
        """The winner's deadline passes with nothing merged; the buyer re-awards."""
        async with self.pool.acquire() as conn:
            await conn.execute(
                """UPDATE awards SET delivery_due_at = now() - interval '1 hour'
                   WHERE auction_id = $1 AND status = 'active'""",
                aid,
            )
        await self._wait(aid, "missed_delivery", _STATUS, "missed_delivery")
        await next_round.reaward(self.pool, self.settings, buyer, aid, REQUEST_ID)

    async def _wait(self, aid: int, what: str, query: str, *args: Any) -> None:
        """Until ``query`` finds the auction so: the worker's step has happened."""
        deadline = asyncio.get_running_loop().time() + WAIT_SECONDS
        while True:
            async with self.pool.acquire() as conn:
                if await conn.fetchval(query, aid, *args):
                    return
            if asyncio.get_running_loop().time() > deadline:
                async with self.pool.acquire() as conn:
                    last = await conn.fetchval(_LAST_VERIFICATION, aid)
                raise RuntimeError(
                    f"auction {aid}: no {what} after {WAIT_SECONDS:.0f} s; the demo needs "
                    "a running worker (`marketplace up --demo` starts one)"
                    + (f"; its last verification: {last}" if last else "")
                )
            await asyncio.sleep(0.25)


# The demo's reads of what the worker did (seeding only; the services own every write).
_STATUS = "SELECT true FROM auctions WHERE id = $1 AND status = $2"
_LAST_VERIFICATION = (
    "SELECT coalesce(error, checks::text) FROM verifications WHERE auction_id = $1"
    " ORDER BY id DESC LIMIT 1"
)
_FAILED_VERIFICATION = (  # a failing verdict: an error record decided nothing
    "SELECT true FROM verifications WHERE auction_id = $1 AND NOT passed AND error IS NULL"
)


async def _find_id(pool: Pool, buyer: Caller, title: str) -> int | None:
    found = await find_auction(pool, buyer, title)
    return None if found is None else found.id
