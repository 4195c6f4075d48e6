"""Benchmark: a JSONL audit export against a bare COPY of the same table.

Seeds N audit rows (default 1,000,000) into a scratch database, then runs two phases,
each in a fresh child process so that its peak RSS (getrusage ru_maxrss) is its own:

- baseline: ``COPY audit_log TO STDOUT`` through asyncpg into a file;
- export:   ``marketplace.audit.export.export_to_file`` (the code path of the CLI and,
            minus the HTTP framing, of ``GET /api/audit/export``) into a file.

It prints rows/s and peak RSS of both and the ratios export/baseline. Embedded PostgreSQL
is started in a temporary data dir unless MARKETPLACE_DATABASE_URL and MARKETPLACE_REDIS_URL
are set, in which case a scratch database is created (and dropped) on that server.

    python bench/export.py --rows 200000
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

from marketplace.settings import Settings, load_settings

SEED = """
SELECT audit_append(
    CASE WHEN g % 4 = 0 THEN 'global' ELSE 'auction:' || (g % 500) END,
    CASE WHEN g % 4 = 0 THEN NULL ELSE g % 500 END,
    false,
    json_build_object(
        'actor_id', g % 997, 'role', 'vendor', 'action', 'bid.placed', 'object_type', 'bid',
        'object_id', g, 'before', NULL,
        'after', json_build_object('amount_cents', 100000 - g % 1000, 'note', repeat('x', 60)),
        'request_id', md5(g::text))::text)
FROM generate_series($1::bigint, $2::bigint) AS g
"""


def _peak_rss_mb() -> float:
    # ru_maxrss is in KiB on Linux, bytes on macOS.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


async def _seed(url: str, rows: int) -> None:
    conn = await asyncpg.connect(url)
    try:
        batch = 50_000
        for start in range(1, rows + 1, batch):
            await conn.execute(SEED, start, min(rows, start + batch - 1))
            print(f"\rseeded {min(rows, start + batch - 1)}/{rows} rows", end="", file=sys.stderr)
        print(file=sys.stderr)
        await conn.execute("ANALYZE audit_log")
    finally:
        await conn.close()


async def _baseline(url: str, out: Path) -> int:
    conn = await asyncpg.connect(url)
    try:
        with out.open("wb") as fh:
            status: str = await conn.copy_from_table("audit_log", output=fh)
    finally:
        await conn.close()
    return int(status.split()[-1])


async def _export(url: str, out: Path, data_dir: Path) -> int:
    from marketplace.audit import signing
    from marketplace.audit.export import Query, export_to_file

    key = signing.signing_key(Settings(data_dir=data_dir))
    with out.open("wb") as fh:
        return await export_to_file(url, Query(), "jsonl", key, fh)


def child(phase: str, url: str, out: Path, data_dir: Path) -> None:
    started = time.perf_counter()
    if phase == "copy":
        rows = asyncio.run(_baseline(url, out))
    else:
        rows = asyncio.run(_export(url, out, data_dir))
    seconds = time.perf_counter() - started
    result = {
        "rows": rows,
        "seconds": seconds,
        "rss_mb": _peak_rss_mb(),
        "bytes": out.stat().st_size,
    }
    print(json.dumps(result))


def _run_phase(phase: str, url: str, work: Path) -> dict[str, float]:
    out = work / f"{phase}.out"
    argv = [sys.executable, __file__, "--phase", phase, "--url", url, "--work", str(work)]
    done = subprocess.run(argv, check=True, capture_output=True, text=True)
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    out.unlink(missing_ok=True)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--phase", choices=["copy", "export"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        work = Path(args.work)
        child(args.phase, args.url, work / f"{args.phase}.out", work)
        return 0

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from bench.scratch import scratch_database
    from marketplace.embedded import services

    env = load_settings()
    with tempfile.TemporaryDirectory(prefix="mp-bench-") as tmp:
        work = Path(tmp)
        settings = Settings(
            database_url=env.database_url, redis_url=env.redis_url, data_dir=work / "data"
        )
        with (
            services(settings) as svc,
            scratch_database(svc.database_url, "mp_bench_export") as url,
        ):
            asyncio.run(_seed(url, args.rows))
            base = _run_phase("copy", url, work)
            exp = _run_phase("export", url, work)
    rows = int(exp["rows"])
    print(f"rows exported:        {rows} (COPY: {int(base['rows'])})")
    print(
        f"COPY baseline:        {base['rows'] / base['seconds']:>10,.0f} rows/s  "
        f"peak RSS {base['rss_mb']:.1f} MiB  {base['bytes'] / 2**20:.1f} MiB written"
    )
    print(
        f"JSONL export:         {rows / exp['seconds']:>10,.0f} rows/s  "
        f"peak RSS {exp['rss_mb']:.1f} MiB  {exp['bytes'] / 2**20:.1f} MiB written"
    )
    print(
        f"export / baseline:    speed x{(rows / exp['seconds']) / (base['rows'] / base['seconds']):.2f}"
        f"  peak RSS x{exp['rss_mb'] / base['rss_mb']:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
