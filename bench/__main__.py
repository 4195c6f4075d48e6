"""The benchmark suite: one command, one table.

    python -m bench [--seconds 8] [--rounds 4] [--vendors 64] [--auctions 100] [--deep-bids 100000]
                    [--close-auctions 200] [--export-rows 1000000] [--ocds-auctions 100000]
                    [--procs 1]

On a scratch database (embedded PostgreSQL and Redis in a temporary dir unless
MARKETPLACE_DATABASE_URL and MARKETPLACE_REDIS_URL are set) it runs `marketplace serve` and
`marketplace worker` (real processes) next to bench/baseline.py, and measures:

- bids on one hot auction and spread over many, over HTTP, as a ratio to the bare Litestar
  JSON POST served the same way and driven by the same load generator in the same run (the
  three taking turns in --rounds slices, so noise from elsewhere falls on all alike);
- bid latency on an auction with 10 earlier bids against one with 100,000 (seeded by SQL);
- how late 200 auctions ending at the same instant are closed by the worker (closed_at -
  ends_at);
- the audit export's rows/s and peak RSS (bench/export.py, in its own processes);
- the OCDS export's releases/s and peak RSS (bench/ocds.py, in its own process);
- signed GitHub webhook -> payment released (bench/webhook.py, fake GitHub, no hold): 50
  deliveries with webhooks arriving 5 per second, then 50 at once, with their breakdowns;
- a crowd watching one auction live (bench/crowd.py, its own processes): 1,000 feeds while
  bids arrive at 20/s, bid 201 -> every feed's receipt, API memory per feed, Redis clients;
- reads as history grows (bench/reads.py, its own servers): platform figures, award
  notices, the auction list and audit browsing at 1,000 and 100,000 awarded auctions (S, M),
  p50/p99 and the growth;
- 2 API + 2 worker processes against 1 + 1 on the spread auctions (two load processes in
  both cases), then the bid invariants re-checked in PostgreSQL (exit status 1 if violated).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from typing import Any

import asyncpg
import httpx
import msgspec

from bench.bids import (
    ROOT,
    Load,
    Row,
    check_invariants,
    combined,
    free_port,
    load_process,
    merged,
    run_interleaved,
    run_phase,
    scratch_dir,
    server,
    setup,
)
from bench.scratch import scratch_database
from bench.webhook import TimedGitHub, github_env, webhook_to_paid

ROWS = ("bids", "deep", "close", "scaleout", "export", "ocds", "webhook", "crowd", "scale")
TARGETS = {
    "hot": ">= 0.5 x bare",
    "paced": "p99 <= 50 ms",
    "spread": ">= 0.6 x bare",
    "deep": "<= 1.2 x",
    "close": "p99 <= 250 ms",
    "export": ">= 50k rows/s, flat memory",
    "ocds": "flat memory",
    "scaleout": ">= 1.6 x",
    "webhook": "p99 <= 2 s",
    "crowd": "p99 <= 250 ms, 64 KiB/feed",
    "scale": "<= 1.5 x growth, 50 ms p99",
}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values) or [0.0]
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def rate(row: Row) -> float:
    return load_rate(row.load)


def load_rate(load: Load) -> float:
    return load.requests / load.elapsed


@contextlib.contextmanager
def worker(env: dict[str, str]) -> Any:
    """A `marketplace worker` process for the block."""
    proc = subprocess.Popen([sys.executable, "-m", "marketplace.cli", "worker"], env=env, cwd=ROOT)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run_split(
    pool: ProcessPoolExecutor, bases: list[str], tokens: list[str], auctions: list[int], secs: float
) -> Load:
    """Two load processes, each on its share of the bidders, each on one base URL in turn."""
    start = time.time() + 1.0
    shares = [tokens[i::2] for i in range(2)]
    futures = [
        pool.submit(load_process, bases[i % len(bases)], share, auctions, start, secs)
        for i, share in enumerate(shares)
    ]
    return combined(futures)


def service_cpu_ms(load: Load) -> float:
    """CPU the service spent per request in a phase: the machine's busy time less the load
    processes' own, per request answered (API, workers, PostgreSQL, Redis and whatever else
    ran; on a shared machine, an upper bound)."""
    return 1000 * (load.busy - load.cpu) / max(1, load.requests)


_SEED_BIDS = """
WITH v AS (SELECT $2::bigint[] AS ids)
INSERT INTO bids (auction_id, bidder_id, amount_cents, sealed, placed_at)
SELECT $1, v.ids[1 + (g % cardinality(v.ids))], $3 - g, false, now()
FROM v, generate_series($4::bigint, $5::bigint) AS g
"""
_SEED_AUDIT = """
SELECT audit_append('auction:' || $1::bigint, $1::bigint, false,
    '{"action":"bid.placed","note":"seeded ' || g || '"}')
