"""A model-based race test of one reverse auction (DESIGN §4), called through the services.

Hypothesis generates short programs against a fresh auction: sequential bids from several
vendors (valid and invalid amounts), bursts of 2-8 bids sent at once on separate pooled
connections, idempotent retries (same key and body; same key, other body), moves of the end
(near it, far from it, past it, or just ahead of a burst) and a final close. Sequential steps
are predicted exactly by an in-memory model; a burst may end in any order PostgreSQL chooses,
so its answers are checked against every order that is consistent with what was committed.
Hypothesis does not run async rules, so each example runs on a dedicated event loop.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import asyncpg
import msgspec
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from marketplace.accounts import queries as account_queries
from marketplace.accounts import service as accounts
from marketplace.accounts.schemas import UserCreate
from marketplace.auctions import lifecycle
from marketplace.auctions import service as auctions
from marketplace.auctions.schemas import AuctionCreate
from marketplace.audit.record import SYSTEM
from marketplace.auth import Caller
from marketplace.bids import service as bids
from marketplace.db import create_pool
from marketplace.errors import DomainError
from marketplace.settings import Settings
from tests.conftest import Servers, with_database

T = TypeVar("T")

VENDORS = 4
CAP = 10_000
SOFT_CLOSE = 30
EXAMPLES = int(os.environ.get("MARKETPLACE_RACE_EXAMPLES", "300"))

# One step of a program. ``delta`` is subtracted from the model's maximum at run time, so
# negative deltas make amounts that are too high.
_vendor = st.integers(0, VENDORS - 1)
_delta = st.integers(-300, 400)
_key = st.one_of(st.none(), st.just("key"))
_single = st.tuples(st.just("bid"), _vendor, _delta, _key)
_burst_item = st.tuples(_vendor, _delta, _key, st.booleans())
_burst = st.tuples(st.just("burst"), st.lists(_burst_item, min_size=2, max_size=8))
_retry = st.tuples(st.just("retry"), st.integers(0, 50), st.booleans())
_near = st.tuples(st.just("near_end"), st.integers(3, SOFT_CLOSE - 8))
_far = st.tuples(st.just("far_end"))
_expire = st.tuples(st.just("expire"))
_edge = st.tuples(
    st.just("edge_burst"),
    st.integers(0, 40),
    st.lists(st.tuples(_vendor, _delta, st.none(), st.just(False)), min_size=2, max_size=6),
)
_step = st.one_of(_single, _single, _burst, _retry, _near, _far, _edge, _expire)
_program = st.tuples(
    st.sampled_from([1, 100, 250]),  # min decrement
    st.integers(0, 3),  # max extensions
    st.lists(_step, min_size=1, max_size=10),
)


class Jobs:
    """Stands in for the arq queue: records the close jobs the bid path schedules."""

    def __init__(self) -> None:
        self.closes: list[dt.datetime] = []

    async def enqueue_job(self, name: str, *args: Any, _job_id: str, _defer_until: Any) -> None:
        if name == "close_auction":
            self.closes.append(_defer_until)


@dataclass
class Outcome:
    """What the service answered: status, code and the decoded body."""

    vendor: int
    amount: int
    status: int
    body: dict[str, Any]
    raw: bytes

    @property
    def code(self) -> str | None:
        code = self.body.get("code")
        return str(code) if code is not None else None


@dataclass
class Model:
    decrement: int
    max_extensions: int
    low: int | None = None
    low_bidder: int | None = None
    extensions: int = 0
    in_window: bool = False  # the end is within soft_close_seconds of now
    expired: bool = False
    accepted: list[tuple[int, int, int]] = field(default_factory=list)  # (bid id, vendor, amount)
    keyed: list[tuple[int, str, int, Outcome]] = field(default_factory=list)
    end_moves: list[tuple[int, dt.datetime]] = field(default_factory=list)
    keys: int = 0

    @property
    def maximum(self) -> int:
        return CAP if self.low is None else self.low - self.decrement

    def accept(self, bid_id: int, vendor: int, amount: int, extend: bool = True) -> None:
        self.accepted.append((bid_id, vendor, amount))
        self.low, self.low_bidder = amount, vendor
        if extend and self.in_window and self.extensions < self.max_extensions:
            self.extensions += 1

    def last_bid_id(self) -> int:
        return self.accepted[-1][0] if self.accepted else 0


class World:
    """The shared database, its users, and a pool, all on one event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, pool: Any, settings: Settings) -> None:
        self.loop = loop
        self.pool = pool
        self.settings = settings
        self.buyer: Caller | None = None
        self.vendors: list[Caller] = []

    def run(self, work: Callable[[], Awaitable[T]]) -> T:
        return self.loop.run_until_complete(work())

    async def setup(self) -> None:
        department = await accounts.create_department(self.pool, SYSTEM, "Race model department")
        buyer = await accounts.create_user(
            self.pool,
            SYSTEM,
            UserCreate(
                email="buyer@race.example.gov",
                name="Buyer",
                roles=["buyer"],
                department_id=department.id,
            ),
        )
        self.buyer = _caller(buyer.id, "buyer", department.id)
        for n in range(VENDORS):
            vendor = await accounts.create_user(
                self.pool,
                SYSTEM,
                UserCreate(email=f"vendor{n}@race.example.com", name=f"V{n}", roles=["vendor"]),
            )
            async with self.pool.acquire() as conn:
                await account_queries.decide_verification(conn, vendor.id, "verified", "race")
            self.vendors.append(_caller(vendor.id, "vendor", None))


