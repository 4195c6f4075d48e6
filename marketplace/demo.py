"""`marketplace demo`: seed a believable marketplace through the same services the API uses.

Idempotent: departments and users are found by name and email before being created, and a
demo auction is found by its title in its department, so a second run (or a run after an
interrupted one) adds nothing that exists. Tokens are stored hashed, so each run issues
fresh tokens for the users it prints.
"""

from __future__ import annotations

from typing import Any

import msgspec

from marketplace.accounts import service as accounts
from marketplace.auctions import service as auctions
from marketplace.audit.record import SYSTEM
from marketplace.auth import Caller
from marketplace.db import Pool, create_pool
from marketplace.demo_data import DEPARTMENTS, STAFF, TASKS, VENDORS
from marketplace.demo_seeder import REQUEST_ID, Seeder, caller_of, find_auction, users_by_email
from marketplace.redis import create_redis
from marketplace.settings import Settings

ADMIN_EMAIL = "admin@marketplace.example.gov"
# The demo shows auctions closing within minutes, shorter than a deployment would allow.
DEMO_MIN_AUCTION_SECONDS = 60


class Persona(msgspec.Struct, frozen=True, kw_only=True):
    """One signed-in person of the demo: what they are, who, and a fresh API token."""

    persona: str  # "buyer (City of Springfield - Permits Office)", "vendor", ...
    role: str
    name: str
    token: str
    github_login: str | None = None


class Demo(msgspec.Struct, frozen=True, kw_only=True):
    """What a demo run did and the fresh tokens of its personas."""

    added: dict[str, int]
    statuses: dict[str, int]
    tokens: dict[str, tuple[str, str]]  # role -> (user's name, token), the first persona's
    open_auction_id: int | None
    personas: list[Persona] = msgspec.field(default_factory=list)
    walk: Any = None  # marketplace.demo_scenes.Walk when seeded against the GitHub sandbox
    sandbox_url: str | None = None


async def seed(settings: Settings, database_url: str, redis_url: str, sandbox: Any = None) -> Demo:
    """Seed (or find) the demo marketplace and issue fresh tokens for its personas.

    With ``sandbox`` (a marketplace.sandbox.server.Sandbox), the auctions after award are
    seeded too (marketplace/demo_states.py); that needs a worker running against it.
    """
    settings = msgspec.structs.replace(settings, min_auction_seconds=DEMO_MIN_AUCTION_SECONDS)
    if sandbox is not None:
        from marketplace.demo_scenes import sandbox_settings

        settings = sandbox_settings(settings, sandbox)
    pool = await create_pool(database_url, min_size=1, max_size=4)
    redis = create_redis(redis_url)
    try:
        seeder = Seeder(pool, redis, settings, await users_by_email(pool))
        admin = caller_of(await seeder.user(SYSTEM, ADMIN_EMAIL, "Dana Whitfield", ["admin"], None))
        departments = [await seeder.department(admin, name) for name in DEPARTMENTS]
        staff = [
            await seeder.user(
                admin.actor("admin", REQUEST_ID),
                email,
                name,
                roles,
                None if dep is None else departments[dep],
            )
            for email, name, roles, dep in STAFF
        ]
        vendors = [await seeder.vendor(admin, *v) for v in VENDORS]
        # The last vendor stays pending, so the admin has a verification to decide.
        verified = [caller_of(await seeder.verify(admin, v)) for v in vendors[:-1]]
        buyers = {s.department_id: caller_of(s) for s in staff if "buyer" in s.roles}
        for task in TASKS:
            await seeder.auction(task, buyers[departments[task.department]], verified)
        walk = None
        if sandbox is not None:
            walk = await _after_award(seeder, sandbox, departments, buyers, verified, staff)
        personas = await _personas(pool, admin, departments, staff, verified[0], sandbox)
        tokens: dict[str, tuple[str, str]] = {}
        for p in personas:
            tokens.setdefault(p.role, (p.name, p.token))
        statuses = await _statuses(pool)
        open_id = await _example_auction(pool, departments, buyers, verified[0])
        return Demo(
            added=seeder.added,
            statuses=statuses,
            tokens=tokens,
            open_auction_id=open_id,
            personas=personas,
            walk=walk,
            sandbox_url=None if sandbox is None else sandbox.web_url,
        )
    finally:
        await redis.aclose()
        await pool.close()


async def _statuses(pool: Pool) -> dict[str, int]:
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT status, count(*) FROM auctions GROUP BY status")
    return {status: count for status, count in rows}


async def _example_auction(
    pool: Pool, departments: list[int], buyers: dict[int | None, Caller], vendor: Caller
) -> int | None:
    """The open reverse auction the printed example bids on as ``vendor``: one where it may
    bid now."""
    for task in TASKS:
        found = await find_auction(pool, buyers[departments[task.department]], task.title)
        if found is not None and found.status == "open" and found.type == "reverse":
            seen = await auctions.get(pool, vendor, found.id)
            if seen.position is not None and seen.position.can_bid:
                return found.id
    return None


