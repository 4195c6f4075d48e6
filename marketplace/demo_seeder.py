"""The demo's seeder: finds or creates each department, user, vendor and auction once,
through the same services the API uses, so a second run adds nothing."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from arq.connections import ArqRedis

from marketplace.accounts import queries as account_queries
from marketplace.accounts import service as accounts
from marketplace.accounts import vendor_verification
from marketplace.accounts.schemas import User, UserCreate, VerificationDecision, VerificationRequest
from marketplace.auctions import lifecycle
from marketplace.auctions import service as auctions
from marketplace.auctions.schemas import Auction, AuctionCreate
from marketplace.audit.record import Actor
from marketplace.auth import Caller
from marketplace.bids.service import place_bid
from marketplace.clarifications import service as clarifications
from marketplace.db import Pool
from marketplace.demo_data import Task, description_of
from marketplace.settings import Settings

REQUEST_ID = "demo-seed"


def caller_of(user: User) -> Caller:
    """Act as a seeded user, as if they had signed in (the services take a Caller)."""
    return Caller(
        id=user.id,
        email=user.email,
        name=user.name,
        roles=frozenset(user.roles),
        department_id=user.department_id,
        verification_status=user.verification_status,
        token_id=0,
    )


async def users_by_email(pool: Pool) -> dict[str, Any]:
    found: dict[str, Any] = {}
    after = 0
    async with pool.acquire() as conn:
        while rows := await account_queries.list_users(conn, after, 500, None):
            found.update({r["email"]: accounts.user_from_row(r) for r in rows})
            after = rows[-1]["id"]
    return found


async def find_auction(pool: Pool, buyer: Caller, title: str) -> Auction | None:
    """The department's auction with this exact title (drafts included), if any."""
    items, _ = await auctions.list_page(
        pool,
        buyer,
        status=None,
        department_id=buyer.department_id,
        skill=None,
        q=title,
        sort="newest",
        after=None,
        limit=10,
    )
    return next((a for a in items if a.title == title), None)


