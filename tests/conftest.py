"""Shared fixtures: the template's resources in moto (in process), the real handlers, and
1MSG mocked with respx. Nothing here reaches the network or real AWS."""

from __future__ import annotations

import importlib.util
import json
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
import respx
from moto import mock_aws

from devstack.aws import LocalAws, Secrets
from devstack.template import ResolveContext, Template, resolve

# What the template's Globals give every function, set before any handler module imports
# Powertools (Logger and Metrics read them once, at import).
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "session-reply")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "SessionReply")

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "events"
ONEMSG_URL = "https://onemsg.test"
CHANNEL = "100001"
TOKEN = "test-token"
SECRET = "local-webhook-secret"
CHAT = "77011234567@c.us"


class InProcessAws(LocalAws):
    """The local stack's resource builder, pointed at moto's in-process mock."""

    def client(self, service: str) -> Any:
        return boto3.client(service, region_name=self.ctx.region)  # type: ignore[call-overload]


@contextmanager
def state_table_in_moto(template: Template | None = None) -> Iterator[str]:
    """The template's tables, created in a fresh in-process moto; the state table's name."""
    with mock_aws():
        template = template or Template.load(ROOT)
        ctx = ResolveContext.for_template(template, {"OneMsgChannelId": CHANNEL})
        InProcessAws(template, ctx, Secrets(TOKEN, SECRET))._create_tables()
        yield ctx.physical_name("StateTable")


@dataclass
class LambdaContext:
    function_name: str = "test-function"
    function_version: str = "$LATEST"
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:test-function"
    memory_limit_in_mb: int = 256
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "/aws/lambda/test-function"
    log_stream_name: str = "local"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000  # the SenderFunction timeout: a whole batch fits


