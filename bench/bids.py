"""Bid throughput over HTTP, against a bare Litestar POST measured in the same run.

    python bench/bids.py [--vendors 64] [--auctions 100] [--seconds 10] [--rounds 4] [--procs 1]

Starts `marketplace serve` (one uvicorn process) on a scratch database, and bench/baseline.py
served the same way; embedded PostgreSQL and Redis in a temporary data dir unless
MARKETPLACE_DATABASE_URL and MARKETPLACE_REDIS_URL are set. One bidder per verified vendor
loops for a fixed time: it bids just under the highest amount it believes allowed, learns the
real maximum from each 422 (`max_allowed_cents`), and retries after a 409 (it is the low
bidder). Phases: the baseline, one hot auction, bids spread over many auctions, taking
turns in --rounds slices (run_interleaved). Then it checks the bid invariants in PostgreSQL
and prints one table.

The load generator is one httpx.AsyncClient per bidder, in --procs processes; the "client
CPU" column says whether the client, rather than the server, was the limit (near 100% =
client-bound).
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import datetime as dt
import gc
import itertools
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import msgspec

ROOT = Path(__file__).resolve().parent.parent
CAP = 1_000_000  # the default micro-purchase threshold: $10,000
DECREMENT = 10


class Load(msgspec.Struct, kw_only=True):
    """What one load process saw."""

    requests: int = 0
    accepted: int = 0
    too_high: int = 0
    conflicts: int = 0
    errors: int = 0
    latencies: list[float] = msgspec.field(default_factory=list)
    elapsed: float = 0.0
    cpu: float = 0.0  # this load process's CPU seconds in the window
    busy: float = 0.0  # the whole machine's busy CPU seconds in the window (/proc/stat)


def scratch_dir() -> Path:
    """A temporary data dir for the embedded servers, removed when the bench exits (after
    ``services()`` has stopped them)."""
    path = Path(tempfile.mkdtemp(prefix="mpbench"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def machine_busy() -> float:
    """CPU seconds all CPUs have spent busy since boot (user, nice, system, irq, softirq;
    not idle, iowait or steal); 0.0 where /proc/stat is missing."""
    try:
        with open("/proc/stat") as stat:
            fields = [int(x) for x in stat.readline().split()[1:8]]
    except OSError:
        return 0.0
    user, nice, system, _idle, _iowait, irq, softirq = fields
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def bidder(
    client: httpx.AsyncClient,
    token: str,
    auctions: list[int],
    deadline: float,
    load: Load,
    rng: random.Random,
    interval: float = 0.0,
    believed: dict[int, int] | None = None,
) -> None:
    """Bid until the deadline: back to back, or paced at one bid per ``interval`` seconds
    (a fixed schedule from a random phase, so a slow answer is not hidden by a late start).
    ``believed`` (the highest amount this bidder thinks each auction allows) carries what it
    learnt from one slice of a phase into the next; by default it starts at the cap."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    if believed is None:
        believed = dict.fromkeys(auctions, CAP)
    due = time.perf_counter() + rng.random() * interval
    while time.perf_counter() < deadline:
        if interval:
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            due += interval
        aid = auctions[0] if len(auctions) == 1 else rng.choice(auctions)
        amount = believed[aid] - rng.randrange(0, 3) * DECREMENT
        if amount < 1:
            amount = believed[aid] = CAP  # only the baseline, which accepts everything, gets here
        body = b'{"amount_cents":%d}' % amount
        started = time.perf_counter()
        try:
            r = await client.post(f"/api/auctions/{aid}/bids", content=body, headers=headers)
        except httpx.HTTPError:
            load.errors += 1
            continue
        load.latencies.append(time.perf_counter() - started)
        load.requests += 1
        if r.status_code == 201:
            load.accepted += 1
            believed[aid] = amount - DECREMENT
        elif r.status_code == 422:
            load.too_high += 1
            believed[aid] = int(r.json()["max_allowed_cents"])
        elif r.status_code == 409:
            load.conflicts += 1  # we are the low bidder: try again (or elsewhere)
        else:
            load.errors += 1


