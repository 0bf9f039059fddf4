"""The send queue (SQS FIFO): commands for the sender, grouped per chat."""

from __future__ import annotations

import contextlib
import hashlib
import json
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from session_reply.errors import PermanentError, StoreUnavailableError

AUTO_REPLY = "auto_reply"
MANAGER_MESSAGE = "manager_message"
WELCOME = "welcome"  # the business's welcome text, for a client opening the chat
KINDS = (AUTO_REPLY, MANAGER_MESSAGE, WELCOME)


class MalformedCommandError(PermanentError):
    """A queue record whose body is not a SendCommand: no retry makes it one."""


@dataclass(frozen=True, slots=True)
class SendCommand:
    """Send one message to one chat. `key` is the business idempotency key: the inbound
    message id for an auto-reply (or for a welcome, the chat opening's event id), the
    caller's idempotency key for a manager message."""

    kind: str
    key: str
    chat_id: str
    session_id: str
    requested_at: float
    body: str | None = None  # manager messages carry their text; auto-replies render it

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, raw: str) -> SendCommand:
        """The command in a queue record; MalformedCommandError says why it is not one (the
        reason names fields, never their values)."""
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            raise MalformedCommandError("body is not JSON") from exc
        if not isinstance(data, dict):
            raise MalformedCommandError("body is not a JSON object")
        if data.get("kind") not in KINDS:
            raise MalformedCommandError(f"kind is not one of {', '.join(KINDS)}")
        for name in ("key", "chat_id", "session_id"):
            if not isinstance(data.get(name), str) or not data[name]:
                raise MalformedCommandError(f"{name} is not a non-empty string")
        requested_at = data.get("requested_at")
        if isinstance(requested_at, bool) or not isinstance(requested_at, int | float):
            raise MalformedCommandError("requested_at is not a number")
        body = data.get("body")
        if data["kind"] == MANAGER_MESSAGE and (not isinstance(body, str) or not body.strip()):
            raise MalformedCommandError("a manager_message has no body")
        if body is not None and not isinstance(body, str):
            raise MalformedCommandError("body is not a string")
        fields: dict[str, Any] = {name: data.get(name) for name in cls.__dataclass_fields__}
        return cls(**fields)


_KEY_PREFIX = {AUTO_REPLY: "auto", WELCOME: "welcome"}  # a manager message's: api


def send_key(command: SendCommand) -> str:
    """The send ledger's key of a command (the OUT item's `id`)."""
    return f"{_KEY_PREFIX.get(command.kind, 'api')}:{command.key}"


def dedup_id(key: str) -> str:
    """SQS allows 128 chars of [A-Za-z0-9 punctuation]; the key may hold anything."""
    return hashlib.sha256(key.encode()).hexdigest()


@lru_cache(maxsize=1)
def _sqs_client() -> Any:
    config = Config(
        connect_timeout=2, read_timeout=5, retries={"mode": "standard", "max_attempts": 3}
    )
    return boto3.client("sqs", config=config)


class SendQueue:
    def __init__(self, queue_url: str, client: Any = None) -> None:
        self.url = queue_url
        self._client = client

    @property
    def client(self) -> Any:
        """Built on first use: an ack, an echo or a poll never touches the queue, so a cold
        start that serves one does not load SQS's service model."""
        if self._client is None:
            self._client = _sqs_client()
        return self._client

    def enqueue(self, command: SendCommand) -> None:
        try:
            self.client.send_message(
                QueueUrl=self.url,
                MessageBody=command.to_json(),
                MessageGroupId=command.chat_id,  # one chat's messages go out in order
                MessageDeduplicationId=dedup_id(f"{command.kind}:{command.key}"),
            )
        except (ClientError, BotoCoreError) as exc:
            raise StoreUnavailableError(f"SQS SendMessage failed: {type(exc).__name__}") from exc

    def dead_letter(self, dead_letter_url: str, body: str, group_id: str, dedupe_id: str) -> None:
        """Move a record to the dead-letter queue (the caller then deletes it here)."""
        try:
            self.client.send_message(
                QueueUrl=dead_letter_url,
                MessageBody=body,
                MessageGroupId=group_id,
                MessageDeduplicationId=dedupe_id,
            )
        except (ClientError, BotoCoreError) as exc:
            raise StoreUnavailableError(f"SQS SendMessage failed: {type(exc).__name__}") from exc

    def delay(self, receipt_handle: str, seconds: int) -> None:
        """Back off: the record comes back after `seconds` instead of the queue default."""
        # On failure the queue's own visibility timeout still brings the record back.
        with contextlib.suppress(ClientError, BotoCoreError):
            self.client.change_message_visibility(
                QueueUrl=self.url, ReceiptHandle=receipt_handle, VisibilityTimeout=seconds
            )