def load_handler(folder: str) -> ModuleType:
    """Import functions/<folder>/app.py under its own name (every handler is `app`)."""
    spec = importlib.util.spec_from_file_location(
        f"{folder}_app", ROOT / "functions" / folder / "app.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_event(relative: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / relative).read_text(encoding="utf-8"))
    return event


def hook_event(relative: str, **message_overrides: Any) -> dict[str, Any]:
    """A webhook event from events/, its message times moved to now (the window is live)."""
    event = load_event(relative)
    body = json.loads(event["body"])
    now = int(time.time())
    for offset, message in enumerate(body.get("messages", [])):
        if "time" in message:
            message["time"] = now - 5 + offset
        message.update(message_overrides)
    event["body"] = json.dumps(body, ensure_ascii=False)
    return event


def with_body(event: dict[str, Any], body: Any) -> dict[str, Any]:
    return {
        **event,
        "body": body if isinstance(body, str) else json.dumps(body, ensure_ascii=False),
    }


def reset_caches() -> None:
    from aws_lambda_powertools.utilities import parameters
    from session_reply import bus, queue, secrets, store
    from session_reply.flows import context
    from session_reply.onemsg import client
    from session_reply.settings import get_settings

    get_settings.cache_clear()
    context._default_context.cache_clear()
    client.get_client.cache_clear()
    store._dynamodb_client.cache_clear()
    queue._sqs_client.cache_clear()
    bus._events_client.cache_clear()
    parameters.clear_caches()
    secrets.ssm_provider.cache_clear()
    from session_reply.domain.phone import phone_problem
    from session_reply.flows import business
    from session_reply.flows.assign_manager import forget_roster

    forget_roster()
    business.forget()
    phone_problem.cache_clear()


class Stack:
    """The template's resources plus helpers to drive the real handlers."""

    def __init__(self, aws: InProcessAws, router: respx.Router) -> None:
        self.aws = aws
        self.onemsg = router
        self.webhook = load_handler("webhook")
        self.sender = load_handler("sender")
        self.manager_api = load_handler("manager_api")
        self.sqs = boto3.client("sqs", region_name=aws.ctx.region)
        self.ddb = boto3.client("dynamodb", region_name=aws.ctx.region)
        self.queue_url = aws.queue_urls["SendQueue"]
        self.dlq_url = aws.queue_urls["SendDeadLetterQueue"]

    def post_hook(self, event: dict[str, Any]) -> dict[str, Any]:
        response: dict[str, Any] = self.webhook.lambda_handler(event, LambdaContext())
        return response

    def call_api(self, event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        response = self.manager_api.lambda_handler(event, LambdaContext())
        return response["statusCode"], json.loads(response.get("body") or "{}")

    def receive(self, wait: int = 0) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=10,
            AttributeNames=["All"],
            WaitTimeSeconds=wait,
        ).get("Messages", [])
        return messages

    def run_sender(self, messages: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """Deliver queued records to the sender as Lambda's SQS trigger does, deleting the
        ones it did not report as failed."""
        messages = self.receive() if messages is None else messages
        if not messages:
            return {"batchItemFailures": []}  # Lambda never invokes with an empty batch
        records = [sqs_record(m, self.aws.ctx.region) for m in messages]
        result: dict[str, Any] = self.sender.lambda_handler({"Records": records}, LambdaContext())
        failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
        for message in messages:
            if message["MessageId"] not in failed:
                self.sqs.delete_message(
                    QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"]
                )
        return result

    def drain(self, rounds: int = 5) -> None:
        for _ in range(rounds):
            messages = self.receive()
            if not messages:
                return
            self.run_sender(messages)

    def lead(self, chat_id: str = CHAT) -> dict[str, Any]:
        from session_reply.flows.read_lead import read_lead

        return read_lead(chat_id)

    def sends(self) -> list[dict[str, Any]]:
        return [
            json.loads(call.request.content)
            for call in self.onemsg.calls
            if call.request.url.path.endswith("/sendMessage")
        ]

    def crm_events(self) -> list[dict[str, Any]]:
        return self.aws.crm_events()


def sqs_record(message: dict[str, Any], region: str) -> dict[str, Any]:
    attributes = message.get("Attributes", {})
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": attributes,
        "messageAttributes": {},
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:{region}:123456789012:SendQueue.fifo",
        "awsRegion": region,
    }


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "POWERTOOLS_DEV": "false",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    yield


@pytest.fixture
def stack(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    """Fresh moto resources from template.yaml, env vars as the template sets them, and
    1MSG at ONEMSG_URL answering sendMessage with a fixed id unless a test says otherwise."""
    with mock_aws():
        template = Template.load(ROOT)
        ctx = ResolveContext.for_template(
            template, {"OneMsgApiUrl": ONEMSG_URL, "OneMsgChannelId": CHANNEL}
        )
        aws = InProcessAws(template, ctx, Secrets(TOKEN, SECRET))
        aws._create_tables()
        aws._create_queues()
        aws._create_buses()
        aws._put_secrets()
        env: dict[str, str] = {}
        for fn in template.functions():
            env.update({k: str(v) for k, v in resolve(fn.environment, ctx).items()})
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        # No burst wait unless a test asks for it: the sender answers on its first run.
        monkeypatch.setenv("BURST_SECONDS", "0")
        reset_caches()
        with respx.mock(base_url=f"{ONEMSG_URL}/{CHANNEL}", assert_all_called=False) as router:
            router.post("/sendMessage", name="send").respond(
                200,
                json={"sent": True, "id": REPLY_ID, "message": "Sent to 77011234567@c.us"},
            )
            yield Stack(aws, router)
        reset_caches()
    os.environ.pop("AWS_ENDPOINT_URL", None)


REPLY_ID = "wamid.HBgLNzcwMTEyMzQ1NjcVAgARGBJSRVBMWTAwMDAwMDAwMDAwMQA"
INBOUND_ID = "wamid.HBgLNzcwMTEyMzQ1NjcVAgASGBQzQUIxQ0QyRUYzMDQ1NjcA"
