"""The demo marketplace's world: its departments, staff, vendors and the tasks they post,
written as a newcomer should meet them."""

from __future__ import annotations

import msgspec

DEPARTMENTS = (
    "City of Springfield - Permits Office",
    "State Health Dept - Digital Services",
    "County Library System - Web Team",
    "Metro Transit Authority - Rider Information",
)


# (email, name, roles, department index or None)
STAFF = (
    ("lena.ortiz@springfield.example.gov", "Lena Ortiz", ["buyer"], 0),
    ("marcus.webb@health.example.gov", "Marcus Webb", ["buyer"], 1),
    ("priya.nair@library.example.gov", "Priya Nair", ["buyer"], 2),
    ("tom.becker@transit.example.gov", "Tom Becker", ["buyer"], 3),
    ("grace.kim@marketplace.example.gov", "Grace Kim", ["reviewer"], None),
    ("omar.haddad@springfield.example.gov", "Omar Haddad", ["reviewer"], 0),
    ("june.park@marketplace.example.gov", "June Park", ["finance"], None),
    ("sam.oyelaran@oig.example.gov", "Sam Oyelaran (Inspector General)", ["auditor"], None),
)


# (email, name, verification kind, registry id); the last one is left pending for the admin.
VENDORS = (
    ("hello@tidewater.dev", "Tidewater Software LLC", "business", "UEI-TWS8K2LM4Q"),
    ("contact@brightpath.io", "Brightpath Digital Co-op", "business", "UEI-BPD3N7XR2A"),
    ("ana.souza@fastmail.example", "Ana Souza", "individual", "SAM-IND-40817"),
    ("dev@quillandbyte.com", "Quill & Byte Studio", "business", "UEI-QBS5H1ZT9C"),
    ("ravi.k@student.example.edu", "Ravi Krishnan", "student", "EDU-STATEU-221904"),
    ("mia.chen@example.com", "Mia Chen", "individual", "SAM-IND-51233"),
    ("ops@northloop.tech", "Northloop Technologies", "business", "UEI-NLT6W4PB8D"),
    ("jbrooks@student.example.edu", "Jordan Brooks", "student", "EDU-CITYCOL-8812"),
    ("team@openparcel.org", "OpenParcel Civic Tech", "business", "UEI-OPC2J9VK5E"),
    ("e.adeyemi@example.com", "Emeka Adeyemi", "individual", "SAM-IND-60391"),
    ("h.lindqvist@example.com", "Hanna Lindqvist", "individual", "SAM-IND-70214"),
)


class Task(msgspec.Struct, frozen=True, kw_only=True):
    """One demo auction and the state it is left in."""

    department: int
    title: str
    summary: str
    criteria: tuple[str, ...]
    repo: str
    issue: int
    skills: tuple[str, ...]
    cap: int
    state: str  # open, closing, scheduled, awarded, no_bids, draft
    type: str = "reverse"
    bids: int = 0
    decrement: int = 100
    # A clarification question a vendor asks, and the buyer's answer.
    question: tuple[str, str] | None = None
    # Bids placed as given, (index among the verified vendors, amount), instead of random
    # ones: the tasks that show the red flags of /audit/flags.
    offers: tuple[tuple[int, int], ...] = ()