def _caller(user_id: int, role: str, department_id: int | None) -> Caller:
    return Caller(
        id=user_id,
        email=f"{user_id}@race.example",
        name=str(user_id),
        roles=frozenset({role}),
        department_id=department_id,
        verification_status="verified",
        token_id=0,
    )


async def _new_auction(world: World, decrement: int, max_extensions: int, jobs: Jobs) -> int:
    assert world.buyer is not None
    now = dt.datetime.now(dt.UTC)
    data = AuctionCreate(
        title="Race model task",
        summary="s",
        description="d",
        repo="city/race",
        price_cap_cents=CAP,
        min_decrement_cents=decrement,
        starts_at=now - dt.timedelta(seconds=1),
        ends_at=now + dt.timedelta(hours=1),
        delivery_business_days=5,
        soft_close_seconds=SOFT_CLOSE,
        max_extensions=max_extensions,
    )
    created = await auctions.create(world.pool, world.settings, world.buyer, data, "race")
    published = await auctions.publish(
        world.pool, jobs, world.settings, world.buyer, created.id, "race"
    )
    assert published.status == "open"
    return created.id


async def _bid(
    world: World, jobs: Jobs, auction_id: int, vendor: int, amount: int, key: str | None
) -> Outcome:
    try:
        answer = await bids.place_bid(
            world.pool, jobs, world.vendors[vendor], auction_id, amount, key, "race"
        )
    except DomainError as refusal:
        raw = msgspec.json.encode(refusal.body())
        return Outcome(vendor, amount, refusal.status, refusal.body(), raw)
    return Outcome(vendor, amount, answer.status, msgspec.json.decode(answer.body), answer.body)


async def _move_end(world: World, auction_id: int, seconds: float) -> dt.datetime:
    async with world.pool.acquire() as conn:
        ends_at: dt.datetime = await conn.fetchval(
            """UPDATE auctions SET ends_at = now() + $2 * interval '1 second'
               WHERE id = $1 RETURNING ends_at""",
            auction_id,
            seconds,
        )
    return ends_at


def _check_sequential(model: Model, got: Outcome) -> None:
    """A bid with nothing racing it: the model predicts the exact answer."""
    if model.expired:
        assert (got.status, got.code) == (409, "auction_closed"), got
    elif got.vendor == model.low_bidder:
        assert (got.status, got.code) == (409, "already_low_bidder"), got
    elif got.amount > model.maximum:
        assert (got.status, got.code) == (422, "amount_too_high"), got
        assert got.body["max_allowed_cents"] == model.maximum, (got, model.maximum)
    else:
        assert got.status == 201, got
        model.accept(int(got.body["id"]), got.vendor, got.amount)