FROM generate_series(1, $2::bigint) AS g
"""


async def seed_deep(
    url: str, auction_id: int, cap: int, earlier: int, spare: list[str]
) -> tuple[int, int]:
    """Give an auction `earlier` bids (amounts cap, cap-1, ...) from 16 vendors in turn, not
    those of the `spare` tokens, with aliases and audit rows; returns the low bid and bidder."""
    from marketplace.auth import hash_token

    conn = await asyncpg.connect(url)
    try:
        vendors = [
            r["id"]
            for r in await conn.fetch(
                """SELECT id FROM users WHERE 'vendor' = ANY(roles) AND id NOT IN (
                       SELECT user_id FROM api_tokens WHERE token_hash = ANY($1::bytea[]))
                   ORDER BY id LIMIT 16""",
                [hash_token(t) for t in spare],
            )
        ]
        async with conn.transaction():
            await conn.execute(
                """INSERT INTO auction_bidders (auction_id, bidder_id, alias_number)
                   SELECT $1, id, n FROM unnest($2::bigint[]) WITH ORDINALITY AS u(id, n)""",
                auction_id,
                vendors,
            )
            for lo in range(0, earlier, 50_000):
                hi = min(earlier, lo + 50_000) - 1
                await conn.execute(_SEED_BIDS, auction_id, vendors, cap, lo, hi)
            low_bidder = vendors[(earlier - 1) % len(vendors)]
            low = cap - (earlier - 1)
            await conn.execute(
                """UPDATE auctions SET lowest_cents = $2, low_bidder_id = $3, bid_count = $4
                   WHERE id = $1""",
                auction_id,
                low,
                low_bidder,
                earlier,
            )
        for lo in range(0, earlier, 20_000):
            await conn.execute(_SEED_AUDIT, auction_id, min(20_000, earlier - lo))
        # The seed packs 100,000 updates of the auction's audit-chain row (and bid inserts)
        # into seconds; autovacuum would have pruned what they leave behind over the hours
        # a real auction takes to gather them, so the bench does it before measuring.
        await conn.execute("VACUUM (ANALYZE) audit_chains, auctions, auction_bidders, bids")
        await conn.execute("ANALYZE audit_log")
    finally:
        await conn.close()
    return low, low_bidder


async def latency_deep(
    base: str, url: str, buyer: dict[str, str], tokens: list[str], earlier: int, rounds: int
) -> tuple[float, float]:
    """p50 bid latency (ms) on an auction with 10 earlier bids and one with `earlier`."""
    cap = 1_000_000
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        ids = []
        for _ in range(2):
            body = {
                "title": "Deep auction",
                "summary": "Many earlier bids.",
                "description": "Acceptance: latency stays flat.",
                "repo": "bench/tasks",
                "price_cap_cents": cap,
                "min_decrement_cents": 1,
                "starts_at": dt.datetime.now(dt.UTC).isoformat(),
                "ends_at": (dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)).isoformat(),
                "delivery_business_days": 10,
            }
            aid = (await client.post("/api/auctions", json=body, headers=buyer)).json()["id"]
            assert (await client.post(f"/api/auctions/{aid}/publish", headers=buyer)).is_success
            ids.append(aid)
        shallow, deep = ids
        spare = tokens[:2]  # not among the seeded bidders: they alternate freely
        lows = {shallow: (await seed_deep(url, shallow, cap, 10, spare))[0]}
        lows[deep] = (await seed_deep(url, deep, cap, earlier, spare))[0]
        heads = [{"Authorization": f"Bearer {t}"} for t in spare]
        times: dict[int, list[float]] = {shallow: [], deep: []}
        for n in range(rounds):
            for aid in (shallow, deep):
                lows[aid] -= 1
                body_bytes = b'{"amount_cents":%d}' % lows[aid]
                started = time.perf_counter()
                r = await client.post(
                    f"/api/auctions/{aid}/bids",
                    content=body_bytes,
                    headers={**heads[n % 2], "Content-Type": "application/json"},
                )
                times[aid].append(time.perf_counter() - started)
                if r.status_code != 201:
                    raise SystemExit(f"deep-latency bid refused: {r.status_code} {r.text}")
    return statistics.median(times[shallow]) * 1000, statistics.median(times[deep]) * 1000


async def close_lateness(
    base: str, url: str, buyer: dict[str, str], tokens: list[str], count: int
) -> tuple[float, float, float, int]:
    """Auctions all ending at one instant, each with a bid; ms between ends_at and close."""
    ends = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=12 + count / 25)
    gate = asyncio.Semaphore(16)
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:

        async def one(n: int) -> int:
            body = {
                "title": f"Closing task {n}",
                "summary": "Ends with the others.",
                "description": "Acceptance: closed on time.",
                "repo": "bench/tasks",
                "price_cap_cents": 100_000,
                "starts_at": dt.datetime.now(dt.UTC).isoformat(),
                "ends_at": ends.isoformat(),
                "soft_close_seconds": 0,
                "delivery_business_days": 10,
            }
            async with gate:
                r = await client.post("/api/auctions", json=body, headers=buyer)
                aid: int = r.json()["id"]
                await client.post(f"/api/auctions/{aid}/publish", headers=buyer)
                vendor = {"Authorization": f"Bearer {tokens[n % len(tokens)]}"}
                r = await client.post(
                    f"/api/auctions/{aid}/bids", json={"amount_cents": 90_000}, headers=vendor
                )
                if r.status_code != 201:
                    raise SystemExit(f"close-phase bid refused: {r.status_code} {r.text}")
            return aid

        ids = list(await asyncio.gather(*(one(n) for n in range(count))))
    if dt.datetime.now(dt.UTC) > ends:
        raise SystemExit("close phase: setup ran past the common ends_at; raise the lead time")
    conn = await asyncpg.connect(url)
    try:
        deadline = time.time() + (ends - dt.datetime.now(dt.UTC)).total_seconds() + 60
        while time.time() < deadline:
            open_left = await conn.fetchval(
                "SELECT count(*) FROM auctions WHERE id = ANY($1) AND status = 'open'", ids
            )
            if open_left == 0:
                break
            await asyncio.sleep(0.5)
        # closed_at is the closing transaction's time; the award's audit row is written last
        # in that transaction with the wall clock, so it bounds when the close committed.
        rows = await conn.fetch(
            """SELECT extract(epoch FROM a.closed_at - a.ends_at) * 1000 AS late,
                      extract(epoch FROM l.occurred_at - a.ends_at) * 1000 AS written
               FROM auctions a JOIN audit_log l ON l.auction_id = a.id
                AND l.data::jsonb->>'action' IN ('auction.awarded', 'auction.closed_no_bids')
               WHERE a.id = ANY($1) AND a.closed_at IS NOT NULL""",
            ids,
        )
    finally:
        await conn.close()
    late = [float(r["late"]) for r in rows]
    written = [float(r["written"]) for r in rows]
    return statistics.median(late or [0.0]), pct(late, 0.99), pct(written, 0.99), len(late)


def export_figures(rows: int) -> tuple[float, float, float]:
    """bench/export.py in its own processes: export rows/s, its peak RSS and COPY's."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "export.py"), "--rows", str(rows)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    out = {line.split(":")[0]: line for line in done.stdout.splitlines()}
    export = out["JSONL export"].split()
    copy = out["COPY baseline"].split()
    return float(export[2].replace(",", "")), float(export[6]), float(copy[6])