TASKS = (
    Task(
        department=0,
        title="Fix the date picker on the building permit form in Safari",
        summary="Safari 17 users cannot choose an inspection date; the picker closes at once.",
        criteria=(
            "Dates can be picked in Safari 17, Chrome and Firefox",
            "A Playwright test covers the picker in WebKit",
            "No change to the submitted date format (YYYY-MM-DD)",
        ),
        repo="springfield-gov/permits-portal",
        issue=214,
        skills=("javascript", "playwright"),
        cap=150_000,
        state="open",
        question=(
            "Does the fix need to cover the renewal form too? It uses the same picker.",
            "Yes: both forms share the picker component, so one fix and one test cover both.",
        ),
        bids=7,
    ),
    Task(
        department=1,
        title="Export vaccination clinic hours as an iCalendar feed",
        summary="Residents want clinic hours in their calendar apps.",
        criteria=(
            "GET /clinics/{id}/hours.ics returns a valid RFC 5545 feed",
            "Recurring weekly hours use RRULE, holidays use EXDATE",
            "Unit tests validate the feed with the icalendar library",
        ),
        repo="state-health/clinic-finder",
        issue=88,
        skills=("python", "django"),
        cap=400_000,
        state="open",
        bids=9,
        decrement=500,
    ),
    Task(
        department=2,
        title="Make the catalog search results page pass WCAG 2.1 AA",
        summary="An accessibility audit found 14 issues on the search results page.",
        criteria=(
            "axe-core reports no violations on /search",
            "Results are announced to screen readers when filters change",
            "Keyboard users can reach every facet and result",
        ),
        repo="county-library/catalog-web",
        issue=503,
        skills=("accessibility", "react"),
        cap=600_000,
        state="closing",
        bids=5,
    ),
    Task(
        department=3,
        title="Show real-time arrival predictions on stop pages",
        summary="Stop pages show only the timetable; the GTFS-Realtime feed is not used.",
        criteria=(
            "Stop pages show the next three predicted arrivals",
            "Predictions refresh every 30 s without a page reload",
            "Falls back to the timetable when the feed is stale",
        ),
        repo="metro-transit/rider-info",
        issue=1207,
        skills=("typescript", "gtfs"),
        cap=850_000,
        state="closing",
        bids=4,
        decrement=1_000,
    ),
    Task(
        department=0,
        title="Add CSV export to the contractor license lookup",
        summary="Clerks copy search results by hand into spreadsheets.",
        criteria=(
            "An 'Export CSV' button downloads the current results",
            "Exports stream, so 50,000 rows do not time out",
            "Columns match the on-screen table",
        ),
        repo="springfield-gov/license-lookup",
        issue=41,
        skills=("python", "flask"),
        cap=90_000,
        state="scheduled",
    ),
    Task(
        department=1,
        title="Translate the WIC eligibility screener into Spanish",
        summary="Wire the existing i18n framework into the screener and add es-US strings.",
        criteria=(
            "All screener strings come from the message catalog",
            "es-US translations reviewed by the department (provided)",
            "Language switcher remembers the choice",
        ),
        repo="state-health/wic-screener",
        issue=17,
        skills=("i18n", "vue"),
        cap=300_000,
        state="open",
        type="sealed",
        bids=3,
    ),
    Task(
        department=2,
        title="Replace the cron-based overdue notices with a queue worker",
        summary="Nightly cron misses notices when the mail server is slow.",
        criteria=(
            "Notices are sent by a retrying worker, each exactly once",
            "A failed send is retried with backoff and logged",
            "Integration test with a fake SMTP server",
        ),
        repo="county-library/circulation",
        issue=320,
        skills=("python", "celery"),
        cap=500_000,
        state="awarded",
        bids=6,
        decrement=500,
    ),
    Task(
        department=3,
        title="Fix timezone bug in service-alert expiry",
        summary="Alerts posted after 5 pm expire a day early (UTC vs local time).",
        criteria=(
            "Alert expiry is computed in America/Chicago",
            "Regression tests around DST changes",
            "No migration of existing alerts needed",
        ),
        repo="metro-transit/service-alerts",
        issue=66,
        skills=("go",),
        cap=120_000,
        state="awarded",
        type="sealed",
        bids=4,
    ),
    Task(
        department=0,
        title="Document the permits API with an OpenAPI 3.1 spec",
        summary="Partners integrate by reading the source; publish a spec instead.",
        criteria=(
            "openapi.yaml covers every public endpoint",
            "CI validates the spec against the running app",
            "Rendered docs at /docs",
        ),
        repo="springfield-gov/permits-api",
        issue=9,
        skills=("openapi", "documentation"),
        cap=50_000,
        state="no_bids",
    ),
    # Three awards of the transit authority that an auditor should look at: one vendor won
    # them all (with the sealed award above, at least three of its four this quarter), two
    # of them together exceed the micro-purchase threshold within days, the first at its
    # cap with a single bidder, the last a tie of identical sealed bids.
    Task(
        department=3,
        title="Migrate the trip planner geocoder to the regional address service",
        summary="The trip planner still calls a geocoder the region retired.",
        criteria=(
            "Addresses resolve through the regional service",
            "Fallback to stop names when an address is ambiguous",
        ),
        repo="metro-transit/trip-planner",
        issue=402,
        skills=("python",),
        cap=600_000,
        state="awarded",
        offers=((0, 600_000),),
    ),
    Task(
        department=3,
        title="Add the regional address service to the paratransit booking form",
        summary="Booking agents type addresses twice; reuse the regional service.",
        criteria=(
            "The booking form autocompletes addresses",
            "Existing bookings keep their addresses",
        ),
        repo="metro-transit/paratransit-booking",
        issue=88,
        skills=("python", "javascript"),
        cap=550_000,
        state="awarded",
        offers=((0, 540_000),),
    ),
    Task(
        department=3,
        title="Publish elevator outages as GTFS-Realtime alerts",
        summary="Elevator outages are posted on a web page only.",
        criteria=(
            "Outages appear in the alerts feed within a minute",
            "Each alert names the station and the elevator",
        ),
        repo="metro-transit/service-alerts",
        issue=71,
        skills=("go", "gtfs"),
        cap=200_000,
        state="awarded",
        type="sealed",
        offers=((0, 150_000), (3, 150_000)),
    ),
    Task(
        department=1,
        title="Add a dark mode to the health alerts dashboard",
        summary="Operators work night shifts; the dashboard is too bright.",
        criteria=(
            "Follows prefers-color-scheme, with a manual toggle",
            "Contrast ratios meet WCAG AA in both themes",
        ),
        repo="state-health/alerts-dashboard",
        issue=142,
        skills=("css", "react"),
        cap=80_000,
        state="draft",
    ),
)


def description_of(task: Task) -> str:
    items = "\n".join(f"- {c}" for c in task.criteria)
    return (
        f"{task.summary}\n\n## Acceptance criteria\n{items}\n\n"
        f"Deliver a pull request to {task.repo} that references #{task.issue}, "
        "with passing checks, merged by someone other than its author."
    )
