"""CRM events on EventBridge (source `session-reply`).

detail-types: `InboundMessageReceived`, `LeadStatusChanged`, `MessageStatusChanged`,
`MessageSent`, `SendFailed`. Details carry ids, statuses and timestamps, never message
text or phone numbers beyond the chat id the CRM keys leads on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from session_reply.errors import StoreUnavailableError

SOURCE = "session-reply"


@dataclass(slots=True)
class Event:
    detail_type: str
    detail: dict[str, Any] = field(default_factory=dict)


@lru_cache(maxsize=1)
def _events_client() -> Any:
    config = Config(
        connect_timeout=2, read_timeout=5, retries={"mode": "standard", "max_attempts": 3}
    )
    return boto3.client("events", config=config)


class EventBus:
    def __init__(self, bus_name: str, client: Any = None) -> None:
        self.name = bus_name
        self.client = client

    def publish_best_effort(self, events: list[Event]) -> None:
        """CRM events after the state is stored: a failure is counted, never raised (the
        state stays right and readable through the lead API)."""
        from session_reply.observability import count, logger

        try:
            self.publish(events)
        except StoreUnavailableError:
            count("EventPublishFailed")
            logger.warning("CRM events not published", extra={"events": len(events)})

    def publish(self, events: list[Event]) -> None:
        """One PutEvents call for up to 10 events; nothing to do without a bus."""
        if not events or not self.name:
            return
        client = self.client or _events_client()
        entries = [
            {
                "Source": SOURCE,
                "DetailType": event.detail_type,
                "Detail": json.dumps(event.detail, separators=(",", ":"), default=str),
                "EventBusName": self.name,
            }
            for event in events
        ]
        try:
            for start in range(0, len(entries), 10):
                response = client.put_events(Entries=entries[start : start + 10])
                if response.get("FailedEntryCount"):
                    raise StoreUnavailableError("EventBridge rejected some events")
        except (ClientError, BotoCoreError) as exc:
            raise StoreUnavailableError(
                f"EventBridge PutEvents failed: {type(exc).__name__}"
            ) from exc
