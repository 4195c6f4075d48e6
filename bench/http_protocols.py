"""The HTTP layer alone: bench/baseline.py's bare app behind three server setups at once.

    python bench/http_protocols.py [--rounds 6] [--seconds 2] [--connections 32]

A: uvicorn's httptools protocol as it comes (no header limit, no header deadline);
B: the API's (marketplace/http_limits.py, the limits of the default settings);
C: uvicorn's h11 protocol with ``h11_max_incomplete_event_size`` at the same header budget.
The three run side by side and take turns in short slices (the order reversed every other
round), so a busy stretch of the machine falls on all alike; the load is raw keep-alive
connections POSTing a bid, lighter than httpx, so the servers rather than the client are the
limit. Prints each setup's req/s per slice and B/A, C/A (docs/performance.md, "HTTP limits").
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import subprocess
import sys
import time
from typing import Any

import httpx

from bench.bids import ROOT, free_port

REQUEST = (
    b"POST /api/auctions/1/bids HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    b"Content-Type: application/json\r\nAuthorization: Bearer " + b"t" * 43 + b"\r\n"
    b"Content-Length: 22\r\n\r\n"
    b'{"amount_cents":99990}'
)


def serve(setup: str, port: int) -> None:
    import uvicorn

    from bench.baseline import app
    from marketplace.http_limits import limited_protocol
    from marketplace.settings import load_settings

    settings = load_settings()
    setups: dict[str, dict[str, Any]] = {
        "A": {},
        "B": {"http": limited_protocol(settings)},
        "C": {"http": "h11", "h11_max_incomplete_event_size": settings.http_max_header_bytes},
    }
    options = setups[setup]
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, **options)


async def _connection(port: int, deadline: float, done: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    while time.perf_counter() < deadline:
        writer.write(REQUEST)
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        await reader.readexactly(length)
        done[0] += 1
    writer.close()


async def _slice(port: int, seconds: float, connections: int) -> float:
    done = [0]
    deadline = time.perf_counter() + seconds
    await asyncio.gather(*(_connection(port, deadline, done) for _ in range(connections)))
    return done[0] / seconds


async def _ready(port: int) -> None:
    async with httpx.AsyncClient(timeout=2) as http:
        for _ in range(300):
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(f"http://127.0.0.1:{port}/health/live")).status_code == 200:
                    return
            await asyncio.sleep(0.1)
    raise RuntimeError(f"the server on port {port} did not answer")


async def measure(ports: dict[str, int], rounds: int, seconds: float, connections: int) -> None:
    for port in ports.values():
        await _ready(port)
        await _slice(port, 0.5, connections)  # warm-up, not counted
    rates: dict[str, list[float]] = {setup: [] for setup in ports}
    for n in range(rounds):
        for setup in list(ports) if n % 2 == 0 else list(reversed(ports)):
            rates[setup].append(await _slice(ports[setup], seconds, connections))
    for setup, values in rates.items():
        print(
            f"{setup}: {sum(values) / len(values):.0f} req/s ("
            + ", ".join(f"{v:.0f}" for v in values)
            + ")"
        )
    a = sum(rates["A"])
    print(f"B/A {sum(rates['B']) / a:.2f}, C/A {sum(rates['C']) / a:.2f}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=2.0, help="length of one slice")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--serve", nargs=2, metavar=("SETUP", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve[0], int(args.serve[1]))
        return 0
    ports = {setup: free_port() for setup in "ABC"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "bench.http_protocols", "--serve", s, str(p)], cwd=ROOT
        )
        for s, p in ports.items()
    ]
    try:
        asyncio.run(measure(ports, args.rounds, args.seconds, args.connections))
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=15)
    return 0


if __name__ == "__main__":
    sys.exit(main())
