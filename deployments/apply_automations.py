"""Create or update the automations in deployments/automations.yaml on the Prefect API in
PREFECT_API_URL. Idempotent: an automation with the same name is updated, not duplicated.

A send-notification action names its notification block with ``block_document_name``. If no block
of that name exists and a webhook URL is given (``--webhook-url`` or ``BRIEFS_ALERT_WEBHOOK_URL``),
a Custom Webhook block posting ``{"subject": ..., "body": ...}`` as JSON is saved under that name.
With neither, the automation is skipped with a note: make a notification block of that name in
the UI (Blocks, +: Slack, email, Microsoft Teams, PagerDuty...) and run this again.

    .venv/bin/python deployments/apply_automations.py [--file deployments/automations.yaml] [--webhook-url URL]
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

HERE = Path(__file__).resolve().parent


def load(path: Path) -> list[dict[str, Any]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if isinstance(data, dict) and "automations" in data:
        return list(data["automations"])
    return list(data) if isinstance(data, list) else [data]


def find_block_id(client: Any, name: str) -> Any | None:
    """The id of the block document called ``name`` (any notification block type), or None."""
    for block in client.read_block_documents():
        if block.name == name and not block.is_anonymous:
            return block.id
    return None


def save_webhook_block(name: str, url: str) -> Any:
    from prefect.blocks.notifications import CustomWebhookNotificationBlock

    block = CustomWebhookNotificationBlock(name=name, url=url, method="POST",
                                           json_data={"subject": "{{subject}}", "body": "{{body}}"})
    return block.save(name, overwrite=True)


def resolve_blocks(client: Any, automation: dict[str, Any], webhook_url: str | None) -> str | None:
    """Replace ``block_document_name`` by ``block_document_id`` in place; the reason if it cannot."""
    for action in automation.get("actions", []):
        name = action.pop("block_document_name", None)
        if not name:
            continue
        block_id = None if webhook_url else find_block_id(client, name)
        if block_id is None and webhook_url:
            block_id = save_webhook_block(name, webhook_url)
            # The URL's path and query often hold a token (Slack, Teams): show only the host.
            print(f"  notification block {name!r}: Custom Webhook to {urlsplit(webhook_url).hostname}")
        if block_id is None:
            return (f"no notification block named {name!r}: create one in the UI (Blocks) or pass "
                    f"--webhook-url / set BRIEFS_ALERT_WEBHOOK_URL, then run this again")
        action["block_document_id"] = str(block_id)
    return None


def apply(path: Path, webhook_url: str | None) -> int:
    from prefect.client.orchestration import get_client
    from prefect.events.schemas.automations import AutomationCore
    from prefect.settings import get_current_settings

    api = get_current_settings().api.url
    if not api:
        print("PREFECT_API_URL is not set: automations need a Prefect server (make serve).", file=sys.stderr)
        return 2
    print(f"Automations from {path} on {api}")
    problems = 0
    with get_client(sync_client=True) as client:
        for raw in load(path):
            data = copy.deepcopy(raw)
            skipped = resolve_blocks(client, data, webhook_url)
            if skipped:
                print(f"  {data['name']}: skipped ({skipped})")
                continue
            try:
                automation = AutomationCore.model_validate(data)
                existing = client.read_automations_by_name(automation.name)
                if existing:
                    client.update_automation(existing[0].id, automation)
                    for extra in existing[1:]:  # left by an earlier `prefect automation create`
                        client.delete_automation(extra.id)
                    print(f"  {automation.name}: updated")
                else:
                    client.create_automation(automation)
                    print(f"  {automation.name}: created")
            except Exception as exc:  # noqa: BLE001 - report every automation, fail at the end
                problems += 1
                print(f"  {raw.get('name', '?')}: FAILED: {type(exc).__name__}: {exc}", file=sys.stderr)
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--file", type=Path, default=HERE / "automations.yaml")
    parser.add_argument("--webhook-url", default=os.environ.get("BRIEFS_ALERT_WEBHOOK_URL") or None,
                        help="Send failure alerts to this URL (JSON POST); default $BRIEFS_ALERT_WEBHOOK_URL")
    args = parser.parse_args(argv)
    return apply(args.file, args.webhook_url)


if __name__ == "__main__":
    sys.exit(main())