def load_process(
    base: str,
    tokens: list[str],
    auctions: list[int],
    start: float,
    secs: float,
    interval: float = 0.0,
) -> bytes:
    """Entry point of one load process (spawned): returns its Load, msgpack-encoded."""
    piece = Slice(phase="", base=base, auctions=auctions, start=start, secs=secs, interval=interval)
    (load,) = asyncio.run(_load_slices(tokens, [piece]))
    return msgspec.msgpack.encode(load)


class Slice(msgspec.Struct, frozen=True):
    """One stretch of load: a phase's bidders on one server, from ``start`` (time.time(),
    the same instant in every load process) for ``secs`` seconds, back to back or one bid
    each per ``interval`` seconds."""

    phase: str
    base: str
    auctions: list[int]
    start: float
    secs: float
    interval: float = 0.0


async def _load_slices(tokens: list[str], slices: list[Slice]) -> list[Load]:
    # One client (one keep-alive connection) per bidder and server: a single httpx pool
    # shared by 64 tasks managed ~110 req/s against the baseline here, 64 separate clients
    # ~880 req/s. The servers are plain HTTP on 127.0.0.1. verify=False spares each client
    # loading the CA bundle into an SSL context of its own: 64 of them took ~1.5 s of CPU to
    # build, and freeing them, when the collector reached the last phase's clients, stopped
    # this process for 270-360 ms in the middle of a later phase (a paced p99 of the
    # bench's own). The clients and what each bidder learnt of a phase's auctions live
    # through all the slices: a slice starts warm, as its phase left off.
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    clients = {
        base: [
            httpx.AsyncClient(base_url=base, limits=limits, timeout=30, verify=False)
            for _ in tokens
        ]
        for base in dict.fromkeys(s.base for s in slices)
    }
    beliefs: dict[str, list[dict[int, int]]] = {}
    rng = random.Random(os.getpid())
    loads = []
    try:
        for piece in slices:
            believed = beliefs.setdefault(
                piece.phase, [dict.fromkeys(piece.auctions, CAP) for _ in tokens]
            )
            gc.collect()  # the last slice's garbage, collected before this one starts
            await asyncio.sleep(max(0.0, piece.start - time.time()))
            load = Load()
            cpu, busy, began = time.process_time(), machine_busy(), time.perf_counter()
            deadline = began + piece.secs
            await asyncio.gather(
                *(
                    bidder(c, t, piece.auctions, deadline, load, rng, piece.interval, b)
                    for c, t, b in zip(clients[piece.base], tokens, believed, strict=True)
                )
            )
            load.elapsed = time.perf_counter() - began
            load.cpu = time.process_time() - cpu
            load.busy = machine_busy() - busy
            loads.append(load)
    finally:
        for group in clients.values():
            for client in group:
                await client.aclose()
        del clients
        gc.collect()  # the run's garbage, collected now rather than during the next run
    return loads


def slices_process(tokens: list[str], slices: list[Slice]) -> bytes:
    """Entry point of one load process of an interleaved run: its Load per slice."""
    return msgspec.msgpack.encode(asyncio.run(_load_slices(tokens, slices)))


GAP = 0.5  # seconds between slices: the last answers of one arrive before the next begins


class Interleaved(msgspec.Struct, kw_only=True):
    """What an interleaved run saw: each phase's Load per counted round, and its warm-up."""

    rounds: dict[str, list[Load]]
    warm_up: dict[str, Load]

    def accepted(self, phase: str) -> int:
        """A phase's 201 answers in all its slices, its warm-up's included (stored too)."""
        return self.warm_up[phase].accepted + sum(x.accepted for x in self.rounds[phase])