async def _new_bids(world: World, auction_id: int, after: int) -> tuple[list[Any], int]:
    """Bids accepted after the bid whose public id is ``after`` (0: all), in acceptance
    order, with their public ids, and the auction's extensions."""
    async with world.pool.acquire() as conn:
        rows: list[Any] = await conn.fetch(
            "SELECT b.public_id AS id, b.bidder_id, b.amount_cents FROM bids b"
            " WHERE b.auction_id = $1"
            " AND b.id > coalesce((SELECT c.id FROM bids c WHERE c.public_id = $2), 0)"
            " ORDER BY b.id",
            auction_id,
            after,
        )
        extensions: int = await conn.fetchval(
            "SELECT extensions FROM auctions WHERE id = $1", auction_id
        )
    return rows, extensions


def _check_burst(
    model: Model,
    world: World,
    outcomes: list[Outcome],
    new: list[Any],
    may_close: bool,
    extensions: int,
) -> None:
    """Answers of racing bids: each must fit some order consistent with what was committed."""
    vendor_of = {v.id: n for n, v in enumerate(world.vendors)}
    accepted_ids = {int(o.body["id"]) for o in outcomes if o.status == 201}
    assert accepted_ids == {r["id"] for r in new}, (outcomes, new)
    maxima = {model.maximum} | {r["amount_cents"] - model.decrement for r in new}
    lows = {model.low_bidder} | {vendor_of[r["bidder_id"]] for r in new}
    event(f"burst: {len(new)} of {len(outcomes)} accepted")
    for got in outcomes:
        if got.status == 201:
            continue
        event(f"burst refusal: {got.code}")
        if got.status == 422:
            assert got.code == "amount_too_high", got
            assert got.body["max_allowed_cents"] in maxima, (got, maxima)
            assert got.amount > got.body["max_allowed_cents"], got
        elif got.code == "already_low_bidder":
            assert got.vendor in lows, (got, lows)
        elif got.code == "auction_closed":
            assert may_close or model.expired, got
        else:
            raise AssertionError(f"unexpected answer in a burst: {got}")
    # Soft close measures from each bid's own transaction start, so a bid that began before
    # a racing bid extended the end (and then waited for its lock) is not "near" the new end:
    # the first bid of a burst near the end extends, the others may or may not.
    least = model.extensions
    if new and model.in_window and model.extensions < model.max_extensions:
        least += 1
    most = min(model.max_extensions, model.extensions + len(new))
    assert least <= extensions <= most, (least, extensions, most)
    for row in new:
        model.accept(row["id"], vendor_of[row["bidder_id"]], row["amount_cents"], extend=False)
    model.extensions = extensions