def ocds_figures(auctions: int) -> tuple[float, float, str]:
    """bench/ocds.py in its own processes: releases/s, peak RSS and the whole line."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "ocds.py"), "--auctions", str(auctions)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    line = next(x for x in done.stdout.splitlines() if x.startswith("OCDS export"))
    parts = line.split()
    return float(parts[2].replace(",", "")), float(parts[6]), line


def scale_figures(sizes: str) -> tuple[str, str]:
    """bench/reads.py at ``sizes`` (its own embedded servers): the worst growth and p99 at the
    largest size over the reads the routes make now, and its whole table."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "reads.py"), "--sizes", sizes, "--repeat", "50"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    lines = done.stdout.splitlines()
    if done.returncode != 0 or not lines:
        return f"failed: {done.stderr.strip().splitlines()[-1:]}", ""
    rows = [line.split() for line in lines[1:] if line.strip() and "before" not in line]
    n = len(sizes.split(","))  # a row ends: p50 / p99 of the largest size, then n - 1 growths
    growth = max(max(float(x) for x in cells[-(n - 1) :]) for cells in rows)
    p99 = max(float(cells[-n]) for cells in rows)
    met = "met" if growth <= 1.5 and p99 <= 50 else "NOT met"
    top = sizes.split(",")[-1]
    figure = f"worst growth {growth:.2f} x, worst p99 at {int(top):,} {p99:.2f} ms; targets {met}"
    return figure, "\n".join(lines)


