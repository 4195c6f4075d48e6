"""The demo's scenes after award and the sandbox's people: what each scene is (its auction,
repository and the state it ends in), the GitHub sandbox accounts, and each department's
payment hold. ``demo_states`` takes the scenes to their states."""

from __future__ import annotations

import msgspec

from marketplace.sandbox.server import Sandbox
from marketplace.settings import Settings

# Each department's payment hold in the demo: Springfield keeps a day (orders on hold and
# disputed stay so), the others release within a minute, so every payment state shows.
DEPARTMENT_HOLDS = (86_400, 5, 60, 60)
# The hold the demo's API applies to acceptances made during the walk.
WALK_HOLD_SECONDS = 60

VENDOR_LOGIN = "tidewater-dev"  # the vendor persona's sandbox GitHub account
VENDOR_GITHUB_ID = 7_001
NEWCOMER_LOGIN = "new-vendor"  # a sandbox account linked to nobody: GitHub sign-in signs up
MAINTAINERS = ("springfield-maint", "health-maint", "library-maint", "transit-maint")


class Scene(msgspec.Struct, frozen=True, kw_only=True):
    """An auction won by the vendor persona (or, for ``reawarded``, by someone who misses)."""

    department: int
    title: str
    summary: str
    repo: str
    issue: int
    cap: int
    goal: str  # ready, failing_check, pending_review, on_hold, disputed, paid, confirmed,
    # reawarded, cancelled


SCENES = (
    Scene(
        department=3,
        title="Add a bike-rack layer to the trip planner map",
        summary="Riders ask where they can lock a bike at each station.",
        repo="metro-transit/trip-planner",
        issue=311,
        cap=240_000,
        goal="ready",
    ),
    Scene(
        department=3,
        title="Cache the GTFS static feed between deploys",
        summary="Every deploy re-downloads a 90 MB feed; cache it by its ETag.",
        repo="metro-transit/gtfs-loader",
        issue=58,
        cap=180_000,
        goal="pending_review",
    ),
    Scene(
        department=2,
        title="Fix the hold-queue position shown to patrons",
        summary="Patrons see position 1 when they are fourth in the queue.",
        repo="county-library/holds",
        issue=77,
        cap=150_000,
        goal="failing_check",
    ),
    Scene(
        department=0,
        title="Validate parcel numbers on the zoning request form",
        summary="Clerks re-key requests whose parcel numbers were mistyped.",
        repo="springfield-gov/zoning-requests",
        issue=132,
        cap=120_000,
        goal="on_hold",
    ),
    Scene(
        department=0,
        title="Send permit expiry reminders by text message",
        summary="Permit holders miss renewals that are announced by letter only.",
        repo="springfield-gov/permit-reminders",
        issue=19,
        cap=350_000,
        goal="disputed",
    ),
    Scene(
        department=1,
        title="Add a printable version of the immunization record",
        summary="Parents need a one-page record for school enrolment.",
        repo="state-health/immunization-portal",
        issue=240,
        cap=200_000,
        goal="paid",
    ),
    Scene(
        department=1,
        title="Show wait times at walk-in clinics",
        summary="Clinics report queue length; the finder does not show it yet.",
        repo="state-health/clinic-finder",
        issue=95,
        cap=260_000,
        goal="confirmed",
    ),
    Scene(
        department=2,
        title="Let patrons renew e-books from the loans page",
        summary="Renewing an e-book takes five clicks through the vendor's site.",
        repo="county-library/loans",
        issue=410,
        cap=90_000,
        goal="reawarded",
    ),
    Scene(
        department=0,
        title="Migrate the permits office intranet to the new CMS",
        summary="Withdrawn: the department's IT office is doing the migration itself.",
        repo="springfield-gov/intranet",
        issue=3,
        cap=700_000,
        goal="cancelled",
    ),
)


class Walk(msgspec.Struct, frozen=True, kw_only=True):
    """Where the newcomer's walk starts: the auction to deliver and its pull request."""

    deliver_auction_id: int
    pull_request_url: str
    review_auction_id: int


def sandbox_settings(settings: Settings, sandbox: Sandbox) -> Settings:
    """``settings`` pointed at the sandbox, as ``sandbox.environment()`` points the children."""
    return msgspec.structs.replace(
        settings,
        github_api_url=sandbox.api_url,
        github_url=sandbox.web_url,
        github_client_id=sandbox.client_id,
        github_client_secret=sandbox.client_secret,
        github_webhook_secret=sandbox.webhook_secret,
        github_token=sandbox.worker_token,
        github_sandbox=True,
    )
