"""Benchmark: a crowd watching one hot auction live (issue 27, build 3).

Real `marketplace serve` and `marketplace worker` processes (the worker's relay moves each
bid's event from the outbox to the auction's Redis stream; the API's hub, one Redis reader
per process, hands it to every open feed). A viewer process holds --viewers raw SSE
connections to `GET /api/auctions/{id}/events`; a bidder, in this process, places bids on
that auction at --rate per second (vendors taking turns, each bid lower) for --seconds. It
prints:

- bid -> every viewer: per bid, from its 201 to the last viewer's receipt of its event
  (p50, p99, max), and the p99 over every (bid, viewer) pair;
- Redis clients connected before and with the crowd (the hub makes them independent of the
  number of viewers);
- the API process's RSS before and with the crowd, per stream.

    python bench/crowd.py --viewers 1000 --rate 20 --seconds 20

Embedded PostgreSQL and Redis in a temporary dir unless MARKETPLACE_DATABASE_URL and
MARKETPLACE_REDIS_URL are set (a scratch database is then created and dropped).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import socket
import subprocess
import sys
import time
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import httpx
import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bids import CAP, DECREMENT, ROOT, free_port, scratch_dir, setup
from bench.scratch import scratch_database

TARGET_P99_MS = 250.0
# A bid's amount in its event's data; the viewers scan bytes rather than parse each
# message, so that the crowd's own process keeps up with what the API sends.
AMOUNT = re.compile(rb'"amount_cents":(\d+)')
TARGET_RSS_PER_STREAM = 64 * 1024


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


async def _watch(port: int, aid: int, got: dict[int, float], opened: asyncio.Queue[int]) -> None:
    """One viewer: the first receipt time (epoch seconds) of each bid amount it sees."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    reader, writer = await asyncio.open_connection(sock=sock, limit=1 << 20)
    writer.write(f"GET /api/auctions/{aid}/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    head = await reader.readuntil(b"\r\n\r\n")
    if b" 200 " not in head.split(b"\r\n", 1)[0]:
        raise SystemExit(f"a viewer was refused: {head[:200]!r}")
    opened.put_nowait(1)
    rest = b""
    try:
        while True:  # until the crowd's process cancels it
            chunk = await reader.read(1 << 16)
            if not chunk:
                break
            seen = time.time()
            # Whole messages only: a message split across reads is taken with its end.
            done, _, rest = (rest + chunk).rpartition(b"\n\n")
            for match in AMOUNT.finditer(done):
                got.setdefault(int(match[1]), seen)
    finally:
        writer.close()


def viewers_process(port: int, aid: int, count: int, ready: Any, done: Any) -> bytes:
    """Open ``count`` feeds, say so through ``ready``, and read until ``done`` is set;
    returns each viewer's receipts as msgpack."""

    async def run() -> list[dict[int, float]]:
        got: list[dict[int, float]] = [{} for _ in range(count)]
        opened: asyncio.Queue[int] = asyncio.Queue()
        tasks = []
        for i in range(count):  # connect in waves, as a crowd arriving does
            tasks.append(asyncio.create_task(_watch(port, aid, got[i], opened)))
            if i % 50 == 49:
                await asyncio.sleep(0.05)
        for _ in range(count):
            await opened.get()
        ready.set()
        while not await asyncio.to_thread(done.wait, 0.5):
            pass
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return got

    import uvloop

    return msgspec.msgpack.encode(uvloop.run(run()))


async def place_bids(
    base: str, tokens: list[str], aid: int, rate: float, seconds: float
) -> dict[int, float]:
    """Bids at ``rate`` per second, vendors in turn, each one decrement below the last;
    returns each accepted amount's 201 time (epoch seconds)."""
    answered: dict[int, float] = {}
    amount = CAP - DECREMENT
    interval = 1.0 / rate
    due = time.perf_counter()
    end = due + seconds
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        turn = 0
        while time.perf_counter() < end:
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            due += interval
            headers = {"Authorization": f"Bearer {tokens[turn % len(tokens)]}"}
            turn += 1
            r = await client.post(
                f"/api/auctions/{aid}/bids", json={"amount_cents": amount}, headers=headers
            )
            if r.status_code == 201:
                answered[amount] = time.time()
                amount -= DECREMENT
            elif r.status_code == 422:
                amount = int(r.json()["max_allowed_cents"])
    return answered


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values) or [0.0]
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


