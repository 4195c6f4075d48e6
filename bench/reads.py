"""Benchmark: public reads as history grows (issue 27), at two or more sizes in one run.

For each size N it seeds, through SQL that keeps every constraint and audit chain (rows are
written by audit_append(), the service's own function), N closed and awarded auctions with
10 bids each from 10 of 200 vendors, one audit row per bid and per award, and one auction in
50 re-awarded to its runner-up (round 2). Then it times p50 and p99 of --repeat HTTP
requests each, to the app in this process (Litestar's ASGI test client, so routing, the
caller's token, the query and the JSON or the page are all in the figure): the platform
figures (/api/metrics, /insights), award notices (/api/awards, /awards), the auction list
(default, skill, q; /), an auction and its bids, the Prometheus scrape, a department's
spend (all years; a from/to that cuts two days) and the audit event browser (default, one
auction, an hour, a rare action); and, as the rows named "before", the statements the slow
ones ran on every request before (issue 27).

It prints each figure per size and the growth from the smallest size to each larger one.

    python bench/reads.py --sizes 1000,20000 --repeat 50

Embedded PostgreSQL is started in a temporary data dir unless MARKETPLACE_DATABASE_URL and
MARKETPLACE_REDIS_URL are set, in which case a scratch database per size is created (and
dropped).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.search import ms as pct
from bench.search import timed
from marketplace.settings import Settings, load_settings

VENDORS = 200
BIDS_PER_AUCTION = 10

# Award notices before sql/0025_read_scale.sql: the latest round by a subquery per award.
BEFORE_AWARDS = """SELECT w.id FROM awards w JOIN auctions a ON a.id = w.auction_id
    WHERE a.closed_at IS NOT NULL AND w.round = (
        SELECT max(x.round) FROM awards x WHERE x.auction_id = w.auction_id)
    ORDER BY w.awarded_at DESC, w.id DESC LIMIT 21"""

# Department spend before sql/0036_department_spend_days.sql: every active award of the
# department, grouped by local period on each request.
BEFORE_SPEND = """SELECT date_trunc('year', w.awarded_at AT TIME ZONE $2) AS start, count(*),
        sum(w.amount_cents)::bigint,
        coalesce(sum(w.amount_cents) FILTER (WHERE a.status = ANY($3::text[])), 0)::bigint,
        count(*) FILTER (WHERE a.status = ANY($3::text[])),
        count(*) FILTER (WHERE w.amount_cents * 10 >= $4::bigint * 9),
        count(*) FILTER (WHERE w.amount_cents * 10 >= a.price_cap_cents * 9)
    FROM awards w JOIN auctions a ON a.id = w.auction_id
    WHERE a.department_id = $1 AND w.status = 'active'
    GROUP BY 1 ORDER BY 1"""


async def seed(url: str, count: int) -> None:
    conn = await asyncpg.connect(url)
    try:
        dept = await conn.fetchval("INSERT INTO departments (name) VALUES ('Bench') RETURNING id")
        buyer = await conn.fetchval(
            """INSERT INTO users (email, name, roles, department_id)
               VALUES ('buyer@reads.bench', 'Buyer', '{buyer}', $1) RETURNING id""",
            dept,
        )
        await conn.execute(
            """INSERT INTO users (email, name, roles)
               SELECT 'vendor' || v || '@reads.bench', 'Vendor ' || v, '{vendor}'
               FROM generate_series(1, $1) v""",
            VENDORS,
        )
        vendor_ids = [
            r["id"] for r in await conn.fetch("SELECT id FROM users WHERE roles = '{vendor}'")
        ]
        step = 2000
        for start in range(0, count, step):
            n = min(step, count - start)
            async with conn.transaction():
                ids = [
                    r["id"]
                    for r in await conn.fetch(
                        """INSERT INTO auctions (department_id, created_by, title, summary,
                               repo, type, status, price_cap_cents, min_decrement_cents,
                               starts_at, ends_at, scheduled_ends_at, delivery_business_days,
                               opened_at, published_at, closed_at, skills)
                           SELECT $1, $2, 'Task ' || g, 'A summary.', 'bench/tasks', 'reverse',
                               'awarded', 500000, 100, t - interval '2 hours', t, t, 10,
                               t - interval '2 hours', t - interval '3 hours', t,
                               CASE WHEN g % 3 = 0 THEN '{python}'::text[] ELSE '{go}' END
                           FROM generate_series($3::int, $3 + $4 - 1) g,
                                LATERAL (SELECT now() - make_interval(mins => g) AS t) x
                           RETURNING id""",
                        dept,
                        buyer,
                        start,
                        n,
                    )
                ]
                await conn.execute(
                    """INSERT INTO auction_bidders (auction_id, bidder_id, alias_number)
                       SELECT a, ($2::bigint[])[1 + (a * 7 + k * 13) % $3], k
                       FROM unnest($1::bigint[]) a, generate_series(1, $4) k""",
                    ids,
                    vendor_ids,
                    VENDORS,
                    BIDS_PER_AUCTION,
                )
                await conn.execute(
                    """INSERT INTO bids (auction_id, bidder_id, amount_cents, placed_at)
                       SELECT ab.auction_id, ab.bidder_id,
                              500000 - ab.alias_number * 1000 - ab.auction_id % 997,
                              now() - interval '3 hours' + ab.alias_number * interval '1 second'
                       FROM auction_bidders ab WHERE ab.auction_id = ANY($1::bigint[])
                       ORDER BY ab.auction_id, ab.alias_number""",
                    ids,
                )
                await conn.execute(
                    """INSERT INTO awards (auction_id, round, winner_id, bid_id, amount_cents,
                           runner_up_ids, awarded_at)
                       SELECT DISTINCT ON (b.auction_id) b.auction_id, 1, b.bidder_id, b.id,
                              b.amount_cents, '{}', a.closed_at
                       FROM bids b JOIN auctions a ON a.id = b.auction_id
                       WHERE b.auction_id = ANY($1::bigint[])
                       ORDER BY b.auction_id, b.amount_cents, b.id""",
                    ids,
                )
                # One auction in 50 re-awarded to its runner-up.
                await conn.execute(
                    """WITH moved AS (
                           UPDATE awards SET status = 'declined', ended_at = awarded_at
                           WHERE auction_id = ANY($1::bigint[]) AND auction_id % 50 = 0
                           RETURNING auction_id, winner_id, awarded_at)
                       INSERT INTO awards (auction_id, round, winner_id, bid_id, amount_cents,
                           awarded_at)
                       SELECT DISTINCT ON (m.auction_id) m.auction_id, 2, b.bidder_id, b.id,
                              b.amount_cents, m.awarded_at + interval '1 day'
                       FROM moved m JOIN bids b
                         ON b.auction_id = m.auction_id AND b.bidder_id <> m.winner_id
                       ORDER BY m.auction_id, b.amount_cents, b.id""",
                    ids,
                )
                await conn.execute(
                    """SELECT audit_append('auction:' || b.auction_id, b.auction_id, false,
                              '{"action":"bid.placed","bid_id":' || b.public_id || '}')
                       FROM bids b WHERE b.auction_id = ANY($1::bigint[]) ORDER BY b.id""",
                    ids,
                )
                await conn.execute(
                    """SELECT audit_append('auction:' || w.auction_id, w.auction_id, false,
                              '{"action":"award.made","round":' || w.round
                              || ',"after":{"status":"awarded"}}')
                       FROM awards w WHERE w.auction_id = ANY($1::bigint[]) ORDER BY w.id""",
                    ids,
                )
            print(f"\rseeded {start + n:,}/{count:,} auctions", end="", file=sys.stderr)
        print(file=sys.stderr)
        await conn.execute("VACUUM (ANALYZE)")
    finally:
        await conn.close()


async def measure(
    url: str, redis_url: str, settings: Settings, repeat: int
) -> dict[str, tuple[float, float]]:
    """p50 and p99 of each request, over HTTP to the app in this process (Litestar's ASGI
    test client: routing, the caller's token, the query, the JSON or the page, no sockets),
    and of the statements the slow ones ran before."""
    import msgspec
    from litestar.testing import AsyncTestClient

    from marketplace.accounts import queries as account_queries
    from marketplace.app import create_app
    from marketplace.auth import new_token
    from marketplace.db import create_pool
    from marketplace.transparency import figures
    from marketplace.transparency.queries import PAID

    local = msgspec.structs.replace(
        settings,
        database_url=url,
        redis_url=redis_url,
        # One client asks everything: no per-address limits in the way.
        list_limit_per_minute=10**9,
        search_limit_per_minute=10**9,
        metrics_token="bench-metrics",
        figures_max_age_seconds=3600.0,  # the worker's snapshot below stays the one read
    )
    pool = await create_pool(url, min_size=1, max_size=2)
    try:
        # The seed's writes flushed first, so the larger size is not timed during the
        # checkpoint its own seed set off.
        await pool.execute("CHECKPOINT")
        await asyncio.sleep(2)
        await figures.refresh(pool, wait=True)  # as the worker keeps it
        async with pool.acquire() as conn:
            dept = await conn.fetchval("SELECT id FROM departments WHERE name = 'Bench'")
            auditor = await conn.fetchval(
                """INSERT INTO users (email, name, roles)
                   VALUES ('auditor@reads.bench', 'Auditor', '{auditor}') RETURNING id"""
            )
            token, token_hash = new_token()
            await account_queries.insert_token(conn, auditor, token_hash)
            middle = await conn.fetchval(
                "SELECT auction_id FROM awards ORDER BY id OFFSET 10 LIMIT 1"
            )
            day = await conn.fetchval("SELECT occurred_at FROM audit_log ORDER BY id LIMIT 1")
            latest = await conn.fetchval("SELECT max(awarded_at) FROM awards")
        as_auditor = {"Authorization": f"Bearer {token}"}
        scraper = {"Authorization": "Bearer bench-metrics"}
        hour = {"from": day.isoformat(), "to": (day + dt.timedelta(hours=1)).isoformat()}
        # A from/to inside the last ten hours (at both sizes the seed awards one a minute
        # there): what the cut day costs is its awards, the same at any size of history.
        cut = {
            "period": "month",
            "from": (latest - dt.timedelta(hours=10, minutes=-17)).isoformat(),
            "to": (latest - dt.timedelta(hours=2, minutes=-7)).isoformat(),
        }
        spend = f"/api/departments/{dept}/spend"
        requests: dict[str, tuple[str, dict[str, str], dict[str, str]]] = {
            "GET /api/metrics": ("/api/metrics", {}, {}),
            "GET /insights (page)": ("/insights", {}, {}),
            "GET /api/awards": ("/api/awards", {}, {}),
            "GET /awards (page)": ("/awards", {}, {}),
            "GET /api/auctions": ("/api/auctions", {}, {}),
            "GET / (page)": ("/", {}, {}),
            "GET /api/auctions?skill=python": ("/api/auctions", {"skill": "python"}, {}),
            "GET /api/auctions?q=summary": ("/api/auctions", {"q": "summary"}, {}),
            "GET /api/auctions/{id}": (f"/api/auctions/{middle}", {}, {}),
            "GET /api/auctions/{id}/bids": (f"/api/auctions/{middle}/bids", {}, {}),
            "GET /metrics (Prometheus)": ("/metrics", {}, scraper),
            "GET spend, all years": (spend, {"period": "year"}, as_auditor),
            "GET spend, from/to within a day": (spend, cut, as_auditor),
            "GET /api/audit/events": ("/api/audit/events", {}, as_auditor),
            "GET /api/audit/events?auction_id": (
                "/api/audit/events",
                {"auction_id": str(middle)},
                as_auditor,
            ),
            "GET /api/audit/events, an hour": ("/api/audit/events", hour, as_auditor),
            "GET /api/audit/events?action (rare)": (
                "/api/audit/events",
                {"action": "auction.cancelled"},
                as_auditor,
            ),
        }
        out = {}
        app = create_app(local, url, redis_url)
        async with AsyncTestClient(app=app, timeout=60) as client:
            for name, (path, params, headers) in requests.items():

                async def call(
                    path: str = path, params: Any = params, headers: Any = headers
                ) -> None:
                    r = await client.get(path, params=params, headers=headers)
                    if r.status_code != 200:
                        raise RuntimeError(f"{path} {params}: {r.status_code} {r.text[:200]}")

                await call()  # warm: plans and caches
                samples = await timed(call, repeat)
                out[name] = (pct(samples, 0.5), pct(samples, 0.99))

        async def statement(sql: str, *args: Any) -> Callable[[], Awaitable[None]]:
            async def call() -> None:
                async with pool.acquire() as conn:
                    await conn.fetch(sql, *args)

            return call

        befores = {
            "award notices before": await statement(BEFORE_AWARDS),
            "department spend before: every award": await statement(
                BEFORE_SPEND, dept, settings.timezone, PAID, settings.threshold_cents
            ),
        }
        for name, call in befores.items():
            await call()
            samples = await timed(call, max(3, repeat // 10))
            out[name] = (pct(samples, 0.5), pct(samples, 0.99))

        async def recount() -> None:
            await figures.current(pool, 0)

        samples = await timed(recount, max(3, repeat // 10))
        out["figures before: recount"] = (pct(samples, 0.5), pct(samples, 0.99))
        return out
    finally:
        await pool.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,20000", help="auctions per size, ascending")
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    from bench.scratch import scratch_database
    from marketplace.embedded import services

    env = load_settings()
    results: dict[int, dict[str, tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="mp-bench-") as tmp:
        settings = Settings(
            database_url=env.database_url, redis_url=env.redis_url, data_dir=Path(tmp) / "data"
        )
        with services(settings) as svc:
            for size in sizes:
                with scratch_database(svc.database_url, f"mp_bench_reads_{size}") as url:
                    started = time.perf_counter()
                    asyncio.run(seed(url, size))
                    print(f"seed {size:,}: {time.perf_counter() - started:.1f} s", file=sys.stderr)
                    results[size] = asyncio.run(measure(url, svc.redis_url, settings, args.repeat))

    names = list(results[sizes[0]])
    width = max(len(n) for n in names)
    head = "".join(f"  {f'{s:,} p50/p99 ms':>22}" for s in sizes)
    growth = "".join(f"  {f'x {s:,}':>10}" for s in sizes[1:])
    print(f"{'request':<{width}}{head}{growth}")
    for name in names:
        cells = "".join(
            f"  {f'{results[s][name][0]:.2f} / {results[s][name][1]:.2f}':>22}" for s in sizes
        )
        base = results[sizes[0]][name][0]
        grow = "".join(f"  {results[s][name][0] / base:>10.2f}" for s in sizes[1:])
        print(f"{name:<{width}}{cells}{grow}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
