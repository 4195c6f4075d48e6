"""`marketplace up` and friends driven as real processes over embedded servers.

Each test starts the command line in its own session (so the whole tree can be killed),
with a short data dir of its own and no server URLs, and finds the embedded servers it
started by their working directory (PostgreSQL and Valkey both run inside the data dir).
Whatever happens, the finally blocks kill the process group and every server left in the
data dir.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import redis as redis_sync

from marketplace import embedded
from marketplace.redis import WORKER_HEARTBEAT_KEY
from tests.conftest import Servers, with_database
from tests.helpers import auction_body, free_port

READY_WITHIN = 60.0
CLI = [sys.executable, "-m", "marketplace.cli"]


# --- processes, read from /proc -------------------------------------------------------


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, ppid, pgid) of a process, or None when it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    return fields[0], int(fields[1]), int(fields[2])


def alive(pid: int) -> bool:
    """True for a running process; zombies (nobody reaped them yet) count as gone."""
    stat = _stat(pid)
    return stat is not None and stat[0] not in ("Z", "X")


def _all_pids() -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]


def in_group(pgid: int) -> set[int]:
    return {pid for pid in _all_pids() if (s := _stat(pid)) and s[2] == pgid and s[0] not in "ZX"}


def children(pid: int) -> set[int]:
    return {p for p in _all_pids() if (s := _stat(p)) and s[1] == pid and s[0] not in "ZX"}


def running_in(folder: Path) -> set[int]:
    """Live processes whose working directory is inside folder (postmaster, backends, Valkey)."""
    found = set()
    for pid in _all_pids():
        with contextlib.suppress(OSError):
            cwd = Path(os.readlink(f"/proc/{pid}/cwd"))
            if (cwd == folder or folder in cwd.parents) and alive(pid):
                found.add(pid)
    return found


def exe_name(pid: int) -> str:
    try:
        return Path(os.readlink(f"/proc/{pid}/exe")).name
    except OSError:
        return ""


def postmasters(data_dir: Path) -> set[int]:
    """Postmasters of this data dir: postgres processes whose parent is not a postgres."""
    found = set()
    for pid in running_in(data_dir / "pg"):
        stat = _stat(pid)
        if stat and exe_name(pid) == "postgres" and exe_name(stat[1]) != "postgres":
            found.add(pid)
    return found


def valkeys(data_dir: Path) -> set[int]:
    return {pid for pid in running_in(data_dir / "redis") if "valkey" in exe_name(pid)}


def pidfile(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (FileNotFoundError, ValueError, IndexError):
        return None


def wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.2)


# --- the command line as a process ----------------------------------------------------


class Stack:
    """One short data dir, the env for the command line, and cleanup of all it started."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="mpl"))
        self.data_dir = self.root / "d"
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.groups: list[int] = []
        self._logs = 0
        env = {k: v for k, v in os.environ.items() if not k.startswith("MARKETPLACE_")}
        env.update(
            MARKETPLACE_DATA_DIR=str(self.data_dir),
            MARKETPLACE_PORT=str(self.port),
            MARKETPLACE_LOG_LEVEL="warning",
            PYTHONUNBUFFERED="1",
        )
        self.env = env

    def start(
        self, *args: str, ignoring_sigint: bool = False
    ) -> tuple[subprocess.Popen[bytes], Path]:
        """Start a long-running command in a new session; output goes to a log file.
        ``ignoring_sigint``: as a shell script's background job starts it (SIGINT ignored)."""
        self._logs += 1
        log = self.root / f"{args[0]}{self._logs}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [*CLI, *args],
                env=self.env,
                cwd=self.root,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_ignore_sigint if ignoring_sigint else None,
            )
        self.groups.append(proc.pid)
        return proc, log

    def run(
        self, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*CLI, *args],
            env=env or self.env,
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=120,
            start_new_session=True,
        )

    def wait_ready(self, proc: subprocess.Popen[bytes], log: Path) -> None:
        def ready() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"exited with {proc.returncode}:\n{log.read_text()}")
            try:
                return httpx.get(f"{self.base}/health/ready", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(ready, READY_WITHIN, f"{self.base}/health/ready")

    def create_admin(self, email: str) -> str:
        done = self.run("users", "create", "--email", email, "--name", "Ada", "--role", "admin")
        assert done.returncode == 0, done.stderr
        lines = done.stdout.strip().splitlines()
        token = lines[-1]
        assert token and " " not in token and email not in token, done.stdout
        return token

    def me(self, token: str) -> httpx.Response:
        return httpx.get(
            f"{self.base}/api/me", headers={"Authorization": f"Bearer {token}"}, timeout=10
        )

    def cleanup(self) -> None:
        for pgid in self.groups:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)
        if self.data_dir.exists():
            for pid in running_in(self.data_dir):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            wait_for(lambda: not running_in(self.data_dir), 10, "leftover servers to die")
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def stack() -> Iterator[Stack]:
    s = Stack()
    try:
        yield s
    finally:
        s.cleanup()


