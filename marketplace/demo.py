"""`marketplace demo`: seed a believable marketplace through the same services the API uses.

Idempotent: departments and users are found by name and email before being created, and a
demo auction is found by its title in its department, so a second run (or a run after an
interrupted one) adds nothing that exists. Tokens are stored hashed, so each run issues
fresh tokens for the users it prints.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import msgspec
from arq.connections import ArqRedis

from marketplace.accounts import queries as account_queries
from marketplace.accounts import service as accounts
from marketplace.accounts.schemas import User, UserCreate, VerificationDecision, VerificationRequest
from marketplace.auctions import lifecycle
from marketplace.auctions import service as auctions
from marketplace.auctions.schemas import Auction, AuctionCreate
from marketplace.audit.record import SYSTEM, Actor
from marketplace.auth import Caller
from marketplace.bids.service import place_bid
from marketplace.clarifications import service as clarifications
from marketplace.db import Pool, create_pool
from marketplace.redis import create_redis
from marketplace.settings import Settings

ADMIN_EMAIL = "admin@marketplace.example.gov"
REQUEST_ID = "demo-seed"
# The demo shows auctions closing within minutes, shorter than a deployment would allow.
DEMO_MIN_AUCTION_SECONDS = 60

DEPARTMENTS = (
    "City of Springfield - Permits Office",
    "State Health Dept - Digital Services",
    "County Library System - Web Team",
    "Metro Transit Authority - Rider Information",
)

# (email, name, roles, department index or None)
STAFF = (
    ("lena.ortiz@springfield.example.gov", "Lena Ortiz", ["buyer"], 0),
    ("marcus.webb@health.example.gov", "Marcus Webb", ["buyer"], 1),
    ("priya.nair@library.example.gov", "Priya Nair", ["buyer"], 2),
    ("tom.becker@transit.example.gov", "Tom Becker", ["buyer"], 3),
    ("grace.kim@marketplace.example.gov", "Grace Kim", ["reviewer"], None),
    ("omar.haddad@springfield.example.gov", "Omar Haddad", ["reviewer"], 0),
    ("june.park@marketplace.example.gov", "June Park", ["finance"], None),
    ("sam.oyelaran@oig.example.gov", "Sam Oyelaran (Inspector General)", ["auditor"], None),
)

# (email, name, verification kind, registry id); the last one is left pending for the admin.
VENDORS = (
    ("hello@tidewater.dev", "Tidewater Software LLC", "business", "UEI-TWS8K2LM4Q"),
    ("contact@brightpath.io", "Brightpath Digital Co-op", "business", "UEI-BPD3N7XR2A"),
    ("ana.souza@fastmail.example", "Ana Souza", "individual", "SAM-IND-40817"),
    ("dev@quillandbyte.com", "Quill & Byte Studio", "business", "UEI-QBS5H1ZT9C"),
    ("ravi.k@student.example.edu", "Ravi Krishnan", "student", "EDU-STATEU-221904"),
    ("mia.chen@example.com", "Mia Chen", "individual", "SAM-IND-51233"),
    ("ops@northloop.tech", "Northloop Technologies", "business", "UEI-NLT6W4PB8D"),
    ("jbrooks@student.example.edu", "Jordan Brooks", "student", "EDU-CITYCOL-8812"),
    ("team@openparcel.org", "OpenParcel Civic Tech", "business", "UEI-OPC2J9VK5E"),
    ("e.adeyemi@example.com", "Emeka Adeyemi", "individual", "SAM-IND-60391"),
    ("h.lindqvist@example.com", "Hanna Lindqvist", "individual", "SAM-IND-70214"),
)


class Task(msgspec.Struct, frozen=True, kw_only=True):
    """One demo auction and the state it is left in."""

    department: int
    title: str
    summary: str
    criteria: tuple[str, ...]
    repo: str
    issue: int
    skills: tuple[str, ...]
    cap: int
    state: str  # open, closing, scheduled, awarded, no_bids, draft
    type: str = "reverse"
    bids: int = 0
    decrement: int = 100
    # A clarification question a vendor asks, and the buyer's answer.
    question: tuple[str, str] | None = None
    # Bids placed as given, (index among the verified vendors, amount), instead of random
    # ones: the tasks that show the red flags of /audit/flags.
    offers: tuple[tuple[int, int], ...] = ()


TASKS = (
    Task(
        department=0,
        title="Fix the date picker on the building permit form in Safari",
        summary="Safari 17 users cannot choose an inspection date; the picker closes at once.",
        criteria=(
            "Dates can be picked in Safari 17, Chrome and Firefox",
            "A Playwright test covers the picker in WebKit",
            "No change to the submitted date format (YYYY-MM-DD)",
        ),
        repo="springfield-gov/permits-portal",
        issue=214,
        skills=("javascript", "playwright"),
        cap=150_000,
        state="open",
        question=(
            "Does the fix need to cover the renewal form too? It uses the same picker.",
            "Yes: both forms share the picker component, so one fix and one test cover both.",
        ),
        bids=7,
    ),
    Task(
        department=1,
        title="Export vaccination clinic hours as an iCalendar feed",
        summary="Residents want clinic hours in their calendar apps.",
        criteria=(
            "GET /clinics/{id}/hours.ics returns a valid RFC 5545 feed",
            "Recurring weekly hours use RRULE, holidays use EXDATE",
            "Unit tests validate the feed with the icalendar library",
        ),
        repo="state-health/clinic-finder",
        issue=88,
        skills=("python", "django"),
        cap=400_000,
        state="open",
        bids=9,
        decrement=500,
    ),
    Task(
        department=2,
        title="Make the catalog search results page pass WCAG 2.1 AA",
        summary="An accessibility audit found 14 issues on the search results page.",
        criteria=(
            "axe-core reports no violations on /search",
            "Results are announced to screen readers when filters change",
            "Keyboard users can reach every facet and result",
        ),
        repo="county-library/catalog-web",
        issue=503,
        skills=("accessibility", "react"),
        cap=600_000,
        state="closing",
        bids=5,
    ),
    Task(
        department=3,
        title="Show real-time arrival predictions on stop pages",
        summary="Stop pages show only the timetable; the GTFS-Realtime feed is not used.",
        criteria=(
            "Stop pages show the next three predicted arrivals",
            "Predictions refresh every 30 s without a page reload",
            "Falls back to the timetable when the feed is stale",
        ),
        repo="metro-transit/rider-info",
        issue=1207,
        skills=("typescript", "gtfs"),
        cap=850_000,
        state="closing",
        bids=4,
        decrement=1_000,
    ),
    Task(
        department=0,
        title="Add CSV export to the contractor license lookup",
        summary="Clerks copy search results by hand into spreadsheets.",
        criteria=(
            "An 'Export CSV' button downloads the current results",
            "Exports stream, so 50,000 rows do not time out",
            "Columns match the on-screen table",
        ),
        repo="springfield-gov/license-lookup",
        issue=41,
        skills=("python", "flask"),
        cap=90_000,
        state="scheduled",
    ),
    Task(
        department=1,
        title="Translate the WIC eligibility screener into Spanish",
        summary="Wire the existing i18n framework into the screener and add es-US strings.",
        criteria=(
            "All screener strings come from the message catalog",
            "es-US translations reviewed by the department (provided)",
            "Language switcher remembers the choice",
        ),
        repo="state-health/wic-screener",
        issue=17,
        skills=("i18n", "vue"),
        cap=300_000,
        state="open",
        type="sealed",
        bids=3,
    ),
    Task(
        department=2,
        title="Replace the cron-based overdue notices with a queue worker",
        summary="Nightly cron misses notices when the mail server is slow.",
        criteria=(
            "Notices are sent by a retrying worker, each exactly once",
            "A failed send is retried with backoff and logged",
            "Integration test with a fake SMTP server",
        ),
        repo="county-library/circulation",
        issue=320,
        skills=("python", "celery"),
        cap=500_000,
        state="awarded",
        bids=6,
        decrement=500,
    ),
    Task(
        department=3,
        title="Fix timezone bug in service-alert expiry",
        summary="Alerts posted after 5 pm expire a day early (UTC vs local time).",
        criteria=(
            "Alert expiry is computed in America/Chicago",
            "Regression tests around DST changes",
            "No migration of existing alerts needed",
        ),
        repo="metro-transit/service-alerts",
        issue=66,
        skills=("go",),
        cap=120_000,
        state="awarded",
        type="sealed",
        bids=4,
    ),
    Task(
        department=0,
        title="Document the permits API with an OpenAPI 3.1 spec",
        summary="Partners integrate by reading the source; publish a spec instead.",
        criteria=(
            "openapi.yaml covers every public endpoint",
            "CI validates the spec against the running app",
            "Rendered docs at /docs",
        ),
        repo="springfield-gov/permits-api",
        issue=9,
        skills=("openapi", "documentation"),
        cap=50_000,
        state="no_bids",
    ),
    # Three awards of the transit authority that an auditor should look at: one vendor won
    # them all (with the sealed award above, at least three of its four this quarter), two
    # of them together exceed the micro-purchase threshold within days, the first at its
    # cap with a single bidder, the last a tie of identical sealed bids.
    Task(
        department=3,
        title="Migrate the trip planner geocoder to the regional address service",
        summary="The trip planner still calls a geocoder the region retired.",
        criteria=(
            "Addresses resolve through the regional service",
            "Fallback to stop names when an address is ambiguous",
        ),
        repo="metro-transit/trip-planner",
        issue=402,
        skills=("python",),
        cap=600_000,
        state="awarded",
        offers=((0, 600_000),),
    ),
    Task(
        department=3,
        title="Add the regional address service to the paratransit booking form",
        summary="Booking agents type addresses twice; reuse the regional service.",
        criteria=(
            "The booking form autocompletes addresses",
            "Existing bookings keep their addresses",
        ),
        repo="metro-transit/paratransit-booking",
        issue=88,
        skills=("python", "javascript"),
        cap=550_000,
        state="awarded",
        offers=((0, 540_000),),
    ),
    Task(
        department=3,
        title="Publish elevator outages as GTFS-Realtime alerts",
        summary="Elevator outages are posted on a web page only.",
        criteria=(
            "Outages appear in the alerts feed within a minute",
            "Each alert names the station and the elevator",
        ),
        repo="metro-transit/service-alerts",
        issue=71,
        skills=("go", "gtfs"),
        cap=200_000,
        state="awarded",
        type="sealed",
        offers=((0, 150_000), (3, 150_000)),
    ),
    Task(
        department=1,
        title="Add a dark mode to the health alerts dashboard",
        summary="Operators work night shifts; the dashboard is too bright.",
        criteria=(
            "Follows prefers-color-scheme, with a manual toggle",
            "Contrast ratios meet WCAG AA in both themes",
        ),
        repo="state-health/alerts-dashboard",
        issue=142,
        skills=("css", "react"),
        cap=80_000,
        state="draft",
    ),
)


def _description(task: Task) -> str:
    items = "\n".join(f"- {c}" for c in task.criteria)
    return (
        f"{task.summary}\n\n## Acceptance criteria\n{items}\n\n"
        f"Deliver a pull request to {task.repo} that references #{task.issue}, "
        "with passing checks, merged by someone other than its author."
    )


def _caller(user: User) -> Caller:
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


async def _users_by_email(pool: Pool) -> dict[str, Any]:
    found: dict[str, Any] = {}
    after = 0
    async with pool.acquire() as conn:
        while rows := await account_queries.list_users(conn, after, 500, None):
            found.update({r["email"]: accounts.user_from_row(r) for r in rows})
            after = rows[-1]["id"]
    return found


async def _find(pool: Pool, buyer: Caller, title: str) -> Auction | None:
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
            user = await accounts.request_verification(self.pool, _caller(user), asked, REQUEST_ID)
        self.users[email] = user
        return user

    async def verify(self, admin: Caller, vendor: User) -> User:
        if vendor.verification_status == "pending":
            decision = VerificationDecision(status="verified", reason="registry record active")
            actor = admin.actor("admin", REQUEST_ID)
            vendor = await accounts.decide_verification(self.pool, actor, vendor.id, decision)
            self.users[vendor.email] = vendor
        return vendor

    async def auction(self, task: Task, buyer: Caller, vendors: list[Caller]) -> None:
        if await _find(self.pool, buyer, task.title) is not None:
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
            description=_description(task),
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
            await _backdate(self.pool, created.id, dt.timedelta(days=self.rng.randint(2, 9)))
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


async def _backdate(pool: Pool, auction_id: int, ago: dt.timedelta) -> None:
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
    walk: Any = None  # marketplace.demo_states.Walk when seeded against the GitHub sandbox
    sandbox_url: str | None = None


async def seed(settings: Settings, database_url: str, redis_url: str, sandbox: Any = None) -> Demo:
    """Seed (or find) the demo marketplace and issue fresh tokens for its personas.

    With ``sandbox`` (a marketplace.sandbox.server.Sandbox), the auctions after award are
    seeded too (marketplace/demo_states.py); that needs a worker running against it.
    """
    settings = msgspec.structs.replace(settings, min_auction_seconds=DEMO_MIN_AUCTION_SECONDS)
    if sandbox is not None:
        from marketplace.demo_states import sandbox_settings

        settings = sandbox_settings(settings, sandbox)
    pool = await create_pool(database_url, min_size=1, max_size=4)
    redis = create_redis(redis_url)
    try:
        seeder = Seeder(pool, redis, settings, await _users_by_email(pool))
        admin = _caller(await seeder.user(SYSTEM, ADMIN_EMAIL, "Dana Whitfield", ["admin"], None))
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
        verified = [_caller(await seeder.verify(admin, v)) for v in vendors[:-1]]
        buyers = {s.department_id: _caller(s) for s in staff if "buyer" in s.roles}
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
        found = await _find(pool, buyers[departments[task.department]], task.title)
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
    from marketplace.demo_states import SCENES, AfterAward

    after = AfterAward(seeder, sandbox, departments)
    repos = [(t.repo, t.issue) for t in TASKS] + [(s.repo, s.issue) for s in SCENES]
    await after.prepare(verified[0], repos)
    reviewer = next(_caller(u) for u in staff if "reviewer" in u.roles and u.department_id is None)
    finance = next(_caller(u) for u in staff if "finance" in u.roles)
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
            from marketplace.demo_states import VENDOR_LOGIN

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