def crowd_figures(viewers: int, rate: float, seconds: float) -> str:
    """bench/crowd.py (its own serve, worker and viewer processes): its figures in a line."""
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "crowd.py"),
            *("--viewers", str(viewers), "--rate", str(rate), "--seconds", str(seconds)),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    out = {
        line.split(":")[0]: line.split(":", 1)[1].strip()
        for line in done.stdout.splitlines()
        if ":" in line
    }
    every = out.get("bid -> every viewer", "?").split(" (target")[0]
    rss = out.get("API RSS", "?").split("; ")[-1].split(" (target")[0]
    verdict = "met" if done.returncode == 0 else "NOT met"
    return (
        f"{viewers:,} feeds, {rate:g} bids/s: bid -> every feed {every}; {rss};"
        f" Redis clients {out.get('Redis clients', '?')}; targets {verdict}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=8.0, help="duration of each load phase")
    parser.add_argument("--rounds", type=int, default=4, help="slices the bid phases take turns in")
    parser.add_argument("--vendors", type=int, default=64, help="concurrent bidders")
    parser.add_argument("--auctions", type=int, default=100, help="auctions of the spread phase")
    parser.add_argument("--procs", type=int, default=1, help="load processes, hot/spread phases")
    parser.add_argument("--deep-bids", type=int, default=100_000, help="earlier bids, deep auction")
    parser.add_argument("--deep-rounds", type=int, default=150, help="bids timed per auction")
    parser.add_argument("--close-auctions", type=int, default=200, help="auctions ending together")
    parser.add_argument(
        "--export-rows", type=int, default=1_000_000, help="audit rows to export (the issue: 1M)"
    )
    parser.add_argument(
        "--ocds-auctions", type=int, default=100_000, help="auctions of the OCDS export row"
    )
    parser.add_argument(
        "--pace", type=float, default=0.5, help="seconds between one bidder's bids, paced row"
    )
    parser.add_argument("--webhooks", type=int, default=50, help="deliveries, webhook row")
    parser.add_argument(
        "--webhook-rate", type=float, default=5.0, help="webhooks per second, webhook row"
    )
    parser.add_argument("--viewers", type=int, default=1000, help="live feeds, crowd row")
    parser.add_argument(
        "--scale-sizes", default="1000,100000", help="auctions of each size, scale row (S,M[,L])"
    )
    parser.add_argument(
        "--only",
        default=",".join(ROWS),
        help=f"comma-separated rows to measure (default all: {','.join(ROWS)})",
    )
    args = parser.parse_args()
    only = set(args.only.split(","))
    if only - set(ROWS):
        parser.error(f"--only: unknown rows {sorted(only - set(ROWS))}; known: {list(ROWS)}")
    from marketplace.embedded import services
    from marketplace.settings import load_settings

    data_dir = scratch_dir()
    settings = msgspec.structs.replace(load_settings(), data_dir=data_dir)
    figures: dict[str, str] = {}
    details: list[str] = []  # breakdowns printed under the table
    with (
        services(settings) as svc,
        scratch_database(svc.database_url, "mp_bench") as url,
        TimedGitHub() as fake,
    ):
        env = {
            **os.environ,
            "MARKETPLACE_DATABASE_URL": url,
            "MARKETPLACE_REDIS_URL": svc.redis_url,
            "MARKETPLACE_DATA_DIR": str(data_dir),
            "MARKETPLACE_LOG_LEVEL": "warning",
            "MARKETPLACE_MIN_AUCTION_SECONDS": "1",
            # each simulated bidder bids far faster than a person: the per-user limit is
            # still counted in Redis on every bid, only set out of reach
            "MARKETPLACE_BID_LIMIT_PER_MINUTE": "100000000",
            "MARKETPLACE_PAYMENT_HOLD_SECONDS": "0",
            **github_env(fake),
        }
        ports = [free_port() for _ in range(3)]

        def serve(port: int) -> list[str]:
            return [sys.executable, "-m", "marketplace.cli", "serve", "--port", str(port)]

        bare_cmd = [sys.executable, str(ROOT / "bench" / "baseline.py"), "--port", str(ports[2])]
        with (
            server(serve(ports[0]), env, ports[0]) as api,
            server(bare_cmd, env, ports[2]) as bare,
            worker(env),
        ):
            tokens, hot, spread = asyncio.run(setup(api, url, args.vendors, args.auctions))
            buyer_token = asyncio.run(_buyer_token(url))
            buyer = {"Authorization": f"Bearer {buyer_token}"}
            print(f"setup: {len(tokens)} vendors, {len(spread) + 1} auctions", flush=True)
            ctx = get_context("spawn")
            with ProcessPoolExecutor(max(2, args.procs), mp_context=ctx) as pool:
                accepted = 0  # 201 answers to bids, checked against the stored bids
                if "bids" in only:
                    # The bare POST, the hot auction and the spread auctions take turns in
                    # short slices (run_interleaved): one after the other, a phase's rate
                    # moved by up to a quarter with load from elsewhere on this machine.
                    phases = [("bare", bare, [1]), ("hot", api, [hot]), ("spread", api, spread)]
                    slices = run_interleaved(
                        pool,
                        tokens,
                        args.procs,
                        phases,
                        args.rounds,
                        args.seconds / args.rounds,
                    )
                    rows = [
                        Row(
                            phase=name,
                            load=merged(slices.rounds[name], together=False),
                            procs=1,
                        )
                        for name, _, _ in phases
                    ]
                    paced = [
                        run_phase(pool, bare, tokens, [1], args, "bare", args.pace),
                        run_phase(pool, api, tokens, [hot], args, "hot", args.pace),
                    ]
                    base = rate(rows[0])
                    offered = len(tokens) / args.pace
                    figures["paced"] = (
                        f"p50 {pct(paced[1].load.latencies, 0.5) * 1000:.0f} ms,"
                        f" p99 {pct(paced[1].load.latencies, 0.99) * 1000:.0f} ms"
                        f" ({rate(paced[1]):.0f} bids/s answered of {offered:.0f} offered;"
                        f" bare POST at the same pace: p99"
                        f" {pct(paced[0].load.latencies, 0.99) * 1000:.0f} ms)"
                    )
                    for row in rows[1:]:
                        by_round = ", ".join(
                            f"{load_rate(x) / load_rate(b):.2f}"
                            for x, b in zip(
                                slices.rounds[row.phase], slices.rounds["bare"], strict=True
                            )
                        )
                        figures[row.phase] = (
                            f"{rate(row) / base:.2f} x bare"
                            f" ({rate(row):.0f} vs {base:.0f} req/s; slice by slice"
                            f" {by_round});"
                            f" p50 {pct(row.load.latencies, 0.5) * 1000:.0f} ms,"
                            f" p99 {pct(row.load.latencies, 0.99) * 1000:.0f} ms;"
                            f" service CPU per request {service_cpu_ms(row.load):.2f} ms"
                            f" vs bare {service_cpu_ms(rows[0].load):.2f} ms"
                        )
                    # every 201 is a stored bid, the warm-up's and the paced row's too
                    accepted += slices.accepted("hot") + slices.accepted("spread")
                    accepted += paced[1].load.accepted
                    print("bids: done", flush=True)
                if "deep" in only:
                    shallow, deep = asyncio.run(
                        latency_deep(api, url, buyer, tokens, args.deep_bids, args.deep_rounds)
                    )
                    figures["deep"] = (
                        f"{deep / shallow:.2f} x (p50 {shallow:.1f} ms with 10,"
                        f" {deep:.1f} ms with {args.deep_bids:,} earlier bids)"
                    )
                    accepted += 2 * args.deep_rounds + args.deep_bids + 10
                    print("deep: done", flush=True)
                if "close" in only:
                    p50, p99, written, closed = asyncio.run(
                        close_lateness(api, url, buyer, tokens, args.close_auctions)
                    )
                    figures["close"] = (
                        f"p50 {p50:.0f} ms, p99 {p99:.0f} ms late"
                        f" ({closed}/{args.close_auctions} closed, 1 worker;"
                        f" award written by p99 {written:.0f} ms)"
                    )
                    accepted += args.close_auctions
                    print("close: done", flush=True)
                if "webhook" in only:
                    steady = asyncio.run(
                        webhook_to_paid(api, url, env, fake, args.webhooks, 1 / args.webhook_rate)
                    )
                    burst = asyncio.run(webhook_to_paid(api, url, env, fake, args.webhooks))
                    figures["webhook"] = (
                        f"{args.webhook_rate:g} webhooks/s: {steady.line()};"
                        f" all {args.webhooks} at once: p99"
                        f" {pct(burst.total(), 0.99):.0f} ms"
                    )
                    details.append(steady.report())
                    details.append(burst.report())
                    accepted += 2 * args.webhooks
                    print("webhook: done", flush=True)
                if "scaleout" in only:
                    one = run_split(pool, [api], tokens, spread, args.seconds)
                    with server(serve(ports[1]), env, ports[1]) as api2, worker(env):
                        two = run_split(pool, [api, api2], tokens, spread, args.seconds)
                    r1, r2 = one.requests / one.elapsed, two.requests / two.elapsed
                    figures["scaleout"] = (
                        f"{r2 / r1:.2f} x ({r2:.0f} vs {r1:.0f} req/s;"
                        f" p99 {pct(two.latencies, 0.99) * 1000:.0f} vs"
                        f" {pct(one.latencies, 0.99) * 1000:.0f} ms;"
                        f" service CPU per bid {service_cpu_ms(two):.2f} vs"
                        f" {service_cpu_ms(one):.2f} ms, CPUs busy"
                        f" {two.busy / two.elapsed:.2f} vs {one.busy / one.elapsed:.2f})"
                    )
                    # Twice the processes do twice the work only with CPUs to spare: at
                    # the same CPU per bid, the most 2 + 2 can reach is the CPUs there are
                    # over those 1 + 1 already keeps busy.
                    cpus = os.cpu_count() or 1
                    figures["scaleout"] += (
                        f"; the most reachable with {cpus} CPUs:"
                        f" {cpus / (one.busy / one.elapsed):.2f} x"
                    )
                    accepted += one.accepted + two.accepted
        checks = asyncio.run(check_invariants(url, accepted))
    if "scaleout" in figures:
        figures["scaleout"] += "; invariants " + ("OK" if "OK" in checks[0] else "VIOLATED")
    if "export" in only:
        speed, rss, copy_rss = export_figures(args.export_rows)
        figures["export"] = (
            f"{speed:,.0f} rows/s, peak RSS {rss:.0f} MiB (COPY {copy_rss:.0f} MiB),"
            f" {args.export_rows:,} rows"
        )
    if "ocds" in only:
        releases, ocds_rss, _ = ocds_figures(args.ocds_auctions)
        figures["ocds"] = (
            f"{releases:,.0f} releases/s, peak RSS {ocds_rss:.0f} MiB,"
            f" {args.ocds_auctions:,} auctions (5 releases each)"
        )
    if "crowd" in only:
        figures["crowd"] = crowd_figures(args.viewers, 20.0, 20.0)
    if "scale" in only:
        figures["scale"], table = scale_figures(args.scale_sizes)
        details.append(table)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print()
    print(
        f"{args.seconds:g} s per load phase (bid phases in {args.rounds} interleaved slices),"
        f" {len(tokens)} bidders, {os.cpu_count()} CPUs,"
        f" load average {load}; uvicorn (uvloop, httptools), one process each"
    )
    labels = {
        "hot": "bids, one hot auction",
        "paced": f"bids, hot, {args.vendors} bidders paced",
        "spread": f"bids, spread over {args.auctions}",
        "deep": "bid latency, 100k vs 10 earlier bids",
        "close": f"close lateness, {args.close_auctions} ending together",
        "export": "audit export (JSONL)",
        "ocds": "OCDS export (release package)",
        "scaleout": "2 API + 2 workers vs 1 + 1 (spread)",
        "scale": "reads as history grows (S -> M)",
        "webhook": "signed webhook -> payment released",
        "crowd": "a crowd on one live auction",
    }
    width = max(len(v) for v in labels.values())
    print(f"{'measure':<{width}}  {'target':<28}figure")
    print("-" * (width + 100))
    for key, label in labels.items():
        figure = figures.get(key, "not measured (--only)")
        print(f"{label:<{width}}  {TARGETS[key]:<28}{figure}")
    print("\n".join(checks))
    for detail in details:
        print()
        print(detail)
    return 0 if "OK" in checks[0] else 1


async def _buyer_token(url: str) -> str:
    """A token for the bench department's buyer (bench/bids.py made the user)."""
    from marketplace.auth import new_token

    token, digest = new_token()
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            """INSERT INTO api_tokens (user_id, token_hash)
               SELECT id, $1 FROM users WHERE email = 'buyer@bench.example.gov'""",
            digest,
        )
    finally:
        await conn.close()
    return token


if __name__ == "__main__":
    sys.exit(main())