def run_interleaved(
    pool: ProcessPoolExecutor,
    tokens: list[str],
    procs: int,
    phases: list[tuple[str, str, list[int]]],
    rounds: int,
    secs: float,
) -> Interleaved:
    """Each phase (name, base URL, auctions) for ``rounds`` slices of ``secs`` seconds,
    taking turns (round r starts with phase r mod n), all load processes together, after a
    warm-up round that is not counted (the servers open their pools' connections and
    prepare their statements, the bidders learn what each auction allows).

    Phases compared as ratios are measured in alternation rather than one after the other,
    so a stretch of load from elsewhere on this shared machine (it moved one phase's rate
    by a quarter within a run) falls on all of them alike instead of on whichever phase it
    happened to meet."""
    order = list(phases)  # the warm-up round
    for r in range(rounds):
        k = r % len(phases)
        order.extend(phases[k:] + phases[:k])
    t0 = time.time() + 1.0
    slices = [
        Slice(phase=name, base=base, auctions=auctions, start=t0 + i * (secs + GAP), secs=secs)
        for i, (name, base, auctions) in enumerate(order)
    ]
    shares = [tokens[i::procs] for i in range(procs)]
    futures = [pool.submit(slices_process, share, slices) for share in shares]
    parts = [msgspec.msgpack.decode(f.result(), type=list[Load]) for f in futures]
    seen = [merged([p[i] for p in parts], together=True) for i in range(len(slices))]
    out = Interleaved(rounds={name: [] for name, _, _ in phases}, warm_up={})
    for piece, load in zip(slices, seen, strict=True):
        if piece.phase in out.warm_up:
            out.rounds[piece.phase].append(load)
        else:
            out.warm_up[piece.phase] = load  # a phase's first slice is its warm-up
    return out


def merged(parts: list[Load], together: bool) -> Load:
    """One Load from several: load processes in the same window (``together``: elapsed and
    machine busy time taken once), or one phase's successive slices (summed)."""
    window = max if together else sum
    total = Load(
        elapsed=window(p.elapsed for p in parts),
        cpu=sum(p.cpu for p in parts),
        busy=window(p.busy for p in parts),
    )
    for p in parts:
        total.requests += p.requests
        total.accepted += p.accepted
        total.too_high += p.too_high
        total.conflicts += p.conflicts
        total.errors += p.errors
        total.latencies.extend(p.latencies)
    return total


class Row(msgspec.Struct, kw_only=True):
    phase: str
    load: Load
    procs: int


def run_phase(
    pool: ProcessPoolExecutor,
    base: str,
    tokens: list[str],
    auctions: list[int],
    args: Any,
    phase: str,
    interval: float = 0.0,
) -> Row:
    start = time.time() + 1.0  # every process starts together
    shares = [tokens[i :: args.procs] for i in range(args.procs)]
    futures = [
        pool.submit(load_process, base, s, auctions, start, args.seconds, interval) for s in shares
    ]
    return Row(phase=phase, load=combined(futures), procs=args.procs)


def combined(futures: list[Any]) -> Load:
    """One Load from the load processes' answers, which ran in the same window."""
    return merged([msgspec.msgpack.decode(f.result(), type=Load) for f in futures], True)


@contextlib.contextmanager
def server(cmd: list[str], env: dict[str, str], port: int) -> Iterator[str]:
    """Run a server process until the block ends; yield its base URL once it answers."""
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            if proc.poll() is not None:
                raise SystemExit(f"{' '.join(cmd)} exited with {proc.returncode}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(base + "/health/live", timeout=1).status_code == 200:
                    break
            time.sleep(0.2)
        else:
            raise SystemExit(f"{' '.join(cmd)} did not answer on {base}")
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _iso(seconds: float) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)).isoformat()


