"""Create or update the automations in deployments/automations.yaml on the Prefect API in
PREFECT_API_URL. Idempotent: an automation with the same name is updated, not duplicated.

A send-notification action names its notification block with ``block_document_name``:
- with a webhook URL (``--webhook-url`` or ``BRIEFS_ALERT_WEBHOOK_URL``), a Custom Webhook block
  posting ``{"subject": ..., "body": ...}`` as JSON is saved (or updated) under that name, the URL
  kept in the block's secrets (it often holds a token: it is only ever shown masked);
- else a block of that name made in the UI (Slack, email, Teams, PagerDuty...) is used;
- else the action is loaded as do-nothing, so the automation still fires and shows in the UI,
  and a WARNING says that alerts go nowhere and how to fix it.

    .venv/bin/python deployments/apply_automations.py [--file deployments/automations.yaml] [--webhook-url URL]
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

HERE = Path(__file__).resolve().parent
# serve.sh repeats this line at the end of its output: keep the prefix.
NOWHERE = "WARNING: failed-run alerts go nowhere"


def load(path: Path) -> list[dict[str, Any]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if isinstance(data, dict) and "automations" in data:
        return list(data["automations"])
    return list(data) if isinstance(data, list) else [data]


def mask_url(url: str) -> str:
    """``scheme://host:port/***``: a webhook's path and query often are its secret (Slack, Teams)."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}/***"


def check_webhook_url(url: str) -> str | None:
    """Why ``url`` cannot be a webhook, or None (the reason never repeats the URL)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError as exc:
        return f"it does not parse ({exc.__class__.__name__})"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "it is not an http:// or https:// URL"
    return None


@dataclass(frozen=True)
class Route:
    """Where an automation's notifications go; ``block_id`` None means nowhere."""

    block_name: str
    block_id: Any | None
    described: str


def find_block(client: Any, name: str) -> tuple[Any, str] | None:
    """(id, block type) of the block document called ``name`` (any notification type), or None."""
    for block in client.read_block_documents(include_secrets=False):
        if block.name == name and not block.is_anonymous:
            kind = block.block_type.name if block.block_type else (block.block_type_name or "block")
            return block.id, kind
    return None


def save_webhook_block(name: str, url: str) -> Any:
    from prefect.blocks.notifications import CustomWebhookNotificationBlock

    block = CustomWebhookNotificationBlock(
        name=f"Civic Briefs alerts to {mask_url(url)}", url="{{webhook_url}}", method="POST",
        json_data={"subject": "{{subject}}", "body": "{{body}}"}, secrets={"webhook_url": url})
    return block.save(name, overwrite=True)


def route_for(client: Any, name: str, webhook_url: str | None) -> Route:
    if webhook_url:
        return Route(name, save_webhook_block(name, webhook_url),
                     f"notification block {name!r} (Custom Webhook, JSON POST to {mask_url(webhook_url)}, "
                     "from BRIEFS_ALERT_WEBHOOK_URL)")
    found = find_block(client, name)
    if found:
        return Route(name, found[0], f"notification block {name!r} ({found[1]})")
    return Route(name, None, "")


def resolve_blocks(client: Any, automation: dict[str, Any], webhook_url: str | None) -> list[Route]:
    """Replace ``block_document_name`` by ``block_document_id`` in place; a notification with no
    block becomes do-nothing, so the automation still exists and fires where the UI shows it."""
    routes = []
    for i, action in enumerate(automation.get("actions", [])):
        name = action.pop("block_document_name", None)
        if not name:
            continue
        route = route_for(client, name, webhook_url)
        routes.append(route)
        if route.block_id is None:
            automation["actions"][i] = {"type": "do-nothing"}
        else:
            action["block_document_id"] = str(route.block_id)
    return routes


def nowhere_warning(names: set[str]) -> str:
    blocks = " or ".join(sorted(repr(n) for n in names))
    return (f"{NOWHERE}: set BRIEFS_ALERT_WEBHOOK_URL=https://... (a Slack, Teams or any JSON webhook) "
            f"and run make serve again, or create a notification block named {blocks} in the UI "
            "(Blocks, +) and run make serve again. Until then failed and crashed runs show only in the "
            "UI: Runs (state Failed, Crashed) and the Event Feed.")


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
    routes: list[Route] = []
    with get_client(sync_client=True) as client:
        for raw in load(path):
            data = copy.deepcopy(raw)
            try:
                routes += resolve_blocks(client, data, webhook_url)
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
    for described in sorted({r.described for r in routes if r.block_id is not None}):
        print(f"Alerts: failed and crashed runs are sent through {described}")
    if any(r.block_id is None for r in routes):
        print(nowhere_warning({r.block_name for r in routes if r.block_id is None}))
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--file", type=Path, default=HERE / "automations.yaml")
    parser.add_argument("--webhook-url", default=os.environ.get("BRIEFS_ALERT_WEBHOOK_URL") or None,
                        help="Send failure alerts to this URL (JSON POST); default $BRIEFS_ALERT_WEBHOOK_URL")
    args = parser.parse_args(argv)
    if args.webhook_url and (bad := check_webhook_url(args.webhook_url)):
        print(f"BRIEFS_ALERT_WEBHOOK_URL / --webhook-url is not usable: {bad}", file=sys.stderr)
        return 2
    return apply(args.file, args.webhook_url)


if __name__ == "__main__":
    sys.exit(main())
