"""Benchmark: auction search (`q`) against the plain list, on many long descriptions.

Seeds N open auctions (default 2,000) whose descriptions are ~8,000 characters of words,
then times, through the same service call GET /api/auctions makes (auctions.service.
list_page, one page of 20), each as p50 and p95 of --repeat calls and as a ratio to the
plain list (no q) measured the same way in the same run, the phases taking turns:

- q of 100 characters found in one description, and absent from all;
- q of one common word, and of two characters;
- the statement before the index (ILIKE over every description) with the absent q;
- an unrelated request (one auction by id) alone, and while 40 absent-q searches at a time
  run without pause, then 40 of the statements before the index (the finding: 4.1 s).

Embedded PostgreSQL is started in a temporary data dir unless MARKETPLACE_DATABASE_URL and
MARKETPLACE_REDIS_URL are set, in which case a scratch database is created (and dropped).

    python bench/search.py --auctions 5000
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import string
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from marketplace.settings import Settings, load_settings

# The statement the list ran before the index, for the absent q (same filter, one page).
BEFORE = r"""
SELECT a.id FROM auctions a
WHERE a.status <> 'draft'
  AND (a.title ILIKE '%' || $1 || '%' OR a.summary ILIKE '%' || $1 || '%'
       OR a.description ILIKE '%' || $1 || '%')