async def setup(
    base: str, database_url: str, vendors: int, spread: int
) -> tuple[list[str], int, list[int]]:
    """An admin, a department with a buyer, verified vendors and open auctions (via the API)."""
    from marketplace.accounts.admin import create_user_with_token

    _, admin_token = await create_user_with_token(
        database_url, "admin@bench.example.gov", "Bench Admin", ["admin"], None
    )
    admin = {"Authorization": f"Bearer {admin_token}"}
    gate = asyncio.Semaphore(16)
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:

        async def call(method: str, path: str, headers: dict[str, str], body: Any = None) -> Any:
            async with gate:
                r = await client.request(method, path, json=body, headers=headers)
            if r.status_code >= 300:
                raise SystemExit(f"{method} {path}: {r.status_code} {r.text}")
            return r.json()

        async def user(email: str, roles: list[str], dep: int | None = None) -> tuple[int, str]:
            body = {
                "email": email,
                "name": email.split("@")[0],
                "roles": roles,
                "department_id": dep,
            }
            uid = (await call("POST", "/api/users", admin, body))["id"]
            return uid, (await call("POST", f"/api/users/{uid}/tokens", admin))["token"]

        async def vendor(n: int) -> str:
            uid, token = await user(f"vendor{n}@bench.example.com", ["vendor"])
            decision = {"status": "verified", "reason": "bench"}
            await call("POST", f"/api/vendors/{uid}/verification", admin, decision)
            return token

        dep = (await call("POST", "/api/departments", admin, {"name": "Bench Department"}))["id"]
        _, buyer_token = await user("buyer@bench.example.gov", ["buyer"], dep)
        buyer = {"Authorization": f"Bearer {buyer_token}"}

        async def auction(n: int) -> int:
            body = {
                "title": f"Bench task {n}",
                "summary": "A task to bid on.",
                "description": "Acceptance: the benchmark finishes.",
                "repo": "bench/tasks",
                "price_cap_cents": CAP,
                "min_decrement_cents": DECREMENT,
                "starts_at": _iso(0),
                "ends_at": _iso(7200),
                "delivery_business_days": 10,
            }
            aid: int = (await call("POST", "/api/auctions", buyer, body))["id"]
            await call("POST", f"/api/auctions/{aid}/publish", buyer)
            return aid

        tokens = list(await asyncio.gather(*(vendor(n) for n in range(vendors))))
        ids = list(await asyncio.gather(*(auction(n) for n in range(spread + 1))))
    return tokens, ids[0], ids[1:]


async def check_invariants(database_url: str, accepted: int) -> list[str]:
    """Per auction: amounts strictly decreasing by at least the decrement in bid id order,
    no two bids at one amount, bid_count and lowest_cents agreeing with the bids."""
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            """SELECT a.id, a.min_decrement_cents AS dec, a.bid_count, a.lowest_cents,
                      coalesce(array_agg(b.amount_cents ORDER BY b.id)
                               FILTER (WHERE b.id IS NOT NULL), '{}') AS amounts
               FROM auctions a LEFT JOIN bids b ON b.auction_id = a.id GROUP BY a.id"""
        )
    finally:
        await conn.close()
    steps = dupes = counts = lows = 0
    stored = 0
    for r in rows:
        amounts = list(r["amounts"])
        stored += len(amounts)
        steps += sum(1 for x, y in itertools.pairwise(amounts) if y > x - r["dec"])
        dupes += len(amounts) - len(set(amounts))
        counts += r["bid_count"] != len(amounts)
        lows += (amounts[-1] if amounts else None) != r["lowest_cents"]
    ok = steps == dupes == counts == lows == 0 and stored == accepted
    return [
        f"invariants ({len(rows)} auctions, {stored} stored bids): {'OK' if ok else 'VIOLATED'}",
        f"  steps smaller than min_decrement: {steps}; bids at a taken amount: {dupes}; "
        f"bid_count mismatches: {counts}; lowest_cents != last bid: {lows}; "
        f"201 answers {accepted} vs stored bids {stored}",
    ]