def assert_everything_stopped(
    data_dir: Path, proc: subprocess.Popen[bytes], log: Path, watched: set[int]
) -> None:
    """The process group is empty, the recorded pids are gone and no server uses the dir."""
    assert proc.returncode == 0, log.read_text()
    assert "Traceback" not in log.read_text(), log.read_text()
    wait_for(lambda: not in_group(proc.pid), 10, "the process group to empty")
    assert not {pid for pid in watched if alive(pid)}, log.read_text()
    assert not running_in(data_dir), log.read_text()
    assert not (data_dir / "pg" / "postmaster.pid").exists()
    assert not (data_dir / "redis" / "valkey.pid").exists()
    assert not (data_dir / "services.json").exists()


# --- the tests ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def running() -> Iterator[tuple[Stack, subprocess.Popen[bytes], Path]]:
    """One `marketplace up` shared by the first-start checks."""
    s = Stack()
    try:
        proc, log = s.start("up")
        s.wait_ready(proc, log)
        yield s, proc, log
    finally:
        s.cleanup()


def test_up_prints_urls_serves_docs_and_becomes_ready(
    running: tuple[Stack, subprocess.Popen[bytes], Path],
) -> None:
    s, _, log = running
    out = log.read_text()
    assert f"{s.base}/api" in out
    assert f"{s.base}/schema" in out
    page = httpx.get(f"{s.base}/schema", timeout=10)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    spec = httpx.get(f"{s.base}/schema/openapi.json", timeout=10)
    assert spec.status_code == 200
    doc = spec.json()
    assert doc["openapi"].startswith("3.") and "/health/ready" in doc["paths"]
    health = httpx.get(f"{s.base}/health/ready", timeout=10).json()
    assert health["checks"] == {"postgres": "ok", "redis": "ok", "worker": "ok"}
    # One of each embedded server, recorded where other commands find them.
    assert len(postmasters(s.data_dir)) == 1
    assert valkeys(s.data_dir) == {pidfile(s.data_dir / "redis" / "valkey.pid")}
    record = json.loads((s.data_dir / "services.json").read_text())
    assert record["database_url"].startswith("postgresql://")
    assert record["redis_url"].startswith("redis://127.0.0.1:")
    # The embedded PostgreSQL flushes its WAL the default way, before a commit returns, keeps
    # 128 MB of segments for reuse, and writes asynchronous commits (refused bids) within
    # 3 x 10 ms (marketplace/embedded.py).
    settings = asyncio.run(_wal_settings(record["database_url"]))
    assert settings == ("default", "on", "on", "128MB", "10ms"), settings
    # A new cluster starts with its WAL segments written ahead, so no commit waits while
    # one is created (marketplace/embedded.py).
    segments = embedded._wal_segments(s.data_dir / "pg")
    assert len(segments) > embedded.SPARE_WAL_SEGMENTS, segments


async def _wal_settings(url: str) -> tuple[str, str, str, str, str]:
    conn = await asyncpg.connect(url)
    try:
        row = await conn.fetchrow(
            """SELECT (SELECT source FROM pg_settings WHERE name = 'wal_sync_method'),
                      current_setting('fsync'),
                      current_setting('synchronous_commit'), current_setting('min_wal_size'),
                      current_setting('wal_writer_delay')"""
        )
    finally:
        await conn.close()
    return row[0], row[1], row[2], row[3], row[4]


def test_users_create_reuses_the_running_servers(
    running: tuple[Stack, subprocess.Popen[bytes], Path],
) -> None:
    s, proc, log = running
    servers_before = running_in(s.data_dir) & (postmasters(s.data_dir) | valkeys(s.data_dir))
    record_before = (s.data_dir / "services.json").read_text()
    token = s.create_admin("ada@example.gov")
    assert proc.poll() is None, log.read_text()
    # Nothing new started and nothing stopped: same postmaster, same Valkey, same record.
    assert postmasters(s.data_dir) | valkeys(s.data_dir) == servers_before
    assert (s.data_dir / "services.json").read_text() == record_before
    me = s.me(token)
    assert me.status_code == 200, me.text
    assert me.json()["email"] == "ada@example.gov"
    assert httpx.get(f"{s.base}/health/ready", timeout=10).status_code == 200
    # A second user through the same path: the token line is the new user's.
    other = s.create_admin("grace@example.gov")
    assert s.me(other).json()["email"] == "grace@example.gov"