async def _run_step(world: World, jobs: Jobs, auction_id: int, model: Model, step: Any) -> None:
    kind = step[0]
    if kind == "bid":
        _, vendor, delta, key = step
        amount = max(1, model.maximum - delta)
        if key is not None:
            model.keys += 1
            key = f"k{model.keys}"
        got = await _bid(world, jobs, auction_id, vendor, amount, key)
        _check_sequential(model, got)
        if key is not None:
            model.keyed.append((vendor, key, amount, got))
    elif kind in ("burst", "edge_burst"):
        items = step[-1]
        may_close = kind == "edge_burst"
        if may_close:
            ends = await _move_end(world, auction_id, step[1] / 1000)
            model.end_moves.append((model.last_bid_id(), ends))
            model.in_window = True
        calls = []
        for vendor, delta, key, duplicate in items:
            amount = max(1, model.maximum - delta)
            if key is not None:
                model.keys += 1
                key = f"k{model.keys}"
            calls.append((vendor, amount, key))
            if duplicate and key is not None:
                event("burst: one key sent twice at once")
                calls.append((vendor, amount, key))
        outcomes = await asyncio.gather(
            *(_bid(world, jobs, auction_id, v, a, k) for v, a, k in calls)
        )
        new, extensions = await _new_bids(world, auction_id, model.last_bid_id())
        # A key sent twice at once: one request decided, the other replays that answer.
        by_key: dict[str, list[Outcome]] = {}
        for call, got in zip(calls, outcomes, strict=True):
            if call[2] is not None:
                by_key.setdefault(call[2], []).append(got)
        unique = []
        for (vendor, amount, key), got in zip(calls, outcomes, strict=True):
            if key is None:
                unique.append(got)
            elif by_key[key][0] is got:
                same = [(o.status, o.raw) for o in by_key[key]]
                assert all(answer == (got.status, got.raw) for answer in same), same
                unique.append(got)
                model.keyed.append((vendor, key, amount, got))
        _check_burst(model, world, unique, new, may_close, extensions)
        if may_close:
            await asyncio.sleep(0.05)  # let an end that was not extended pass for sure
            async with world.pool.acquire() as conn:
                model.expired = await conn.fetchval(
                    "SELECT ends_at <= now() FROM auctions WHERE id = $1", auction_id
                )
    elif kind == "retry":
        if not model.keyed:
            return
        _, index, same = step
        vendor, key, amount, original = model.keyed[index % len(model.keyed)]
        got = await _bid(world, jobs, auction_id, vendor, amount if same else amount + 1, key)
        event(f"retry of a {original.status} with the {'same' if same else 'other'} body")
        if same:
            assert (got.status, got.raw) == (original.status, original.raw), (got, original)
        else:
            assert (got.status, got.code) == (409, "idempotency_key_reused"), got
    elif kind == "near_end":
        model.end_moves.append((model.last_bid_id(), await _move_end(world, auction_id, step[1])))
        model.in_window, model.expired = True, False
    elif kind == "far_end":
        model.end_moves.append((model.last_bid_id(), await _move_end(world, auction_id, 3600)))
        model.in_window, model.expired = False, False
    elif kind == "expire":
        model.end_moves.append((model.last_bid_id(), await _move_end(world, auction_id, -0.001)))
        model.in_window, model.expired = True, True


