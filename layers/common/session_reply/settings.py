"""Configuration, read once per container from the environment.

Secrets are never env values: the env holds SSM parameter *names*, and the values come
through the Powertools parameters cache (see `secrets.py`).
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, Field, field_validator

DEFAULT_REPLY_TEMPLATE = (
    "Hello, {{1}}! We received your request about «{{2}}». "
    "{{3}} is reviewing it and will reply shortly."
)


class Settings(BaseModel):
    table_name: str = ""
    send_queue_url: str = ""
    event_bus_name: str = ""
    idempotency_table_name: str = ""
    onemsg_api_url: str = "https://api.1msg.io"
    onemsg_channel_id: str = ""
    onemsg_token_param: str = ""
    onemsg_auth: Literal["bearer", "query"] = "bearer"
    onemsg_timeout_seconds: float = 10.0
    webhook_secret_param: str = ""
    reply_template: str = DEFAULT_REPLY_TEMPLATE
    managers: list[str] = Field(default_factory=lambda: ["Our manager"])
    fallback_client_name: str = "there"
    # Named in the reply when no manager is available; the lead waits as `unassigned`.
    fallback_manager_name: str = "Our team"
    managers_cache_seconds: int = 30
    # The auto-reply waits this long after the request's first message, so a burst
    # ("hi" / "I want to ask" / "about delivery") is answered once with its real topic.
    burst_seconds: float = 3.0
    escalate_after_seconds: int = 900
    reassign_on_escalation: bool = False
    # An approved WhatsApp template sent instead of the auto-reply when the window has
    # closed (params: client name, topic, manager). Empty: no fallback, the lead is marked
    # window_closed for a human to follow up.
    template_name: str = ""
    template_namespace: str = ""
    template_language: str = "en"
    session_gap_seconds: int = 86_400
    window_seconds: int = 86_400
    # The sender refuses free text this close to the window's end: the message must reach
    # 1MSG and WhatsApp before the window shuts.
    window_margin_seconds: int = 120
    # An auto-reply older than this (queue outage, redrive) is skipped instead of sent late.
    max_auto_reply_age_seconds: int = 900
    # How long a send attempt owns its ledger item; after a timeout this is also the grace
    # period in which the echo or a status can reconcile the outcome before any resend.
    send_lease_seconds: int = 60
    max_backoff_seconds: int = 300
    # The poller asks hookInfo about a sent message with no delivery status after this long,
    # and gives up (status `unknown`) after the deadline.
    poll_after_seconds: int = 120
    status_deadline_seconds: int = 86_400
    poll_batch_size: int = 20
    raw_hook_ttl_days: int = 14
    status_event_ttl_days: int = 180
    max_webhook_bytes: int = 262_144

    @field_validator("managers", mode="before")
    @classmethod
    def _split_managers(cls, value: object) -> object:
        if isinstance(value, str):
            names = [name.strip() for name in value.split(",")]
            return [name for name in names if name] or ["Our manager"]
        return value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this container; tests call `get_settings.cache_clear()`."""
    fields = Settings.model_fields
    values = {name: os.environ[name.upper()] for name in fields if name.upper() in os.environ}
    return Settings.model_validate(values)