ORDER BY a.ends_at, a.id LIMIT 21
"""


def words(rng: random.Random, n: int) -> list[str]:
    return ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(3, 10))) for _ in range(n)]


async def seed(url: str, count: int, length: int) -> list[str]:
    """``count`` open auctions with descriptions of about ``length`` characters; returns
    the descriptions."""
    rng = random.Random(22)
    vocabulary = words(rng, 3000)
    conn = await asyncpg.connect(url)
    try:
        dept = await conn.fetchval("INSERT INTO departments (name) VALUES ('Bench') RETURNING id")
        user = await conn.fetchval(
            """INSERT INTO users (email, name, roles, department_id)
               VALUES ('buyer@search.bench', 'Buyer', '{buyer}', $1) RETURNING id""",
            dept,
        )
        texts = []
        for start in range(0, count, 250):
            batch = []
            for n in range(start, min(count, start + 250)):
                text = []
                size = 0
                while size < length:
                    w = rng.choice(vocabulary[: 300 if rng.random() < 0.5 else 3000])
                    text.append(w)
                    size += len(w) + 1
                texts.append(" ".join(text))
                batch.append((f"Task {n} {rng.choice(vocabulary)}", texts[-1]))
            await conn.executemany(
                """INSERT INTO auctions (department_id, created_by, title, summary, description,
                       repo, type, status, price_cap_cents, min_decrement_cents, starts_at,
                       ends_at, scheduled_ends_at, delivery_business_days, opened_at,
                       published_at)
                   VALUES ($1, $2, $3, 'A summary.', $4, 'bench/tasks', 'reverse', 'open',
                       100000, 100, now(), now() + interval '2 hours',
                       now() + interval '2 hours', 10, now(), now())""",
                [(dept, user, title, text) for title, text in batch],
            )
            print(f"\rseeded {min(count, start + 250)}/{count} auctions", end="", file=sys.stderr)
        print(file=sys.stderr)
        await conn.execute("VACUUM (ANALYZE) auctions, auction_search")
    finally:
        await conn.close()
    return texts


async def timed(call: Callable[[], Awaitable[Any]], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        await call()
        times.append(time.perf_counter() - started)
    return times


def ms(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return 1000 * ordered[min(len(ordered) - 1, int(len(ordered) * q))]


async def measure(url: str, texts: list[str], repeat: int, rounds: int) -> None:
    from marketplace.auctions import service
    from marketplace.db import create_pool

    rng = random.Random(7)
    found = texts[len(texts) // 2][1000:1100]
    absent = "".join(rng.choices(string.ascii_lowercase + " ", k=100))
    common = texts[0].split()[0]
    pool = await create_pool(url, min_size=10, max_size=10)
    try:

        def listing(q: str | None) -> Callable[[], Awaitable[Any]]:
            return lambda: service.list_page(
                pool,
                None,
                status=None,
                department_id=None,
                skill=None,
                q=q,
                sort="ending_soon",
                after=None,
                limit=20,
            )

        async def before() -> None:
            async with pool.acquire() as conn:
                await conn.fetch(BEFORE, absent)

        one_id = (await listing(None)())[0][0].id

        async def get_one() -> None:
            await service.get(pool, None, one_id)

        assert [a.description for a in (await listing(found)())[0]] == [texts[len(texts) // 2]]
        assert (await listing(absent)())[0] == []
        phases: dict[str, Callable[[], Awaitable[Any]]] = {
            "plain list (baseline)": listing(None),
            "q, 100 chars, in one": listing(found),
            "q, 100 chars, in none": listing(absent),
            f"q, common word {common!r}": listing(common),
            "q, 2 chars 'qz'": listing("qz"),
            "q, 2 chars in none '#7'": listing("#7"),
            "before: ILIKE, in none": before,
            "one auction by id": get_one,
        }
        results: dict[str, list[float]] = {name: [] for name in phases}
        for _ in range(rounds):  # the phases take turns, so noise falls on all alike
            for name, call in phases.items():
                results[name] += await timed(call, max(1, repeat // rounds))

        async def behind(search: Callable[[], Awaitable[Any]]) -> list[float]:
            """Latency of one auction by id while 40 searches at a time run without pause."""
            stop = asyncio.Event()

            async def storm() -> None:
                while not stop.is_set():
                    await asyncio.gather(*(search() for _ in range(40)))

            task = asyncio.create_task(storm())
            await asyncio.sleep(0.05)
            samples = []
            for _ in range(10):
                samples += await timed(get_one, 1)
                await asyncio.sleep(0.02)
            stop.set()
            await task
            return samples

        behind_now = await behind(listing(absent))
        behind_before = await behind(before)
    finally:
        await pool.close()

    base = statistics.median(results["plain list (baseline)"])
    width = max(len(n) for n in results)
    print(f"{len(texts):,} open auctions, descriptions ~{len(texts[0]):,} characters")
    print(f"{'phase':<{width}}  {'p50 ms':>8}  {'p95 ms':>8}  {'x plain list':>12}")
    for name, values in results.items():
        ratio = statistics.median(values) / base
        print(f"{name:<{width}}  {ms(values, 0.5):>8.2f}  {ms(values, 0.95):>8.2f}  {ratio:>12.2f}")
    alone = statistics.median(results["one auction by id"])
    for label, samples in (("searches", behind_now), ("ILIKE statements (before)", behind_before)):
        print(
            f"one auction by id while 40 {label} at a time run (pool of 10): p50 "
            f"{ms(samples, 0.5):.1f} ms, max {max(samples) * 1000:.1f} ms "
            f"({statistics.median(samples) / alone:.1f} x alone)"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--auctions", type=int, default=2000)
    parser.add_argument("--length", type=int, default=8000, help="description characters")
    parser.add_argument("--repeat", type=int, default=60, help="calls per phase")
    parser.add_argument("--rounds", type=int, default=4, help="turns the phases take")
    args = parser.parse_args()

    from bench.scratch import scratch_database
    from marketplace.embedded import services

    env = load_settings()
    with tempfile.TemporaryDirectory(prefix="mp-bench-") as tmp:
        settings = Settings(
            database_url=env.database_url, redis_url=env.redis_url, data_dir=Path(tmp) / "data"
        )
        with (
            services(settings) as svc,
            scratch_database(svc.database_url, "mp_bench_search") as url,
        ):
            started = time.perf_counter()
            texts = asyncio.run(seed(url, args.auctions, args.length))
            seconds = time.perf_counter() - started
            print(f"seed: {seconds:.1f} s ({1000 * seconds / args.auctions:.1f} ms an auction,")
            print("  the trigger computing each one's grams included)")
            asyncio.run(measure(url, texts, args.repeat, args.rounds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