async def _after_award(
    seeder: Seeder,
    sandbox: Any,
    departments: list[int],
    buyers: dict[int | None, Caller],
    verified: list[Caller],
    staff: list[Any],
) -> Any:
    from marketplace.demo_scenes import SCENES
    from marketplace.demo_states import AfterAward

    after = AfterAward(seeder, sandbox, departments)
    repos = [(t.repo, t.issue) for t in TASKS] + [(s.repo, s.issue) for s in SCENES]
    await after.prepare(verified[0], repos)
    reviewer = next(
        caller_of(u) for u in staff if "reviewer" in u.roles and u.department_id is None
    )
    finance = next(caller_of(u) for u in staff if "finance" in u.roles)
    return await after.run(buyers, verified[0], verified[1:4], reviewer, finance)  # type: ignore[arg-type]


async def _personas(
    pool: Pool,
    admin: Caller,
    departments: list[int],
    staff: list[Any],
    vendor: Caller,
    sandbox: Any,
) -> list[Persona]:
    """A buyer per department, the vendor, a central reviewer, finance, an auditor, the admin."""
    chosen: list[tuple[str, str, Any]] = []
    for index, dep in enumerate(departments):
        buyer = next(u for u in staff if "buyer" in u.roles and u.department_id == dep)
        chosen.append((f"buyer, {DEPARTMENTS[index]}", "buyer", buyer))
    chosen.append(("vendor", "vendor", vendor))
    for role in ("reviewer", "finance", "auditor"):
        user = next(u for u in staff if role in u.roles and u.department_id is None)
        chosen.append((role, role, user))
    chosen.append(("admin", "admin", admin))
    personas = []
    for persona, role, user in chosen:
        issued = await accounts.issue_token(pool, admin, user.id, REQUEST_ID)
        login = None
        if role == "vendor" and sandbox is not None:
            from marketplace.demo_scenes import VENDOR_LOGIN

            login = VENDOR_LOGIN
        personas.append(
            Persona(
                persona=persona, role=role, name=user.name, token=issued.token, github_login=login
            )
        )
    return personas


def report(demo: Demo, public_url: str) -> str:
    """The summary, the personas' tokens and where to start, as printed by `marketplace demo`."""
    added = ", ".join(f"{n} {what}" for what, n in demo.added.items())
    states = ", ".join(f"{n} {s}" for s, n in sorted(demo.statuses.items()))
    lines = [
        f"demo marketplace ready: added {added}"
        if any(demo.added.values())
        else "demo marketplace already seeded: nothing added",
        f"demo auctions: {states}",
        "",
        f"sign in at {public_url}/signin with a persona's token (fresh each run):",
        "",
    ]
    rows = [("persona", "name", "token")] + [(p.persona, p.name, p.token) for p in demo.personas]
    widths = [max(len(r[i]) for r in rows) for i in range(2)]
    for i, (persona, name, token) in enumerate(rows):
        lines.append(f"  {persona:<{widths[0]}}  {name:<{widths[1]}}  {token}")
        if i == 0:
            lines.append(f"  {'-' * widths[0]}  {'-' * widths[1]}  {'-' * 5}")
    vendor = demo.tokens["vendor"][1]
    aid = demo.open_auction_id or 1
    if demo.walk is not None:
        login = next((p.github_login for p in demo.personas if p.github_login), None)
        lines += [
            "",
            f'GitHub sandbox: {demo.sandbox_url} ("Sign in with GitHub" goes there;'
            f" the vendor is @{login})",
            "a walk through every role's job:",
            f"  1. vendor: My awards, deliver auction {demo.walk.deliver_auction_id} with"
            f" {demo.walk.pull_request_url}",
            f"  2. reviewer: Reviews, accept auction {demo.walk.deliver_auction_id}"
            f" (or {demo.walk.review_auction_id}, waiting already)",
            "  3. the department's buyer: its payment, dispute it during the hold",
            "  4. finance: Payments, resolve the dispute with release, then record the payout",
            "  5. vendor: My payments, confirm receipt",
        ]
    lines += [
        "",
        "try:",
        f"  curl -s '{public_url}/api/auctions?status=open'",
        f"  curl -s {public_url}/api/auctions/{aid} -H 'Authorization: Bearer {vendor}'",
        f"  curl -s -X POST {public_url}/api/auctions/{aid}/bids \\",
        f"       -H 'Authorization: Bearer {vendor}' -H 'Content-Type: application/json' \\",
        "       -d '{\"amount_cents\": <max_allowed_cents from the call above>}'",
        f"  curl -N {public_url}/api/auctions/{aid}/events",
    ]
    return "\n".join(lines)