async def redis_clients(url: str) -> int:
    from redis.asyncio import Redis

    redis = Redis.from_url(url)
    try:
        return int((await redis.info("clients"))["connected_clients"])
    finally:
        await redis.aclose()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--viewers", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=20.0, help="bids per second")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long bids are placed")
    args = parser.parse_args()

    from marketplace.embedded import services
    from marketplace.settings import load_settings

    data_dir = scratch_dir()
    settings = msgspec.structs.replace(load_settings(), data_dir=data_dir)
    with services(settings) as svc, scratch_database(svc.database_url, "mp_crowd") as url:
        env = {
            **os.environ,
            "MARKETPLACE_DATABASE_URL": url,
            "MARKETPLACE_REDIS_URL": svc.redis_url,
            "MARKETPLACE_DATA_DIR": str(data_dir),
            "MARKETPLACE_LOG_LEVEL": "warning",
            "MARKETPLACE_MIN_AUCTION_SECONDS": "1",
            "MARKETPLACE_BID_LIMIT_PER_MINUTE": "100000000",
            # the whole crowd comes from one address here, as it would not in life
            "MARKETPLACE_SSE_PER_CLIENT": str(args.viewers + 10),
            # and every viewer holds a connection: room for them and the bidder
            "MARKETPLACE_HTTP_MAX_CONNECTIONS": str(args.viewers + 100),
        }
        subprocess.run(
            [sys.executable, "-m", "marketplace.cli", "migrate"], env=env, cwd=ROOT, check=True
        )
        port = free_port()
        cli = [sys.executable, "-m", "marketplace.cli"]
        api = subprocess.Popen([*cli, "serve", "--port", str(port)], env=env, cwd=ROOT)
        work = subprocess.Popen([*cli, "worker"], env=env, cwd=ROOT)
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(300):
                try:
                    if httpx.get(base + "/health/live", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)
            tokens, hot, _ = asyncio.run(setup(base, url, 4, 0))
            asyncio.run(place_bids(base, tokens, hot, 10, 1.0))  # warm the bid path
            time.sleep(1.0)
            rss_before = rss_bytes(api.pid)
            redis_before = asyncio.run(redis_clients(svc.redis_url))
            ctx = get_context("spawn")
            manager = ctx.Manager()
            ready, done = manager.Event(), manager.Event()
            with ctx.Pool(1) as pool:
                crowd = pool.apply_async(viewers_process, (port, hot, args.viewers, ready, done))
                if not ready.wait(60):
                    raise SystemExit("the viewers did not connect within 60 s")
                time.sleep(2.0)  # every feed armed and past its backlog
                rss_crowd = rss_bytes(api.pid)
                redis_crowd = asyncio.run(redis_clients(svc.redis_url))
                answered = asyncio.run(place_bids(base, tokens, hot, args.rate, args.seconds))
                time.sleep(5.0)  # the last events on their way
                done.set()
                receipts = msgspec.msgpack.decode(crowd.get(60), type=list[dict[int, float]])
        finally:
            for proc in (api, work):
                proc.terminate()
                proc.wait(timeout=15)

    every: list[float] = []  # per bid: 201 -> the last viewer's receipt
    pairs: list[float] = []
    missing = 0
    for amount, at in answered.items():
        times = [got[amount] for got in receipts if amount in got]
        missing += len(receipts) - len(times)
        if times:
            lat = [1000 * (t - at) for t in times]
            pairs.extend(lat)
            every.append(max(lat))
    per_stream = (rss_crowd - rss_before) / max(1, args.viewers)
    print(f"viewers {args.viewers}, bids accepted {len(answered)} at {args.rate:g}/s")
    print(
        f"bid -> every viewer: p50 {pct(every, 0.5):.0f} ms, p99 {pct(every, 0.99):.0f} ms,"
        f" max {max(every or [0]):.0f} ms (target p99 <= {TARGET_P99_MS:.0f} ms)"
    )
    print(
        f"bid -> one viewer (all pairs): p50 {pct(pairs, 0.5):.0f} ms, p99 {pct(pairs, 0.99):.0f} ms"
    )
    print(f"receipts missing: {missing}")
    print(f"Redis clients: {redis_before} without the crowd, {redis_crowd} with it")
    print(
        f"API RSS: {rss_before / 2**20:.1f} MiB without, {rss_crowd / 2**20:.1f} MiB with;"
        f" {per_stream / 1024:.1f} KiB per stream (target <= {TARGET_RSS_PER_STREAM // 1024} KiB)"
    )
    ok = (
        pct(every, 0.99) <= TARGET_P99_MS
        and per_stream <= TARGET_RSS_PER_STREAM
        and redis_crowd - redis_before <= 2
        and missing == 0
    )
    print("targets met" if ok else "targets NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