def test_kill_9_then_up_again_recovers_and_keeps_data(stack: Stack) -> None:
    proc, log = stack.start("up")
    stack.wait_ready(proc, log)
    token = stack.create_admin("ada@example.gov")
    old_valkey = pidfile(stack.data_dir / "redis" / "valkey.pid")
    assert old_valkey is not None

    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    wait_for(lambda: not in_group(proc.pid), 10, "the killed group to die")
    # What a crash leaves behind: the URL record and a Valkey pidfile naming a dead process.
    assert (stack.data_dir / "services.json").exists()
    assert (stack.data_dir / "redis" / "valkey.pid").exists()

    again, log2 = stack.start("up")
    stack.wait_ready(again, log2)
    me = stack.me(token)
    assert me.status_code == 200, me.text
    assert me.json()["email"] == "ada@example.gov"
    assert len(postmasters(stack.data_dir)) == 1
    assert len(valkeys(stack.data_dir)) == 1
    assert json.loads((stack.data_dir / "services.json").read_text())["pid"] == again.pid
    # The restarted stack is fully working: a new user through the reused servers.
    assert stack.me(stack.create_admin("grace@example.gov")).status_code == 200

    watched = in_group(again.pid) | running_in(stack.data_dir)
    again.send_signal(signal.SIGTERM)
    again.wait(timeout=60)
    assert_everything_stopped(stack.data_dir, again, log2, watched)


def test_up_recovers_from_a_valkey_that_outlived_its_starter(stack: Stack) -> None:
    """A Valkey whose starter died (reparented, still running) is stopped, not doubled."""
    proc, log = stack.start("up")
    stack.wait_ready(proc, log)
    token = stack.create_admin("ada@example.gov")
    orphan = pidfile(stack.data_dir / "redis" / "valkey.pid")
    assert orphan is not None
    # Kill everything in the group but Valkey, as a crash of the Python side would.
    for pid in in_group(proc.pid) - {orphan}:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert alive(orphan)

    again, log2 = stack.start("up")
    stack.wait_ready(again, log2)
    assert not alive(orphan)
    assert len(valkeys(stack.data_dir)) == 1
    assert stack.me(token).status_code == 200
    watched = in_group(again.pid) | running_in(stack.data_dir)
    again.send_signal(signal.SIGINT)
    again.wait(timeout=60)
    assert_everything_stopped(stack.data_dir, again, log2, watched)


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize(
    "how",
    [
        "ctrl-c to the process group",
        "ctrl-c twice",
        "sigint to up",
        "sigterm to up",
        "ctrl-c to up started with ctrl-c ignored",
    ],
)
def test_up_stops_api_worker_and_servers_on_signal(stack: Stack, how: str) -> None:
    proc, log = stack.start("up", ignoring_sigint=how.endswith("ignored"))
    stack.wait_ready(proc, log)
    api_and_worker = children(proc.pid) - running_in(stack.data_dir)
    assert len(api_and_worker) >= 2
    postmaster = pidfile(stack.data_dir / "pg" / "postmaster.pid")
    valkey = pidfile(stack.data_dir / "redis" / "valkey.pid")
    assert postmaster and valkey and alive(postmaster) and alive(valkey)
    watched = in_group(proc.pid) | running_in(stack.data_dir) | {postmaster, valkey}

    if how == "ctrl-c to the process group":
        os.killpg(proc.pid, signal.SIGINT)
    elif how == "ctrl-c to up started with ctrl-c ignored":
        os.killpg(proc.pid, signal.SIGINT)
    elif how == "ctrl-c twice":
        # An impatient second Ctrl-C lands while up is stopping; it must still stop it all.
        os.killpg(proc.pid, signal.SIGINT)
        time.sleep(0.3)
        os.killpg(proc.pid, signal.SIGINT)
    elif how == "sigint to up":
        proc.send_signal(signal.SIGINT)
    else:
        proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    assert_everything_stopped(stack.data_dir, proc, log, watched)
    # The lock is free again: the next command becomes the starter.
    done = stack.run("migrate")
    assert done.returncode == 0, done.stderr
    assert not running_in(stack.data_dir)


class OpenFeed:
    """A browser's live feed of one auction, read in a thread until the server ends it."""

    def __init__(self, url: str, token: str) -> None:
        self.started = threading.Event()
        self.lines: list[str] = []
        self.error: BaseException | None = None
        self.ended = threading.Event()
        self._thread = threading.Thread(target=self._read, args=(url, token), daemon=True)
        self._thread.start()

    def _read(self, url: str, token: str) -> None:
        try:
            headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
            with httpx.stream("GET", url, headers=headers, timeout=60) as r:
                assert r.status_code == 200, r.read()
                for line in r.iter_lines():
                    self.lines.append(line)
                    self.started.set()
        except BaseException as exc:  # the test reads it
            self.error = exc
        finally:
            self.started.set()
            self.ended.set()


