"""Benchmark: exporting the OCDS release package of N auctions (default 100,000).

Seeds N awarded reverse auctions (published, opened, two bids, awarded: five releases
each) into a scratch database, then runs ``marketplace.ocds.commands.export_to_file`` (the
code path of ``marketplace ocds export`` and, minus the HTTP framing, of
``GET /api/ocds/releases``) in a fresh child process, so that its peak RSS (getrusage
ru_maxrss) is its own. Prints releases/s, auctions/s and peak RSS; run it at two sizes to
see that memory stays flat. Embedded PostgreSQL is started in a temporary data dir unless
MARKETPLACE_DATABASE_URL and MARKETPLACE_REDIS_URL are set.

    python bench/ocds.py --auctions 10000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import asyncpg

SEED_AUCTIONS = """
INSERT INTO auctions (id, department_id, created_by, title, summary, repo, issue_number, type,
                      price_cap_cents, starts_at, ends_at, scheduled_ends_at,
                      delivery_business_days, status, published_at, opened_at, closed_at)
SELECT g, $3, $4, 'Task ' || g, 'A small software task', 'city/repo-' || (g % 97), g % 50 + 1,
       'reverse', 500000, t0 + g * interval '1 minute', t0 + g * interval '1 minute' + interval '1 day',
       t0 + g * interval '1 minute' + interval '1 day', 10, 'awarded',
       t0 + g * interval '1 minute', t0 + g * interval '1 minute',
       t0 + g * interval '1 minute' + interval '1 day'
FROM generate_series($1::bigint, $2::bigint) AS g, (SELECT timestamptz '2026-01-01' AS t0) t
"""
SEED_BIDDERS = """
INSERT INTO auction_bidders (auction_id, bidder_id, alias_number)
SELECT g, CASE WHEN n = 1 THEN $3::bigint ELSE $4::bigint END, n
FROM generate_series($1::bigint, $2::bigint) AS g, generate_series(1, 2) AS n
"""
SEED_EVENTS = """
INSERT INTO outbox (auction_id, type, payload, created_at, relayed_at)
SELECT g, e.type, convert_to(e.body::text, 'UTF8'), t0 + g * interval '1 minute' + e.after, now()
FROM generate_series($1::bigint, $2::bigint) AS g,
     (SELECT timestamptz '2026-01-01' AS t0) t,
     LATERAL (VALUES
        (1, 'auction.published', interval '0', json_build_object('type', 'auction.published',
            'auction_id', g, 'status', 'open', 'starts_at', t0 + g * interval '1 minute',
            'ends_at', t0 + g * interval '1 minute' + interval '1 day')),
        (2, 'auction.opened', interval '1 second', json_build_object('type', 'auction.opened',
            'auction_id', g, 'ends_at', t0 + g * interval '1 minute' + interval '1 day')),
        (3, 'bid.placed', interval '1 hour', json_build_object('type', 'bid.placed',
            'auction_id', g, 'bid_id', g * 10 + 1, 'amount_cents', 450000,
            'bidder_alias', 'Bidder 1', 'ends_at', t0 + g * interval '1 minute' + interval '1 day')),
        (4, 'bid.placed', interval '2 hours', json_build_object('type', 'bid.placed',
            'auction_id', g, 'bid_id', g * 10 + 2, 'amount_cents', 440000,
            'bidder_alias', 'Bidder 2', 'ends_at', t0 + g * interval '1 minute' + interval '1 day')),
        (5, 'auction.awarded', interval '1 day', json_build_object('type', 'auction.awarded',
            'auction_id', g, 'award_id', g, 'winner_id', $4::bigint, 'winner_alias', 'Bidder 2',
            'amount_cents', 440000, 'runner_up_ids', json_build_array($3::bigint)))
     ) AS e(n, type, after, body)
ORDER BY g, e.n
"""


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


async def _seed(url: str, auctions: int) -> None:
    conn = await asyncpg.connect(url)
    try:
        dept = await conn.fetchval("INSERT INTO departments (name) VALUES ('Bench') RETURNING id")
        buyer, v1, v2 = [
            await conn.fetchval(
                "INSERT INTO users (email, name, roles, verification_status, verification_kind)"
                " VALUES ($1, $2, $3, 'verified', $4) RETURNING id",
                email,
                name,
                roles,
                kind,
            )
            for email, name, roles, kind in (
                ("buyer@bench.example.gov", "Bench Buyer", ["buyer"], None),
                ("one@bench.example", "Vendor One", ["vendor"], "individual"),
                ("two@bench.example", "Vendor Two LLC", ["vendor"], "business"),
            )
        ]
        batch = 20_000
        for start in range(1, auctions + 1, batch):
            end = min(auctions, start + batch - 1)
            await conn.execute(SEED_AUCTIONS, start, end, dept, buyer)
            await conn.execute(SEED_BIDDERS, start, end, v1, v2)
            await conn.execute(SEED_EVENTS, start, end, v1, v2)
            print(f"\rseeded {end}/{auctions} auctions", end="", file=sys.stderr)
        print(file=sys.stderr)
        await conn.execute("SELECT setval('auctions_id_seq', $1)", auctions)
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


async def _export(url: str, out: Path) -> int:
    from marketplace.audit.export import Query
    from marketplace.ocds.commands import export_to_file
    from marketplace.settings import Settings

    with out.open("wb") as fh:
        return await export_to_file(url, Settings(), Query(), fh)


def child(url: str, out: Path) -> None:
    started = time.perf_counter()
    releases = asyncio.run(_export(url, out))
    seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "releases": releases,
                "seconds": seconds,
                "rss_mb": _peak_rss_mb(),
                "bytes": out.stat().st_size,
            }
        )
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--auctions", type=int, default=100_000)
    parser.add_argument("--phase", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        child(args.url, Path(args.out))
        return 0

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from bench.scratch import scratch_database
    from marketplace.embedded import services
    from marketplace.settings import Settings, load_settings

    env = load_settings()
    with tempfile.TemporaryDirectory(prefix="mp-bench-") as tmp:
        work = Path(tmp)
        settings = Settings(
            database_url=env.database_url, redis_url=env.redis_url, data_dir=work / "data"
        )
        with (
            services(settings) as svc,
            scratch_database(svc.database_url, "mp_bench_ocds") as url,
        ):
            asyncio.run(_seed(url, args.auctions))
            out = work / "ocds.json"
            argv = [sys.executable, __file__, "--phase", "--url", url, "--out", str(out)]
            done = subprocess.run(argv, check=True, capture_output=True, text=True)
            result = json.loads(done.stdout.strip().splitlines()[-1])
    releases, seconds = int(result["releases"]), float(result["seconds"])
    print(f"auctions exported:    {args.auctions}")
    print(
        f"OCDS export:          {releases / seconds:>10,.0f} releases/s  "
        f"peak RSS {result['rss_mb']:.1f} MiB  {result['bytes'] / 2**20:.1f} MiB written  "
        f"{releases} releases in {seconds:.1f} s ({args.auctions / seconds:,.0f} auctions/s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
