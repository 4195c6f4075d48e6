"""Extract octokit's real webhook payloads of the events the product accepts.

Source: the npm package ``@octokit/webhooks-examples`` (payloads collected from GitHub by
octokit), file ``api.github.com/index.json``. Run from the repository root:

    python tests/github_schema/extract_webhooks.py            # npm pack the VERSION below
    python tests/github_schema/extract_webhooks.py PACKAGE    # an unpacked package folder

It writes ``tests/github_schema/webhook_examples.json``: every example of the EVENTS, as
published, one per line.
"""

from __future__ import annotations

import json
import pathlib
import sys
from typing import Any

from npm import package_file  # run as a script: its folder is on sys.path

PACKAGE = "@octokit/webhooks-examples"
VERSION = "7.6.1"
EVENTS = ("pull_request", "check_run", "check_suite", "status", "ping")
OUT = pathlib.Path(__file__).with_name("webhook_examples.json")


def _index(package: pathlib.Path | None) -> list[dict[str, Any]]:
    text = package_file(PACKAGE, VERSION, "api.github.com/index.json", package)
    return list(json.loads(text))


def main() -> None:
    package = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else None
    examples = [
        json.dumps({"event": entry["name"], "payload": payload}, sort_keys=True)
        for entry in _index(package)
        if entry["name"] in EVENTS
        for payload in entry["examples"]
    ]
    source = json.dumps(f"npm {PACKAGE}@{VERSION}, api.github.com/index.json")
    OUT.write_text('{"source": ' + source + ',\n"examples": [\n' + ",\n".join(examples) + "\n]}\n")
    print(f"wrote {len(examples)} examples to {OUT}")


if __name__ == "__main__":
    main()