def open_auction_feed(stack: Stack) -> OpenFeed:
    """A buyer's draft auction with its live feed open, as the buyer's page holds it."""
    admin = {"Authorization": f"Bearer {stack.create_admin('ada@example.gov')}"}
    r = httpx.post(f"{stack.base}/api/departments", json={"name": "Parks"}, headers=admin)
    assert r.status_code == 201, r.text
    done = stack.run(
        "users", "create", "--email", "bo@example.gov", "--name", "Bo", "--role", "buyer",
        "--department", "Parks",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    buyer = done.stdout.strip().splitlines()[-1]
    body = auction_body(starts_at="2030-01-01T09:00:00Z", ends_at="2030-01-01T10:00:00Z")
    r = httpx.post(
        f"{stack.base}/api/auctions", json=body, headers={"Authorization": f"Bearer {buyer}"}
    )
    assert r.status_code == 201, r.text
    feed = OpenFeed(f"{stack.base}/api/auctions/{r.json()['id']}/events", buyer)
    assert feed.started.wait(30) and feed.error is None, feed.error
    assert any(line.startswith("retry:") for line in feed.lines), feed.lines
    return feed


@pytest.mark.parametrize("presses", [1, 2], ids=["ctrl-c", "ctrl-c twice"])
def test_up_stops_cleanly_while_a_live_feed_is_open(stack: Stack, presses: int) -> None:
    """A browser page left open holds a live feed. Ctrl-C ends that feed at once, as a
    clean end of stream its EventSource reconnects from, and the API still runs its own
    shutdown (pools and Redis closed) however impatient the operator is; before, the API
    waited on the feed until ``up`` killed it 15 s later, and a second Ctrl-C in that
    wait skipped the app's shutdown (a CancelledError traceback in the log)."""
    proc, log = stack.start("up")
    stack.wait_ready(proc, log)
    feed = open_auction_feed(stack)
    watched = in_group(proc.pid) | running_in(stack.data_dir)

    os.killpg(proc.pid, signal.SIGINT)
    if presses == 2:
        time.sleep(0.3)
        os.killpg(proc.pid, signal.SIGINT)
    proc.wait(timeout=60)
    assert feed.ended.wait(10)
    assert feed.error is None, f"the feed was cut, not ended: {feed.error!r}"
    assert "did not stop" not in log.read_text(), log.read_text()
    assert_everything_stopped(stack.data_dir, proc, log, watched)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "sigint"])
@pytest.mark.parametrize("command", ["serve", "worker"])
def test_serve_and_worker_stop_their_embedded_servers_on_signal(
    stack: Stack, command: str, signum: int
) -> None:
    """Run alone with no URLs, serve and worker are the starters and must stop the servers."""
    proc, log = stack.start(command)
    record = stack.data_dir / "services.json"

    def started() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"exited with {proc.returncode}:\n{log.read_text()}")
        if not record.exists():
            return False
        if command == "serve":
            try:
                return httpx.get(f"{stack.base}/health/live", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False
        client = redis_sync.Redis.from_url(json.loads(record.read_text())["redis_url"])
        try:
            return client.get(WORKER_HEARTBEAT_KEY) is not None
        finally:
            client.close()

    wait_for(started, READY_WITHIN, f"`marketplace {command}` to start")
    watched = in_group(proc.pid) | running_in(stack.data_dir)
    assert postmasters(stack.data_dir) and valkeys(stack.data_dir)
    proc.send_signal(signum)
    proc.wait(timeout=60)
    assert_everything_stopped(stack.data_dir, proc, log, watched)


async def test_migrate_with_both_urls_starts_nothing(servers: Servers) -> None:
    name = f"mp_lc_{os.getpid()}"
    admin = await asyncpg.connect(servers.database_url)
    await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    await admin.execute(f"CREATE DATABASE {name}")
    s = Stack()
    try:
        env = {
            **s.env,
            "MARKETPLACE_DATABASE_URL": with_database(servers.database_url, name),
            "MARKETPLACE_REDIS_URL": servers.redis_url,
        }
        done = s.run("migrate", env=env)
        assert done.returncode == 0, done.stderr
        assert "applied 0001_" in done.stdout
        assert "database is up to date" in done.stdout
        assert not s.data_dir.exists(), list(s.data_dir.rglob("*"))
        conn = await asyncpg.connect(with_database(servers.database_url, name))
        try:
            assert await conn.fetchval("SELECT to_regclass('users') IS NOT NULL")
        finally:
            await conn.close()
    finally:
        s.cleanup()
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.close()