async def _check_committed(world: World, jobs: Jobs, auction_id: int, model: Model) -> None:
    """The stored auction, bids and outbox agree with the model, then the close picks the winner."""
    vendor_of = {v.id: n for n, v in enumerate(world.vendors)}
    async with world.pool.acquire() as conn:
        auction = await conn.fetchrow("SELECT * FROM auctions WHERE id = $1", auction_id)
        rows = await conn.fetch(
            "SELECT b.public_id AS id, b.id AS seq, b.bidder_id, b.amount_cents, b.placed_at"
            " FROM bids b WHERE b.auction_id = $1 ORDER BY b.id",
            auction_id,
        )
        events = await conn.fetch(
            "SELECT id, type, payload, created_at FROM outbox WHERE auction_id = $1 AND type IN"
            " ('bid.placed', 'auction.extended') ORDER BY id",
            auction_id,
        )
    stored = [(r["id"], vendor_of[r["bidder_id"]], r["amount_cents"]) for r in rows]
    assert stored == model.accepted
    # Bids are named by their public ids; the internal id is their acceptance order.
    seq_of = {r["id"]: r["seq"] for r in rows}
    previous: tuple[int, int, int] | None = None
    for bid_id, vendor, amount in stored:
        if previous is None:
            assert amount <= CAP
        else:
            assert amount <= previous[2] - model.decrement, (previous, amount)
            assert vendor != previous[1], "the low bidder bid twice in a row"
        previous = (bid_id, vendor, amount)
    assert auction["bid_count"] == len(stored)
    assert auction["lowest_cents"] == model.low
    assert auction["extensions"] == model.extensions <= model.max_extensions
    placed = [msgspec.json.decode(e["payload"]) for e in events if e["type"] == "bid.placed"]
    decided = [e["created_at"] for e in events if e["type"] == "bid.placed"]
    extended = [
        msgspec.json.decode(e["payload"]) for e in events if e["type"] == "auction.extended"
    ]
    assert [p["bid_id"] for p in placed] == [r["id"] for r in rows], "outbox != bids"
    assert len(extended) == model.extensions
    event(f"extensions: {model.extensions} of {model.max_extensions}")
    assert sorted(jobs.closes[1:]) == sorted(
        dt.datetime.fromisoformat(e["ends_at"]) for e in extended
    ), "every extension schedules the close at the new end"
    # No bid was accepted at or after the end in force when it was decided. The decision's
    # instant is its transaction's now(), which the guard compares, the outbox row keeps and
    # the bid's placed_at shows (sql/0010).
    moves = list(model.end_moves)
    end = jobs.closes[0]
    for row, bid_event, at in zip(rows, placed, decided, strict=True):
        while moves and seq_of.get(moves[0][0], 0) < row["seq"]:
            end = moves.pop(0)[1]
        assert at < end, (row, at, end)
        assert row["placed_at"] == at, (row, at)
        end = dt.datetime.fromisoformat(bid_event["ends_at"])

    # Close: the winner is the lowest amount, earliest on a tie; runners-up by best bid.
    await _move_end(world, auction_id, -0.001)
    status = await lifecycle.close_auction(world.pool, auction_id, world.settings)
    assert status == ("awarded" if stored else "closed_no_bids")
    assert await lifecycle.close_auction(world.pool, auction_id, world.settings) is None
    if stored:
        ranked = sorted(stored, key=lambda b: (b[2], seq_of[b[0]]))
        runners: list[int] = []
        for _, vendor, _ in ranked[1:]:
            if vendor != ranked[0][1] and vendor not in runners:
                runners.append(vendor)
        async with world.pool.acquire() as conn:
            awards = await conn.fetch(
                "SELECT winner_id, bid_id, amount_cents, runner_up_ids FROM awards"
                " WHERE auction_id = $1",
                auction_id,
            )
        assert len(awards) == 1
        assert awards[0]["bid_id"] == seq_of[ranked[0][0]]
        assert awards[0]["amount_cents"] == ranked[0][2]
        assert [vendor_of[i] for i in awards[0]["runner_up_ids"]] == runners
    late = await _bid(world, jobs, auction_id, 0, 1, None)
    assert (late.status, late.code) == (409, "auction_not_open"), late


async def _example(world: World, program: Any) -> None:
    decrement, max_extensions, steps = program
    jobs = Jobs()
    auction_id = await _new_auction(world, decrement, max_extensions, jobs)
    jobs.closes = jobs.closes[-1:]  # publish scheduled the first close
    model = Model(decrement=decrement, max_extensions=max_extensions)
    for step in steps:
        await _run_step(world, jobs, auction_id, model, step)
    await _check_committed(world, jobs, auction_id, model)


def test_bids_race_model(servers: Servers, template: str) -> None:
    loop = asyncio.new_event_loop()
    name = f"mp_race_{os.getpid()}"

    async def start() -> World:
        admin = await asyncpg.connect(servers.database_url)
        try:
            await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            await admin.execute(f"CREATE DATABASE {name} TEMPLATE {template}")
        finally:
            await admin.close()
        url = with_database(servers.database_url, name)
        pool = await create_pool(url, min_size=2, max_size=10)
        world = World(loop, pool, Settings(database_url=url, min_auction_seconds=1))
        await world.setup()
        return world

    async def stop(world: World) -> None:
        await world.pool.close()
        admin = await asyncpg.connect(servers.database_url)
        try:
            await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        finally:
            await admin.close()

    world = loop.run_until_complete(start())
    try:

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )
        @given(program=_program)
        def run(program: Any) -> None:
            world.run(lambda: _example(world, program))

        run()
    finally:
        loop.run_until_complete(stop(world))
        loop.close()