class Seeder:
    """Get-or-create each demo object, counting what this run added."""

    def __init__(
        self, pool: Pool, redis: ArqRedis, settings: Settings, users: dict[str, Any]
    ) -> None:
        self.pool, self.redis, self.settings, self.users = pool, redis, settings, users
        self.added = {"departments": 0, "users": 0, "auctions": 0, "bids": 0}
        self.rng = random.Random(18)

    async def department(self, admin: Caller, name: str) -> int:
        async with self.pool.acquire() as conn:
            found = await account_queries.find_department(conn, name)
        if found is not None:
            return found
        self.added["departments"] += 1
        actor = admin.actor("admin", REQUEST_ID)
        return (await accounts.create_department(self.pool, actor, name)).id

    async def user(
        self, actor: Actor, email: str, name: str, roles: list[str], dep: int | None
    ) -> Any:
        if email not in self.users:
            data = UserCreate(email=email, name=name, roles=roles, department_id=dep)  # type: ignore[arg-type]
            self.users[email] = await accounts.create_user(self.pool, actor, data)
            self.added["users"] += 1
        return self.users[email]

    async def vendor(self, admin: Caller, email: str, name: str, kind: str, reg: str) -> Any:
        user = await self.user(admin.actor("admin", REQUEST_ID), email, name, ["vendor"], None)
        if user.verification_status == "unverified":
            asked = VerificationRequest(kind=kind, registry_id=reg)  # type: ignore[arg-type]
            user = await vendor_verification.request_verification(
                self.pool, caller_of(user), asked, REQUEST_ID
            )
        self.users[email] = user
        return user

    async def verify(self, admin: Caller, vendor: User) -> User:
        if vendor.verification_status == "pending":
            decision = VerificationDecision(status="verified", reason="registry record active")
            actor = admin.actor("admin", REQUEST_ID)
            vendor = await vendor_verification.decide_verification(
                self.pool, actor, vendor.id, decision
            )
            self.users[vendor.email] = vendor
        return vendor

    async def auction(self, task: Task, buyer: Caller, vendors: list[Caller]) -> None:
        if await find_auction(self.pool, buyer, task.title) is not None:
            return
        now = dt.datetime.now(dt.UTC)
        starts = now + dt.timedelta(days=1) if task.state in ("scheduled", "draft") else now
        minutes = {
            "open": 60 * 24 * 3 + self.rng.randint(0, 600),
            "closing": self.rng.randint(6, 14),
            "scheduled": 60 * 48,
            "draft": 60 * 24 * 5,
        }.get(task.state, 30)
        data = AuctionCreate(
            title=task.title,
            summary=task.summary,
            description=description_of(task),
            repo=task.repo,
            issue_number=task.issue,
            type=task.type,  # type: ignore[arg-type]
            price_cap_cents=task.cap,
            min_decrement_cents=task.decrement,
            starts_at=starts,
            ends_at=starts + dt.timedelta(minutes=minutes),
            delivery_business_days=10,
            skills=list(task.skills),
        )
        created = await auctions.create(self.pool, self.settings, buyer, data, REQUEST_ID)
        self.added["auctions"] += 1
        if task.state == "draft":
            return
        await auctions.publish(self.pool, self.redis, self.settings, buyer, created.id, REQUEST_ID)
        await self.bid_history(task, created.id, vendors)
        if task.question is not None:
            asked, answered = task.question
            question = await clarifications.ask(
                self.pool, self.redis, self.settings, vendors[-1], created.id, asked, REQUEST_ID
            )
            await clarifications.answer(
                self.pool, buyer, created.id, question.id, answered, REQUEST_ID
            )
        if task.state in ("awarded", "no_bids"):
            await backdate(self.pool, created.id, dt.timedelta(days=self.rng.randint(2, 9)))
            await lifecycle.close_auction(self.pool, created.id, self.settings)

    async def bid_history(self, task: Task, auction_id: int, vendors: list[Caller]) -> None:
        if task.offers:
            for index, amount in task.offers:
                await self._bid(vendors[index], auction_id, amount)
            return
        if task.type == "sealed":
            for bidder in self.rng.sample(vendors, task.bids):
                amount = task.cap - self.rng.randrange(task.cap // 20, task.cap // 3, 500)
                await self._bid(bidder, auction_id, amount)
            return
        bidders = self.rng.sample(vendors, max(2, task.bids // 2 + 1))
        price = task.cap - self.rng.randrange(0, task.cap // 10, task.decrement)
        last: Caller | None = None
        for _ in range(task.bids):
            last = self.rng.choice([v for v in bidders if v is not last])
            await self._bid(last, auction_id, price)
            price -= task.decrement * self.rng.randint(1, 8) + task.cap // 100

    async def _bid(self, bidder: Caller, auction_id: int, amount: int) -> None:
        await place_bid(self.pool, self.redis, bidder, auction_id, amount, None, REQUEST_ID)
        self.added["bids"] += 1


async def backdate(pool: Pool, auction_id: int, ago: dt.timedelta) -> None:
    """Move an open demo auction and its bids into the past, so that closing it now is due.

    No service moves time, so this is the seeding's one raw SQL statement. The window keeps
    its length and the bids their spacing; audit rows keep the true seeding time.
    """
    async with pool.acquire() as conn, conn.transaction():
        shift = await conn.fetchval(
            "SELECT ends_at - (now() - $2::interval) FROM auctions WHERE id = $1", auction_id, ago
        )
        await conn.execute(
            """UPDATE auctions SET starts_at = starts_at - $2::interval,
                      ends_at = ends_at - $2::interval,
                      scheduled_ends_at = scheduled_ends_at - $2::interval,
                      created_at = created_at - $2::interval,
                      published_at = published_at - $2::interval,
                      opened_at = opened_at - $2::interval
               WHERE id = $1 AND status = 'open'""",
            auction_id,
            shift,
        )
        await conn.execute(
            "UPDATE bids SET placed_at = placed_at - $2::interval WHERE auction_id = $1",
            auction_id,
            shift,
        )