def table(rows: list[Row], concurrency: int) -> str:
    base = rows[0].load.requests / rows[0].load.elapsed
    head = f"{'phase':<22}{'bidders':>8}{'procs':>6}{'req/s':>9}{'accepted/s':>11}{'p50 ms':>8}{'p99 ms':>8}{'vs base':>9}{'client CPU':>11}"
    lines = [head, "-" * len(head)]
    for row in rows:
        load = row.load
        rps = load.requests / load.elapsed
        lat = sorted(load.latencies) or [0.0]
        p50 = statistics.median(lat) * 1000
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000
        accepted = (
            "-" if row.phase.startswith("baseline") else f"{load.accepted / load.elapsed:.0f}"
        )
        cpu = f"{100 * load.cpu / (load.elapsed * row.procs):.0f}%"
        lines.append(
            f"{row.phase:<22}{concurrency:>8}{row.procs:>6}{rps:>9.0f}{accepted:>11}{p50:>8.1f}{p99:>8.1f}"
            f"{rps / base:>9.2f}{cpu:>11}"
        )
    for row in rows[1:]:
        load = row.load
        lines.append(
            f"  {row.phase}: {load.accepted} accepted, {load.too_high} x 422, "
            f"{load.conflicts} x 409, {load.errors} errors"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--vendors", type=int, default=64, help="concurrent bidders (default 64)")
    parser.add_argument("--auctions", type=int, default=100, help="auctions of the spread phase")
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each phase")
    parser.add_argument(
        "--rounds", type=int, default=4, help="slices each phase is split into, taking turns"
    )
    parser.add_argument("--procs", type=int, default=1, help="load generator processes")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from bench.scratch import scratch_database
    from marketplace.embedded import services
    from marketplace.settings import load_settings

    data_dir = scratch_dir()
    settings = msgspec.structs.replace(load_settings(), data_dir=data_dir)
    with (
        services(settings) as svc,
        scratch_database(svc.database_url, "mp_bench", keep=args.keep) as database_url,
    ):
        env = {
            **os.environ,
            "MARKETPLACE_DATABASE_URL": database_url,
            "MARKETPLACE_REDIS_URL": svc.redis_url,
            "MARKETPLACE_DATA_DIR": str(data_dir),
            "MARKETPLACE_LOG_LEVEL": "warning",
            # each simulated bidder bids far faster than a person: the per-user limit is
            # still counted in Redis on every bid, only set out of reach
            "MARKETPLACE_BID_LIMIT_PER_MINUTE": "100000000",
        }
        api_port, base_port = free_port(), free_port()
        api_cmd = [sys.executable, "-m", "marketplace.cli", "serve", "--port", str(api_port)]
        base_cmd = [sys.executable, str(ROOT / "bench" / "baseline.py"), "--port", str(base_port)]
        with server(api_cmd, env, api_port) as api, server(base_cmd, env, base_port) as bare:
            tokens, hot, spread = asyncio.run(setup(api, database_url, args.vendors, args.auctions))
            print(
                f"setup: {len(tokens)} verified vendors, {len(spread) + 1} open auctions",
                flush=True,
            )
            phases = [
                ("baseline (bare POST)", bare, [1]),
                ("hot (1 auction)", api, [hot]),
                (f"spread ({len(spread)} auctions)", api, spread),
            ]
            with ProcessPoolExecutor(args.procs, mp_context=get_context("spawn")) as pool:
                loads = run_interleaved(
                    pool, tokens, args.procs, phases, args.rounds, args.seconds / args.rounds
                )
            rows = [
                Row(
                    phase=name,
                    load=merged(loads.rounds[name], together=False),
                    procs=args.procs,
                )
                for name, _, _ in phases
            ]
        accepted = sum(loads.accepted(name) for name, _, _ in phases[1:])
        print()
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        print(
            f"{args.seconds:g} s per phase in {args.rounds} interleaved slices; uvicorn, one process each; one httpx.AsyncClient per bidder; "
            f"{os.cpu_count()} CPUs, load average {load}"
        )
        print(table(rows, len(tokens)))
        lines = asyncio.run(check_invariants(database_url, accepted))
        print("\n".join(lines))
        return 0 if "OK" in lines[0] else 1


if __name__ == "__main__":
    sys.exit(main())
